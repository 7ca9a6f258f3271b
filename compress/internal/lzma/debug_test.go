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

func TestDebugSymbols(t *testing.T) {
	f := os.Getenv("DBG_IN")
	if f == "" {
		t.Skip()
	}
	p, _ := strconv.Atoi(os.Getenv("DBG_PRESET"))
	data, _ := os.ReadFile(f)
	e, _ := NewEncoder(p)
	got := symbols(e.Encode(nil, data), 1<<30)
	want := symbols(xzRaw(t, "xz", data, p), 1<<30)
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			for j := max(0, i-5); j < min(i+5, len(got), len(want)); j++ {
				t.Logf("%-30s %-30s", got[j], want[j])
			}
			return
		}
	}
	t.Logf("same %d symbols", len(got))
}

func TestDebugMF(t *testing.T) {
	f := os.Getenv("DBG_IN")
	if f == "" {
		t.Skip()
	}
	at, _ := strconv.Atoi(os.Getenv("DBG_AT"))
	data, _ := os.ReadFile(f)
	w := append(append([]byte{}, data...), make([]byte, 8)...)
	var mf matchFinder
	mf.init(w, 8<<20, mfBT4, 64, 0)
	mf.skip(uint32(at))
	var m [274]match
	l, n := mf.find(&m)
	t.Logf("len %d: %v", l, m[:n])
}
