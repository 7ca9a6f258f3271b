package ext4

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// spreadTree spans many groups: small files whose inodes fill the inode
// tables of several groups, a file copied in more than one job, and a
// sparse file with data every 300 MiB, across flex groups and backup
// superblocks.
func spreadTree() *Inode {
	const gib = 1 << 30
	r := randSource(11)
	root := richTree()
	for d := range 20 {
		dir := dirNode(0o755)
		for i := range 1000 {
			dir.Entries = append(dir.Entries, Entry{fmt.Sprintf("f%04d", i), fileNode(0o644, randBytes(r, r.IntN(1500)))})
		}
		root.Entries = append(root.Entries, Entry{fmt.Sprintf("many%02d", d), dir})
	}
	var runs []Run
	for off := int64(0); off < 10*gib; off += 300 << 20 {
		runs = append(runs, Run{Offset: off, Length: 200<<10 + 123})
	}
	root.Entries = append(root.Entries,
		Entry{"dense", &Inode{Kind: Regular, Perm: 0o644, Size: maxJob + 1<<20 + 5, Data: pattern{runs: []Run{{Offset: 0, Length: maxJob + 1<<20 + 5}}, seed: 9}}},
		Entry{"sparse", &Inode{Kind: Regular, Perm: 0o644, Size: 10 * gib, Data: pattern{runs: runs, seed: 5}}})
	return root
}

// finalRecorder is an io.WriterAt that checks every write against the
// prefix reported final so far, and keeps a digest of each write instead
// of the bytes.
type finalRecorder struct {
	base  int64 // offset of the region
	mu    sync.Mutex
	final int64 // reported so far (region offset)
	calls int
	in    atomic.Bool // inside final: calls must not overlap

	writes   []write
	errs     []string
	maxLag   int64 // the farthest a write landed above the final prefix
	lastEnd  int64 // end of the latest write (region offset)
	unsorted bool  // a write began below the end of the one before
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
	r.maxLag = max(r.maxLag, off-r.final)
	if off < r.lastEnd {
		r.unsorted = true
	}
	r.lastEnd = off + int64(len(b))
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
	r.calls++
	r.mu.Unlock()
	r.in.Store(false)
}

// sortedWrites are the writes by offset: the bytes written, as no byte
// is written twice.
func (r *finalRecorder) sortedWrites() []write {
	w := slices.Clone(r.writes)
	slices.SortFunc(w, func(a, b write) int { return int(a.off - b.off) })
	return w
}

// TestWriteFinal writes a tree spanning many groups with WriteFinal and
// checks what it reports: no byte is written below a prefix reported
// final, the reports grow, never overlap, and end with the region's size;
// with one worker the writes go from the start of the region to its end
// and the final prefix stays less than one job behind them; and the
// bytes are those Write writes.
func TestWriteFinal(t *testing.T) {
	const base = 3 << 20
	root := spreadTree()
	for _, typ := range []string{"ext4", "ext3", "ext2"} {
		t.Run(typ, func(t *testing.T) {
			opts := testOptions(12 << 30)
			opts.Type = typ
			pr, err := Layout(context.Background(), root, opts)
			if err != nil {
				t.Fatal(err)
			}
			if g := pr.Stats().Groups; g < 64 {
				t.Fatalf("%d groups", g)
			}
			var want []write
			for _, workers := range []int{1, 4} {
				o := opts
				o.Workers = workers
				p, err := Layout(context.Background(), root, o)
				if err != nil {
					t.Fatal(err)
				}
				r := &finalRecorder{base: base}
				if err := p.WriteFinal(t.Context(), r, base, r.report); err != nil {
					t.Fatal(err)
				}
				if r.errs != nil {
					t.Fatalf("%d workers:\n%s", workers, strings.Join(r.errs, "\n"))
				}
				if r.final != p.Size() {
					t.Errorf("%d workers: last final(%d), want the size %d", workers, r.final, p.Size())
				}
				if workers == 1 {
					if r.unsorted {
						t.Error("1 worker: the writes do not go from the start to the end")
					}
					// A job is a chunk of at most chunkSize or a copy of
					// at most maxJob; the one after it begins before it
					// is done.
					if r.maxLag >= maxJob {
						t.Errorf("1 worker: a write landed %d bytes past the final prefix", r.maxLag)
					}
					if r.calls < 100 {
						t.Errorf("1 worker: %d reports", r.calls)
					}
					want = r.sortedWrites()
					continue
				}
				if got := r.sortedWrites(); !slices.Equal(got, want) {
					t.Errorf("%d workers: writes differ from 1 worker's", workers)
				}
			}
			// Write, the plain way, writes the same.
			r := &finalRecorder{base: base}
			if err := pr.Write(t.Context(), r, base); err != nil {
				t.Fatal(err)
			}
			if got := r.sortedWrites(); !slices.Equal(got, want) {
				t.Error("Write and WriteFinal write different bytes")
			}
		})
	}
}

// TestWriteFinalFails: after a failed write, the final prefix never
// reaches the region's size.
func TestWriteFinalFails(t *testing.T) {
	dir := t.TempDir()
	gone := dir + "/gone"
	if err := os.WriteFile(gone, randBytes(randSource(3), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	root := richTree()
	root.Entries = append(root.Entries, Entry{"zz", &Inode{Kind: Regular, Perm: 0o644, Size: 1 << 20, Data: File{Path: gone}}})
	p, err := Layout(context.Background(), root, testOptions(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(gone)
	r := &finalRecorder{}
	if err := p.WriteFinal(t.Context(), r, 0, r.report); err == nil || !strings.Contains(err.Error(), "/zz") {
		t.Fatalf("err = %v", err)
	}
	if r.errs != nil {
		t.Fatal(strings.Join(r.errs, "\n"))
	}
	if r.final >= p.Size() {
		t.Errorf("final(%d) of a failed write", r.final)
	}
}
