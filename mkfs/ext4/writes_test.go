package ext4

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/imagefile"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// recorder is an io.WriterAt over a file that records every write.
type recorder struct {
	f      *os.File
	mu     sync.Mutex
	writes [][2]int64
	zero   []int64 // offsets of all-zero 4096-byte blocks written
}

func (r *recorder) WriteAt(b []byte, off int64) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, [2]int64{off, int64(len(b))})
	for i := (BlockSize - off%BlockSize) % BlockSize; i+BlockSize <= int64(len(b)); i += BlockSize {
		if imagefile.IsZero(b[i : i+BlockSize]) {
			r.zero = append(r.zero, off+i)
		}
	}
	r.mu.Unlock()
	return r.f.WriteAt(b, off)
}

// TestWritesOnceNoZeros checks that no byte of the region is written
// twice and that no all-zero block is written, at an offset inside a
// larger file (as a partition in a disk image).
func TestWritesOnceNoZeros(t *testing.T) {
	for _, typ := range []string{"ext4", "ext3", "ext2"} {
		t.Run(typ, func(t *testing.T) { testWritesOnceNoZeros(t, typ) })
	}
}

func testWritesOnceNoZeros(t *testing.T, typ string) {
	root := richTree()
	root.Entries = append(root.Entries, Entry{"big", bigFile(5 << 20)}) // copied, not batched
	const base = 1 << 20
	opts := testOptions(64 << 20)
	opts.Type = typ
	img := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(base + opts.Size + base)
	r := &recorder{f: f}
	if err := Write(t.Context(), r, base, root, opts); err != nil {
		t.Fatal(err)
	}
	if len(r.zero) > 0 {
		t.Errorf("%d all-zero blocks written, first at %d", len(r.zero), r.zero[0])
	}
	sort.Slice(r.writes, func(i, j int) bool { return r.writes[i][0] < r.writes[j][0] })
	for i, w := range r.writes {
		if w[0] < base || w[0]+w[1] > base+opts.Size {
			t.Fatalf("write %d+%d outside the region", w[0], w[1])
		}
		if i > 0 && r.writes[i-1][0]+r.writes[i-1][1] > w[0] {
			t.Fatalf("writes %v and %v overlap", r.writes[i-1], w)
		}
	}
	// The file system at the offset is the same as one written alone.
	part := filepath.Join(t.TempDir(), "part.img")
	out, err := os.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	out.Truncate(opts.Size)
	buf := make([]byte, 1<<20)
	for pos := int64(0); pos < opts.Size; pos += int64(len(buf)) {
		if _, err := f.ReadAt(buf, base+pos); err != nil {
			t.Fatal(err)
		}
		if !imagefile.IsZero(buf) {
			out.WriteAt(buf, pos)
		}
	}
	if hashFile(t, part) != hashFile(t, writeImage(t, root, opts)) {
		t.Error("file system written at an offset differs")
	}
	fsckClean(t, part)
}

// TestImageIsSparse: an empty 1 GiB file system allocates next to nothing.
func TestImageIsSparse(t *testing.T) {
	img := writeImage(t, emptyRoot(), testOptions(1<<30))
	var fs unix.Statfs_t
	if err := unix.Statfs(img, &fs); err != nil || fs.Bsize != BlockSize {
		oracle.Unavailable(t, "temporary directory has %d-byte blocks, the test needs %d", fs.Bsize, BlockSize)
	}
	var st unix.Stat_t
	if err := unix.Stat(img, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > 200<<10 {
		t.Errorf("empty 1 GiB file system allocates %d bytes", st.Blocks*512)
	}
}

func TestLostAndFoundFromTree(t *testing.T) {
	lf := dirNode(0o755)
	lf.UID = 7
	for i := range 300 {
		lf.Entries = append(lf.Entries, Entry{fmt.Sprintf("#%d", 1000+i), fileNode(0o600, []byte{byte(i)})})
	}
	root := dirNode(0o755, Entry{"a", fileNode(0o644, []byte("a"))}, Entry{"lost+found", lf}, Entry{"z", dirNode(0o700)})
	img := writeImage(t, root, testOptions(16<<20))
	fsckClean(t, img)
	fsckStable(t, img)
	if st := debugfs(t, img, "stat /lost+found"); !strings.Contains(st, "Inode: 11 ") {
		t.Errorf("lost+found is not inode 11:\n%s", st)
	}
	compareTree(t, mountRO(t, img), root, viaMount)
}

func TestManyHardLinks(t *testing.T) {
	one := fileNode(0o644, []byte("one"))
	root := dirNode(0o755)
	for d := range 10 {
		dir := dirNode(0o755)
		for i := range maxLinks / 10 {
			dir.Entries = append(dir.Entries, Entry{fmt.Sprint("l", i), one})
		}
		root.Entries = append(root.Entries, Entry{fmt.Sprint("d", d), dir})
	}
	img := writeImage(t, root, testOptions(64<<20))
	fsckClean(t, img)
	fsckStable(t, img)
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(mountRO(t, img), "d3", "l77"), &st); err != nil || st.Nlink != maxLinks {
		t.Errorf("nlink %d (%v), want %d", st.Nlink, err, maxLinks)
	}
}

// TestManySubdirectories: past 65000 subdirectories a directory's link
// count is 1 (dir_nlink).
func TestManySubdirectories(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 65001 directory blocks")
	}
	big := dirNode(0o755)
	for i := range maxLinks + 1 {
		big.Entries = append(big.Entries, Entry{fmt.Sprint(i), dirNode(0o755)})
	}
	root := dirNode(0o755, Entry{"big", big})
	opts := testOptions(400 << 20)
	opts.Inodes = 70000
	img := writeImage(t, root, opts)
	fsckClean(t, img)
	fsckStable(t, img)
	if st := debugfs(t, img, "stat /big"); !strings.Contains(st, "Links: 1 ") {
		t.Errorf("/big:\n%.300s", st)
	}
	ents, err := os.ReadDir(filepath.Join(mountRO(t, img), "big"))
	if err != nil || len(ents) != maxLinks+1 {
		t.Errorf("%d entries (%v)", len(ents), err)
	}
}

// TestStats compares Stats with dumpe2fs.
func TestStats(t *testing.T) {
	root := richTree()
	for _, size := range []int64{64 << 20, 10 << 30} {
		opts := testOptions(size)
		p, err := Layout(context.Background(), root, opts)
		if err != nil {
			t.Fatal(err)
		}
		s := p.Stats()
		h := dumpe2fsHeader(t, writeImage(t, root, opts))
		if got := fmt.Sprint(s.Blocks - s.UsedBlocks); got != h["Free blocks"] {
			t.Errorf("%d: free blocks %s, dumpe2fs %s", size, got, h["Free blocks"])
		}
		if got := fmt.Sprint(s.Inodes - s.UsedInodes); got != h["Free inodes"] {
			t.Errorf("%d: free inodes %s, dumpe2fs %s", size, got, h["Free inodes"])
		}
		if fmt.Sprint(s.Blocks) != h["Block count"] || fmt.Sprint(s.Inodes) != h["Inode count"] ||
			fmt.Sprint(s.JournalBlocks) != h["Total journal blocks"] {
			t.Errorf("%d: %+v vs %v", size, s, h)
		}
	}
}

// TestWriteCancelled: a cancelled Write stops with the context's error,
// whether it is cancelled before or while writing.
func TestWriteCancelled(t *testing.T) {
	root, _ := benchTree(20000)
	opts := testOptions(1 << 30)
	p, err := Layout(context.Background(), root, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, delay := range []int{0, 1, 100} {
		ctx, cancel := context.WithCancel(context.Background())
		w := &cancelAfter{n: delay, cancel: cancel}
		if delay == 0 {
			cancel()
		}
		if err := p.Write(ctx, w, 0); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled after %d writes: %v", delay, err)
		}
		cancel()
	}
}

// cancelAfter is an io.WriterAt that cancels after n writes.
type cancelAfter struct {
	mu     sync.Mutex
	n      int
	cancel func()
}

func (c *cancelAfter) WriteAt(b []byte, off int64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n--; c.n == 0 {
		c.cancel()
	}
	return len(b), nil
}
