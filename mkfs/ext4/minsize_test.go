package ext4

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
)

// minSizeCase is a tree and options for MinSize.
type minSizeCase struct {
	name string
	root func() *Inode
	opts func(*Options)
}

func bigFile(size int64, runs ...Run) *Inode {
	return &Inode{Kind: Regular, Perm: 0o644, Size: size, Data: zeroData{runs}, Atime: testTime, Mtime: testTime, Ctime: testTime, Crtime: testTime}
}

func manySmall(n int) *Inode {
	r := randSource(uint64(n))
	d := dirNode(0o755)
	for i := range n {
		d.Entries = append(d.Entries, Entry{fmt.Sprintf("f%05d", i), fileNode(0o644, randBytes(r, r.IntN(10000)))})
	}
	return dirNode(0o755, Entry{"d", d})
}

func minSizeCases() []minSizeCase {
	const mib = 1 << 20
	noJournal := func(o *Options) { o.NoJournal = true }
	return []minSizeCase{
		{"empty", emptyRoot, nil},
		{"empty-inodes-5000", emptyRoot, func(o *Options) { o.Inodes = 5000 }},
		{"small-files", func() *Inode { return manySmall(500) }, nil},
		{"small-files-nojournal", func() *Inode { return manySmall(500) }, noJournal},
		{"small-files-ratio-4096", func() *Inode { return manySmall(500) }, func(o *Options) { o.InodeRatio = 4096 }},
		// Around the 2048-block journal threshold.
		{"7MiB", func() *Inode { return dirNode(0o755, Entry{"f", bigFile(7 * mib)}) }, nil},
		{"8MiB", func() *Inode { return dirNode(0o755, Entry{"f", bigFile(8 * mib)}) }, nil},
		// Around the first group boundary (32768 blocks) and the
		// 1024/4096-block journal step there.
		{"120MiB", func() *Inode { return dirNode(0o755, Entry{"f", bigFile(120 * mib)}) }, nil},
		{"127MiB-nojournal", func() *Inode { return dirNode(0o755, Entry{"f", bigFile(127 * mib)}) }, noJournal},
		{"130MiB", func() *Inode { return dirNode(0o755, Entry{"f", bigFile(130 * mib)}) }, nil},
		{"sparse", func() *Inode {
			return dirNode(0o755, Entry{"s", bigFile(3<<30, Run{Offset: 0, Length: 5000}, Run{Offset: 1 << 30, Length: 3 * mib}, Run{Offset: 3<<30 - 1, Length: 1})},
				Entry{"h", bigFile(1<<40, Run{Offset: 1<<40 - 10, Length: 10})})
		}, nil},
		{"large-dir", func() *Inode {
			d := dirNode(0o755)
			for i := range 5000 {
				d.Entries = append(d.Entries, Entry{fmt.Sprintf("entry-%05d-%s", i, strings.Repeat("x", i%50)), fileNode(0o644, nil)})
			}
			return dirNode(0o755, Entry{"big", d})
		}, nil},
		{"rich", richTree, nil},
		{"rich-nojournal", richTree, noJournal},
		{"small-files-ext2", func() *Inode { return manySmall(500) }, func(o *Options) { o.Type = "ext2" }},
		{"130MiB-ext3", func() *Inode { return dirNode(0o755, Entry{"f", bigFile(130 * mib)}) }, func(o *Options) { o.Type = "ext3" }},
		{"rich-ext3", richTree, func(o *Options) { o.Type = "ext3" }},
		{"600MiB-files-ext2", func() *Inode {
			root := dirNode(0o755)
			for i := range 6 {
				root.Entries = append(root.Entries, Entry{fmt.Sprint("f", i), bigFile(100*mib + int64(i)*12345)})
			}
			return root
		}, func(o *Options) { o.Type = "ext2" }},
		// Several groups: backup superblocks split extents.
		{"600MiB-files", func() *Inode {
			root := dirNode(0o755)
			for i := range 6 {
				root.Entries = append(root.Entries, Entry{fmt.Sprint("f", i), bigFile(100*mib + int64(i)*12345)})
			}
			return root
		}, nil},
	}
}

// feasible reports whether a region of raw blocks holds the tree, by a
// full layout.
func feasible(t *testing.T, pr *prepared, raw uint64) bool {
	t.Helper()
	_, err := pr.layout(context.Background(), int64(raw)*BlockSize)
	if err != nil && !errors.Is(err, ErrNoSpace) {
		t.Fatalf("%d blocks: %v", raw, err)
	}
	return err == nil
}

// TestMinSizeIsMinimal checks MinSize against a search of every size
// below it. Small file systems are laid out in full at every size;
// larger ones at every size of the last 40000 blocks and, below, at
// every size whose geometry (groups, inodes per group, journal) has not
// been tried yet.
func TestMinSizeIsMinimal(t *testing.T) {
	for _, c := range minSizeCases() {
		t.Run(c.name, func(t *testing.T) {
			opts := testOptions(0)
			if c.opts != nil {
				c.opts(&opts)
			}
			pr, err := prepare(context.Background(), c.root(), opts)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := pr.minBlocks(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !feasible(t, pr, raw) {
				t.Fatalf("MinSize %d blocks does not hold the tree", raw)
			}
			seen := map[bandKey]bool{}
			for r := uint64(1); r < raw; r++ {
				if raw-r > 40000 {
					geo, err := pr.geometryAt(int64(r) * BlockSize)
					if err != nil {
						continue
					}
					k := pr.keyOf(&geo)
					// Within a geometry the largest file system is the
					// one most likely to hold the tree: check the band's
					// last size below raw.
					if seen[k] {
						continue
					}
					seen[k] = true
					r = min(pr.bandEnd(r, &geo), raw-40001)
				}
				if feasible(t, pr, r) {
					t.Fatalf("%d blocks hold the tree, MinSize says %d", r, raw)
				}
			}
			t.Logf("MinSize %d blocks (content %d)", raw, pr.content)
		})
	}
}

// TestMinSizeOracle writes the tree at MinSize: e2fsck must find it
// clean, and 4096 bytes less must fail with ErrNoSpace.
func TestMinSizeOracle(t *testing.T) {
	for _, c := range minSizeCases() {
		t.Run(c.name, func(t *testing.T) {
			opts := testOptions(0)
			if c.opts != nil {
				c.opts(&opts)
			}
			root := c.root()
			size, err := MinSize(context.Background(), root, opts)
			if err != nil {
				t.Fatal(err)
			}
			if size%BlockSize != 0 {
				t.Fatalf("MinSize %d is not a multiple of %d", size, BlockSize)
			}
			opts.Size = size - BlockSize
			if _, err := Layout(context.Background(), root, opts); !errors.Is(err, ErrNoSpace) {
				t.Errorf("at MinSize-4096: %v, want ErrNoSpace", err)
			}
			opts.Size = size
			img := writeImage(t, root, opts)
			fsckClean(t, img)
			fsckStable(t, img)
			p, err := Layout(context.Background(), root, opts)
			if err != nil {
				t.Fatal(err)
			}
			s := p.Stats()
			h := dumpe2fsHeader(t, img)
			if got := fmt.Sprint(s.Blocks - s.UsedBlocks); got != h["Free blocks"] {
				t.Errorf("free blocks %s, dumpe2fs %s", got, h["Free blocks"])
			}
		})
	}
}

// countingData counts the calls of Runs.
type countingData struct {
	Data
	calls *atomic.Int32
}

func (c countingData) Runs(size int64) ([]Run, error) {
	c.calls.Add(1)
	return c.Data.Runs(size)
}

// TestMinSizeRunsOnce: the search, and Relayout after it, ask each file
// for its data runs once.
func TestMinSizeRunsOnce(t *testing.T) {
	var calls atomic.Int32
	root := dirNode(0o755)
	for i := range 100 {
		f := fileNode(0o644, make([]byte, i*1000+1))
		f.Data = countingData{f.Data, &calls}
		root.Entries = append(root.Entries, Entry{fmt.Sprint(i), f})
	}
	root.Entries = append(root.Entries, Entry{"big", &Inode{Kind: Regular, Size: 20 << 20,
		Data: countingData{pattern{runs: []Run{{Offset: 0, Length: 20 << 20}}}, &calls}}})
	p, err := LayoutMin(context.Background(), root, testOptions(0))
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.Relayout(context.Background(), 100<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 101 {
		t.Errorf("Runs called %d times for 101 files", n)
	}
	if p.Stats().Blocks >= q.Stats().Blocks || q.Stats().Blocks != (100<<20)/BlockSize {
		t.Errorf("stats %+v and %+v", p.Stats(), q.Stats())
	}
	// The relaid plan is the plan Layout makes.
	opts := testOptions(100 << 20)
	a := hashFile(t, writeImage(t, root, opts))
	if hashFile(t, writePlanImage(t, q)) != a {
		t.Error("Relayout's image differs from Layout's")
	}
}

// TestMinSizeNotMonotonic shows why MinSize is the least size that
// works but not the start of all sizes that work: the journal appears at
// 8 MiB and takes more than the extra space.
func TestMinSizeNotMonotonic(t *testing.T) {
	root := dirNode(0o755, Entry{"f", bigFile(7 << 20)})
	p, err := LayoutMin(context.Background(), root, testOptions(0))
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); p.size >= 8<<20 || s.JournalBlocks != 0 {
		t.Fatalf("MinSize %d with %d journal blocks, want under 8 MiB without journal", p.size, s.JournalBlocks)
	}
	if _, err := p.Relayout(context.Background(), 8<<20); !errors.Is(err, ErrNoSpace) {
		t.Errorf("8 MiB: %v, want ErrNoSpace", err)
	}
}

func TestMinSizeErrors(t *testing.T) {
	opts := testOptions(0)
	opts.InodeRatio = 1024 // more than one inode per block
	root := dirNode(0o755)
	for i := range 40000 {
		root.Entries = append(root.Entries, Entry{fmt.Sprint(i), fileNode(0o644, nil)})
	}
	if _, err := MinSize(context.Background(), root, opts); err == nil || !strings.Contains(err.Error(), "inodes do not fit") {
		t.Errorf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := MinSize(ctx, root, testOptions(0)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// zeroData reports runs (allocated whole blocks) of zeros: nothing is
// copied, which keeps tests of large file systems fast.
type zeroData struct{ runs []Run }

func (z zeroData) Runs(size int64) ([]Run, error) {
	if z.runs == nil {
		return []Run{{Offset: 0, Length: size}}, nil
	}
	return z.runs, nil
}

func (z zeroData) CopyTo(ctx context.Context, dst io.WriterAt, dstOff, off, n int64) error {
	return nil
}
