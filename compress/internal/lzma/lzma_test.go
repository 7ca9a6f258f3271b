package lzma

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
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
	mix := append(append(append(random(200<<10), text(300<<10)...), random(100<<10)...), make([]byte, 100<<10)...)
	return []input{
		{"empty", nil},
		{"one", []byte{'x'}},
		{"two", []byte("ab")},
		{"tiny", []byte("hello, hello, hello world")},
		{"zeros", make([]byte, 1<<20)},
		{"random", random(300 << 10)},
		{"text", text(1 << 20)},
		{"source", src},
		{"binary", binary(700 << 10)},
		{"mix", mix},
		{"zeros2M", make([]byte, 2<<20+12345)},
		{"text3M", text(3<<20 + 777)},
	}
}

func TestRawMatchesXZ(t *testing.T) {
	xz := oracle.Require(t, "xz")
	ins := inputs(t)
	for preset := 0; preset <= 9; preset++ {
		e, err := NewEncoder(preset)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range ins {
			if testing.Short() && len(in.data) > 1<<20 {
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
					t.Fatalf("%d bytes, xz %d bytes; first difference at %d, in chunk %d: %v, xz %v",
						len(got), len(want), i, j, g[j:min(j+2, len(g))], w[j:min(j+2, len(w))])
				}
			})
		}
	}
}
