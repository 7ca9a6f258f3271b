package lzma

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
	ulzma "github.com/ulikunitz/xz/lzma"
)

// xzRaw is the oracle: xz's raw LZMA2 encoding of data at preset.
func xzRaw(t *testing.T, xz string, data []byte, preset int) []byte {
	t.Helper()
	cmd := exec.Command(xz, "--format=raw", fmt.Sprintf("--lzma2=preset=%d", preset), "-c")
	cmd.Stdin = bytes.NewReader(data)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("xz: %v: %s", err, errb.String())
	}
	return out.Bytes()
}

type input struct {
	name string
	data []byte
}

func inputs(t *testing.T) []input {
	r := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	// text: words from a small vocabulary, compressible like prose.
	words := strings.Fields("the of and to in is that for it as with was on be by at this are from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people")
	text := func(n int) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[r.IntN(len(words))])
			if r.IntN(12) == 0 {
				b.WriteString(".\n")
			} else {
				b.WriteByte(' ')
			}
		}
		return b.Bytes()[:n]
	}
	var src []byte
	files, _ := filepath.Glob("../../*.go")
	more, _ := filepath.Glob("../../../*/*.go")
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	// binary: structured records with small random fields, like tables.
	binary := func(n int) []byte {
		b := make([]byte, 0, n)
		for len(b) < n {
			rec := []byte{0x7f, 'E', 'L', 'F', byte(r.IntN(4)), 0, 0, 0, byte(r.IntN(256)), byte(r.IntN(16)), 0, 0}
			b = append(b, rec...)
			if r.IntN(3) == 0 {
				b = append(b, random(r.IntN(40))...)
			}
		}
		return b[:n]
	}
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe = exe[:min(len(exe), 512<<10)]
	mix := append(append(append(random(200<<10), text(300<<10)...), random(100<<10)...), make([]byte, 100<<10)...)
	return []input{
		{"empty", nil},
		{"one", []byte{'x'}},
		{"two", []byte("ab")},
		{"tiny", []byte("hello, hello, hello world")},
		{"zeros", make([]byte, 1<<20)},
		{"random", random(300 << 10)},
		{"text", text(600 << 10)},
		{"source", src},
		{"binary", binary(400 << 10)},
		{"mix", mix},
		{"exe", exe},
		// Over 2 MiB of zeros fills a chunk's uncompressed limit.
		{"zeros2M", make([]byte, 2<<20+12345)},
		{"text3M", text(3<<20 + 777)},
	}
}

// slow inputs are compared at a few presets only, to keep the test short.
var slow = map[string]bool{"text3M": true, "zeros2M": true}

// Presets 7-9 differ from 6 only in their dictionary, so a few inputs do.
var bigDict = map[string]bool{"tiny": true, "source": true, "mix": true, "exe": true}

func TestRawMatchesXZ(t *testing.T) {
	xz := oracle.Require(t, "xz")
	ins := inputs(t)
	for preset := 0; preset <= 9; preset++ {
		e, err := NewEncoder(preset)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range ins {
			if slow[in.name] && preset != 0 && preset != 3 ||
				preset > 6 && !bigDict[in.name] {
				continue
			}
			t.Run(fmt.Sprintf("%d/%s", preset, in.name), func(t *testing.T) {
				got := e.Encode(nil, in.data)
				want := xzRaw(t, xz, in.data, preset)
				if !bytes.Equal(got, want) {
					i := 0
					for i < len(got) && i < len(want) && got[i] == want[i] {
						i++
					}
					g, w := chunks(got), chunks(want)
					j := 0
					for j < len(g) && j < len(w) && g[j] == w[j] {
						j++
					}
					gs, ws := symbols(got), symbols(want)
					k := 0
					for k < len(gs) && k < len(ws) && gs[k] == ws[k] {
						k++
					}
					t.Fatalf("%d bytes, xz %d bytes; first difference at %d, in chunk %d: %v, xz %v; symbol %d: %v, xz %v",
						len(got), len(want), i, j, g[j:min(j+2, len(g))], w[j:min(j+2, len(w))],
						k, gs[k:min(k+2, len(gs))], ws[k:min(k+2, len(ws))])
				}
			})
		}
	}
}

// chunks lists the chunks of raw LZMA2, to show where outputs part.
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

// TestRoundTrip decodes the encoder's output with an independent pure-Go
// LZMA2 reader, reusing one encoder across inputs and presets' sizes.
func TestRoundTrip(t *testing.T) {
	ins := inputs(t)
	for _, preset := range []int{0, 3, 6} {
		e, err := NewEncoder(preset)
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for _, in := range ins {
			if slow[in.name] {
				continue
			}
			out = e.Encode(out[:0], in.data)
			r, err := ulzma.Reader2Config{DictCap: e.DictSize()}.NewReader2(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("preset %d, %s: decoding: %v", preset, in.name, err)
			}
			if !bytes.Equal(got, in.data) {
				t.Fatalf("preset %d, %s: decoded %d bytes differ from the %d encoded", preset, in.name, len(got), len(in.data))
			}
		}
	}
}

func TestDictByte(t *testing.T) {
	for _, c := range []struct {
		size int
		want byte
	}{{0, 0}, {4096, 0}, {4097, 1}, {256 << 10, 12}, {1 << 20, 16}, {3 << 20, 19}, {4 << 20, 20}, {64 << 20, 28}, {1<<32 - 1, 40}} {
		if got := DictByte(c.size); got != c.want {
			t.Errorf("DictByte(%d) = %d, want %d", c.size, got, c.want)
		}
	}
}
