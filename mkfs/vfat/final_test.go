package vfat

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// spread is file data with runs at the given places: byte i is a
// function of i.
type spread []Run

func (s spread) Runs(int64) ([]Run, error) { return s, nil }

func (s spread) CopyTo(ctx context.Context, dst io.WriterAt, dstOff, off, n int64) error {
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		c := min(n, int64(len(buf)))
		for i := range c {
			buf[i] = byte((off+i)>>9) ^ byte(off+i) | 1
		}
		if _, err := dst.WriteAt(buf[:c], dstOff); err != nil {
			return err
		}
		off, dstOff, n = off+c, dstOff+c, n-c
	}
	return nil
}

// finalRecorder is an io.WriterAt that checks every write against the
// prefix reported final so far, and keeps a digest of each write instead
// of the bytes.
type finalRecorder struct {
	base   int64
	mu     sync.Mutex
	final  int64
	finals []int64
	in     atomic.Bool
	writes []write
	errs   []string
}

type write struct {
	off, n int64
	sum    [32]byte
}

func (r *finalRecorder) errorf(format string, args ...any) {
	if len(r.errs) < 10 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

func (r *finalRecorder) WriteAt(b []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	off -= r.base
	if off < r.final {
		r.errorf("write of %d bytes at %d below the final prefix %d", len(b), off, r.final)
	}
	r.writes = append(r.writes, write{off, int64(len(b)), sha256.Sum256(b)})
	return len(b), nil
}

func (r *finalRecorder) report(n int64) {
	overlap := !r.in.CompareAndSwap(false, true)
	runtime.Gosched() // give an overlapping call its chance
	r.mu.Lock()
	if overlap {
		r.errorf("final called concurrently")
	}
	if n <= r.final {
		r.errorf("final(%d) after final(%d)", n, r.final)
	}
	r.final = n
	r.finals = append(r.finals, n)
	r.mu.Unlock()
	r.in.Store(false)
}

func (r *finalRecorder) sortedWrites() []write {
	w := slices.Clone(r.writes)
	slices.SortFunc(w, func(a, b write) int { return int(a.off - b.off) })
	return w
}

// TestWriteFinal writes trees with WriteFinal and checks what it
// reports: no byte is written below a prefix reported final, the reports
// grow, never overlap, pass the metadata before the end, and end with
// the region's size; and the bytes are those Write writes.
func TestWriteFinal(t *testing.T) {
	const base = 1 << 20
	tt := randomTree(rand.New(rand.NewPCG(5, 5)), 600, 300_000)
	// A file copied in pieces: its first run takes two jobs.
	runs := []Run{{Offset: 0, Length: maxJob + 7}}
	for off := int64(maxJob + 1<<20); off < 150<<20; off += 20 << 20 {
		runs = append(runs, Run{Offset: off, Length: 50000})
	}
	for _, c := range []struct {
		size int64
		S    int
		typ  Type
	}{{400 << 20, 512, FAT32}, {MinFAT32Size(4096) - 1<<20, 4096, FAT16}, {4 << 20, 512, FAT12}} {
		t.Run(fmt.Sprint(c.typ, "-", c.S), func(t *testing.T) {
			root := tt.inodes()
			if c.typ != FAT12 {
				root.Entries = append(root.Entries, Entry{"big", &Inode{Kind: Regular, Size: 150 << 20, Data: spread(runs), Mtime: time.Unix(1e9, 0)}})
			} else {
				root = namesTree(true).inodes()
			}
			var want []write
			for _, workers := range []int{1, 4, 0} {
				opts := testOptions(c.size, c.S)
				opts.Workers = workers
				p, err := Layout(context.Background(), root, opts)
				if err != nil {
					t.Fatal(err)
				}
				if got := p.Stats().Type; got != c.typ {
					t.Fatalf("%v, want %v", got, c.typ)
				}
				r := &finalRecorder{base: base}
				if workers == 0 {
					err = p.Write(t.Context(), r, base)
				} else {
					err = p.WriteFinal(t.Context(), r, base, r.report)
				}
				if err != nil {
					t.Fatal(err)
				}
				if r.errs != nil {
					t.Fatalf("%d workers:\n%s", workers, strings.Join(r.errs, "\n"))
				}
				if workers == 0 {
					if !slices.Equal(r.sortedWrites(), want) {
						t.Error("Write and WriteFinal write different bytes")
					}
					continue
				}
				if r.final != p.Size() {
					t.Errorf("%d workers: last final(%d), want the size %d", workers, r.final, p.Size())
				}
				// Before the end, the final prefix passes the metadata
				// (up to the last copy's start).
				data := int64(-1)
				for _, ch := range p.fileClus {
					if ch.count > 0 {
						data = p.geo.clusterOffset(ch.first)
						break
					}
				}
				if n := len(r.finals); data < 0 || n < 3 || r.finals[n-2] < data {
					t.Errorf("%d workers: final prefixes %v, the file data start at %d", workers, r.finals, data)
				}
				if want == nil {
					want = r.sortedWrites()
				} else if !slices.Equal(r.sortedWrites(), want) {
					t.Errorf("%d workers: writes differ from 1 worker's", workers)
				}
			}
		})
	}
}
