package repart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/klauspost/compress/zstd"

	"github.com/hermetic-repart/hermetic-repart/compress"
	"github.com/hermetic-repart/hermetic-repart/seedrand"
)

func TestReclaimer(t *testing.T) {
	type move struct {
		reader int
		pos    int64
	}
	const M = 1 << 20
	tests := []struct {
		name   string
		starts []int64
		moves  []move
		fail   bool
		want   [][2]int64 // discarded ranges
	}{
		{"one reader, in steps", []int64{0}, []move{{0, 10 * M}, {0, 16 * M}, {0, 20 * M}, {0, 40 * M}},
			false, [][2]int64{{0, 16 * M}, {16 * M, 24 * M}}},
		{"the slower reader holds back", []int64{0, 8 * M}, []move{{0, 64 * M}, {1, 20 * M}, {1, 30 * M}, {1, 40 * M}},
			false, [][2]int64{{0, 20 * M}, {20 * M, 20 * M}}},
		{"a finished reader stops holding back", []int64{0, 8 * M}, []move{{1, math.MaxInt64}, {0, 32 * M}, {0, math.MaxInt64}},
			false, [][2]int64{{0, 32 * M}}},
		{"positions never go back", []int64{0}, []move{{0, 32 * M}, {0, 16 * M}, {0, 40 * M}},
			false, [][2]int64{{0, 32 * M}}},
		{"a failure stops it", []int64{0}, []move{{0, 32 * M}, {0, 64 * M}},
			true, [][2]int64{{0, 32 * M}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][2]int64
			r := newReclaimer(func(off, n int64) error {
				got = append(got, [2]int64{off, n})
				if tt.fail {
					return errors.New("no holes here")
				}
				return nil
			})
			for _, s := range tt.starts {
				r.reader(s)
			}
			for _, m := range tt.moves {
				r.advance(m.reader, m.pos)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("discarded %v, want %v", got, tt.want)
			}
		})
	}
}

// A raw image that is only wanted compressed is discarded behind the
// compressors, and never before both have read it: the compressed image
// and split file decompress to what a build that keeps them writes.
func TestCompressDiscardsBehindReaders(t *testing.T) {
	dir := t.TempDir()
	defs := filepath.Join(dir, "defs")
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(defs, 0o755)
	os.MkdirAll(tree, 0o755)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 12 {
		// Half random, half text: compressible, but not to nothing.
		b := make([]byte, 4<<20)
		for j := range b[:len(b)/2] {
			b[j] = byte(rng.Uint32())
		}
		for j := len(b) / 2; j < len(b); j++ {
			b[j] = "hermetic"[j%8]
		}
		if err := os.WriteFile(filepath.Join(tree, fmt.Sprintf("f%02d", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(defs, "10-esp.conf"), []byte("[Partition]\nType=esp\nFormat=vfat\nSizeMinBytes=40M\nSplitName=esp\n"), 0o644)
	os.WriteFile(filepath.Join(defs, "20-root.conf"), []byte("[Partition]\nType=root\nFormat=ext4\nCopyFiles="+tree+":/\nSizeMinBytes=80M\nSplitName=root\n"), 0o644)
	seed := seedrand.Seed(uuid.MustParse("e2a40bf9-73f1-4278-9160-49c031e7aef8"))
	build := func(name string, keep bool, discarded func(off, n int64)) *Result {
		t.Helper()
		p, err := NewPlan(context.Background(), Options{
			Definitions: []string{defs},
			Image:       filepath.Join(dir, name),
			Empty:       EmptyCreate,
			SizeAuto:    true,
			Seed:        &seed,
			Split:       true,
			Compress:    &compress.Options{Format: compress.ZstdSeekable},
			KeepRaw:     keep,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.b.discarded = discarded
		if err := p.Write(context.Background()); err != nil {
			t.Fatal(err)
		}
		return p.Result
	}

	build("kept.raw", true, func(off, n int64) { t.Errorf("discarded %d+%d of a kept image", off, n) })
	var got [][2]int64
	res := build("img.raw", false, func(off, n int64) { got = append(got, [2]int64{off, n}) })

	// Contiguous from the start, and most of the image.
	next := int64(0)
	for _, r := range got {
		if r[0] != next || r[1] <= 0 {
			t.Fatalf("discarded %v: not contiguous from 0", got)
		}
		next += r[1]
	}
	if next < int64(res.Size)/2 || next > int64(res.Size) {
		t.Errorf("discarded %d of %d bytes (%v)", next, res.Size, got)
	}
	if _, err := os.Stat(filepath.Join(dir, "img.raw")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("raw image left behind: %v", err)
	}

	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	for _, name := range []string{"", ".esp", ".root"} {
		want, err := os.ReadFile(filepath.Join(dir, "kept"+name+".raw"))
		if err != nil {
			t.Fatal(err)
		}
		z, err := os.ReadFile(filepath.Join(dir, "img"+name+".raw.zst"))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := dec.DecodeAll(z, nil)
		if err != nil {
			t.Fatalf("img%s.raw.zst: %v", name, err)
		}
		if !bytes.Equal(raw, want) {
			t.Errorf("img%s.raw.zst does not decompress to kept%s.raw", name, name)
		}
	}
}
