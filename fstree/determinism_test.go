package fstree

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/definition"
)

// genEntry is one object of a generated source tree.
type genEntry struct {
	path   string // relative
	kind   Kind
	mode   uint32
	mtime  time.Time
	data   []int64 // regular: offsets of 4 KiB data blocks
	size   int64
	target string // symlink
	linkTo string // hard link to this path
	xattr  string
}

// genTree describes a tree with every kind of object: wide and nested
// directories, sparse files, symlinks, hard link groups, a fifo, special
// modes, non-UTF-8 names, and mtimes on both sides of the epoch.
func genTree(seed int64) []genEntry {
	r := rand.New(rand.NewSource(seed))
	var es []genEntry
	tm := func() time.Time { return time.Unix(1_500_000_000+r.Int63n(200_000_000), r.Int63n(1e9)) }
	dirs := []string{"etc", "usr", "usr/lib", "usr/share/doc", "var/lib/x", "wide", "n\xffon-utf8"}
	for _, d := range dirs {
		es = append(es, genEntry{path: d, kind: KindDir, mode: []uint32{0o755, 0o700, 0o1777, 0o2750}[r.Intn(4)], mtime: tm()})
	}
	for i := 0; i < 300; i++ {
		d := dirs[r.Intn(len(dirs))]
		if i < 150 {
			d = "wide"
		}
		e := genEntry{path: fmt.Sprintf("%s/f%03d-%s", d, i, strings.Repeat("x", r.Intn(40))), mtime: tm()}
		switch k := r.Intn(10); {
		case k < 6:
			e.kind, e.mode = KindRegular, []uint32{0o644, 0o755, 0o4755, 0o600}[r.Intn(4)]
			e.size = r.Int63n(64 << 10)
			for off := int64(0); off+4096 <= e.size; off += 4096 {
				if r.Intn(3) == 0 {
					e.data = append(e.data, off)
				}
			}
			if r.Intn(4) == 0 {
				e.xattr = fmt.Sprintf("v%d", r.Intn(1000))
			}
		case k < 8:
			e.kind, e.mode, e.target = KindSymlink, 0o777, strings.Repeat("../", r.Intn(3))+"t"+strings.Repeat("y", r.Intn(100))
		case k < 9:
			e.kind, e.mode = KindFIFO, 0o640
		default:
			e.kind, e.mode = KindDir, 0o755
		}
		es = append(es, e)
	}
	// Hard link groups over existing regular files.
	var files []string
	for _, e := range es {
		if e.kind == KindRegular {
			files = append(files, e.path)
		}
	}
	for i := 0; i < 20; i++ {
		es = append(es, genEntry{path: fmt.Sprintf("usr/lib/link%02d", i), linkTo: files[r.Intn(len(files))]})
	}
	return es
}

// makeTree creates the generated tree under root in an order given by
// shuffle (nil: as listed), swapping which name of each link group is
// created first when swapLinks.
func makeTree(t *testing.T, root string, es []genEntry, shuffle *rand.Rand, swapLinks, xattrs bool) {
	t.Helper()
	order := make([]int, len(es))
	for i := range order {
		order[i] = i
	}
	if shuffle != nil {
		shuffle.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	byPath := map[string]genEntry{}
	for _, e := range es {
		byPath[e.path] = e
	}
	create := func(e genEntry, at string) {
		p := filepath.Join(root, at)
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		var err error
		switch e.kind {
		case KindDir:
			err = os.MkdirAll(p, 0o777)
		case KindRegular:
			var f *os.File
			if f, err = os.Create(p); err == nil {
				block := []byte(strings.Repeat(e.path[:1], 4096))
				for _, off := range e.data {
					f.WriteAt(block, off)
				}
				f.Truncate(e.size)
				f.Close()
			}
			if err == nil && xattrs && e.xattr != "" {
				err = unix.Setxattr(p, "user.gen", []byte(e.xattr), 0)
			}
		case KindSymlink:
			err = os.Symlink(e.target, p)
		case KindFIFO:
			err = unix.Mkfifo(p, 0o666)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range order {
		if e := es[i]; e.linkTo == "" {
			create(e, e.path)
		}
	}
	for _, i := range order {
		e := es[i]
		if e.linkTo == "" {
			continue
		}
		old, new := filepath.Join(root, e.linkTo), filepath.Join(root, e.path)
		if _, err := os.Lstat(new); err == nil {
			continue
		}
		if swapLinks {
			// Move the original to the link's name and link back, so the
			// link name is the older one.
			if err := os.Rename(old, new); err != nil {
				t.Fatal(err)
			}
			old, new = new, old
		}
		if err := os.Link(old, new); err != nil {
			t.Fatal(err)
		}
	}
	// Metadata last, deepest first, so that creating entries does not
	// change a directory's time afterwards.
	paths := make([]string, 0, len(es))
	for _, e := range es {
		if e.linkTo == "" {
			paths = append(paths, e.path)
		}
	}
	sort.Slice(paths, func(i, j int) bool { return strings.Count(paths[i], "/") > strings.Count(paths[j], "/") })
	for _, pth := range paths {
		e := byPath[pth]
		p := filepath.Join(root, pth)
		if e.kind != KindSymlink {
			chmod(t, p, os.FileMode(e.mode))
		}
		lstamp(t, p, e.mtime)
	}
	// Parents created implicitly.
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			if _, ok := byPath[strings.TrimPrefix(strings.TrimPrefix(p, root), "/")]; !ok {
				chmod(t, p, 0o755)
				stamp(t, p, baseTime)
			}
		}
		return nil
	})
}

// TestDeterminism builds the same tree from two copies made in different
// orders, on different file systems (ext4's hash order against tmpfs's
// creation order for readdir), with different umasks and GOMAXPROCS, and
// compares the dumps.
func TestDeterminism(t *testing.T) {
	es := genTree(1)
	a := t.TempDir()
	b := t.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "fstree-test-"); err == nil {
			b = d
			t.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	xattrs := xattrsSupported(t, a) && xattrsSupported(t, b)
	old := syscall.Umask(0o022)
	makeTree(t, a, es, nil, false, xattrs)
	syscall.Umask(0o077)
	makeTree(t, b, es, rand.New(rand.NewSource(2)), true, xattrs)
	syscall.Umask(old)

	if !sameReaddirOrder(t, a+"/wide", b+"/wide") {
		t.Logf("readdir orders differ between the copies, as intended")
	} else {
		t.Logf("readdir orders happen to agree; the test still checks shuffled creation")
	}

	spec := Spec{
		CopyFiles:       cf("/", "/", "/usr/lib", "/opt/lib", "/etc", "/usr/lib/copied-etc"),
		ExcludeFiles:    []string{"/var/lib/"},
		MakeDirectories: []string{"/srv/a/b"},
		MakeSymlinks:    []definition.Symlink{{Path: "/srv/l", Target: "a"}},
	}
	opts := Options{SourceDateEpoch: i64(1_600_000_000)}
	prev := runtime.GOMAXPROCS(8)
	syscall.Umask(0o022)
	ta := build(t, a, spec, opts)
	runtime.GOMAXPROCS(1)
	syscall.Umask(0o077)
	tb := build(t, b, spec, opts)
	syscall.Umask(old)
	runtime.GOMAXPROCS(prev)

	da, db := dump(t, ta), dump(t, tb)
	if da != db {
		la, lb := strings.Split(da, "\n"), strings.Split(db, "\n")
		for i := range min(len(la), len(lb)) {
			if la[i] != lb[i] {
				t.Fatalf("dumps differ at line %d:\n%s\n%s", i+1, la[i], lb[i])
			}
		}
		t.Fatalf("dumps differ in length: %d and %d lines", len(la), len(lb))
	}
	if ta.Stats != tb.Stats {
		t.Errorf("stats differ: %+v %+v", ta.Stats, tb.Stats)
	}
	if ta.Stats.HardLinks == 0 || ta.Stats.Specials == 0 || ta.Stats.Symlinks == 0 || ta.Stats.DataBytes == 0 {
		t.Errorf("generated tree lacks variety: %+v", ta.Stats)
	}
	// Something was clamped, something was not.
	clamped, kept := 0, 0
	for _, ino := range ta.Inodes {
		if ino.Mtime == (Time{Sec: 1_600_000_000}) {
			clamped++
		} else if ino.Mtime.Nsec != 0 {
			kept++
		}
	}
	if clamped == 0 || kept == 0 {
		t.Errorf("clamped %d, kept %d", clamped, kept)
	}
	if testing.Verbose() {
		t.Logf("%d lines of dump, stats %+v", strings.Count(da, "\n"), ta.Stats)
	}
}

func sameReaddirOrder(t *testing.T, a, b string) bool {
	names := func(d string) []string {
		f, err := os.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		n, err := f.Readdirnames(-1)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return fmt.Sprint(names(a)) == fmt.Sprint(names(b))
}
