package lzma

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

func chunks(b []byte) (s []string) {
	for i := 0; i < len(b); {
		c := b[i]
		if c == 0 {
			return append(s, "end")
		}
		if c < 0x80 {
			n := int(b[i+1])<<8 | int(b[i+2]) + 1
			s = append(s, fmt.Sprintf("U%02x u=%d", c, n))
			i += 3 + n
			continue
		}
		u := (int(c&0x1f)<<16 | int(b[i+1])<<8 | int(b[i+2])) + 1
		cs := (int(b[i+3])<<8 | int(b[i+4])) + 1
		s = append(s, fmt.Sprintf("L%02x u=%d c=%d", c&0xe0, u, cs))
		i += 5 + cs
		if c >= 0xc0 {
			i++
		}
	}
	return s
}

func TestDebugChunks(t *testing.T) {
	f := os.Getenv("DBG_IN")
	if f == "" {
		t.Skip()
	}
	p, _ := strconv.Atoi(os.Getenv("DBG_PRESET"))
	data, _ := os.ReadFile(f)
	e, _ := NewEncoder(p)
	got := e.Encode(nil, data)
	want := xzRaw(t, "xz", data, p)
	g, w := chunks(got), chunks(want)
	for i := range max(len(g), len(w)) {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		mark := ""
		if a != b {
			mark = " <<<"
		}
		t.Logf("%-28s %-28s%s", a, b, mark)
	}
}
