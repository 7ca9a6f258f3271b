package ext4

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// inodeFlags returns the i_flags of path as debugfs shows them.
func inodeFlags(t *testing.T, img, path string) string {
	t.Helper()
	m := regexp.MustCompile(`Flags: (0x[0-9a-f]+)`).FindStringSubmatch(debugfs(t, img, "stat "+path))
	if m == nil {
		t.Fatalf("no flags for %s", path)
	}
	return m[1]
}

func TestLargeDirectory(t *testing.T) {
	root := dirNode(0o755)
	big := dirNode(0o755)
	for i := range 20000 {
		var in *Inode
		switch i % 1000 {
		case 7:
			in = dirNode(0o755)
		case 8:
			in = linkNode(fmt.Sprint("target-", i))
		default:
			in = fileNode(0o644, nil)
		}
		big.Entries = append(big.Entries, Entry{fmt.Sprintf("entry-%05d.conf", i), in})
	}
	root.Entries = []Entry{{"big", big}}
	img := writeImage(t, root, testOptions(128<<20))
	fsckClean(t, img)
	fsckStable(t, img)
	if f := inodeFlags(t, img, "/big"); f != "0x81000" {
		t.Errorf("/big flags %s, want extents and index", f)
	}
	if out := debugfs(t, img, "htree /big"); !strings.Contains(out, "Indirect levels: 0") {
		t.Errorf("htree /big:\n%.500s", out)
	}
	compareTree(t, mountRO(t, img), root, viaMount)
}

// TestHtreeTwoLevels needs more than 507 leaf blocks (508 without
// checksums): an index node level between the root and the leaves.
func TestHtreeTwoLevels(t *testing.T) {
	root := dirNode(0o755)
	big := dirNode(0o755)
	for i := range 9000 {
		name := fmt.Sprintf("%05d", i) + strings.Repeat("x", 250)
		big.Entries = append(big.Entries, Entry{name, fileNode(0o644, nil)})
	}
	// Also directories of exactly two and three blocks.
	two, three := dirNode(0o755), dirNode(0o755)
	for i := range 20 {
		two.Entries = append(two.Entries, Entry{fmt.Sprintf("%03d", i) + strings.Repeat("y", 250), fileNode(0o644, nil)})
	}
	for i := range 35 {
		three.Entries = append(three.Entries, Entry{fmt.Sprintf("%03d", i) + strings.Repeat("z", 250), fileNode(0o644, nil)})
	}
	root.Entries = []Entry{{"big", big}, {"two", two}, {"three", three}}
	for _, typ := range []string{"ext4", "ext3", "ext2"} {
		t.Run(typ, func(t *testing.T) {
			opts := testOptions(128 << 20)
			opts.Type = typ
			img := writeImage(t, root, opts)
			fsckClean(t, img)
			fsckStable(t, img)
			if out := debugfs(t, img, "htree /big"); !strings.Contains(out, "Indirect levels: 1") {
				t.Errorf("htree /big:\n%.500s", out)
			}
			want := "0x81000"
			if typ != "ext4" {
				want = "0x1000"
			}
			for _, d := range []string{"/two", "/three"} {
				if f := inodeFlags(t, img, d); f != want {
					t.Errorf("%s flags %s, want %s", d, f, want)
				}
			}
			compareTree(t, mountType(t, img, typ), root, viaMount)
		})
	}
}

// TestHtreeHuge writes a directory of 300000 long names (5000 leaves,
// 10 index nodes) as ext4 and ext3, and looks names up through the
// kernel. The names share a few inodes, which keeps e2fsck quick.
func TestHtreeHuge(t *testing.T) {
	if testing.Short() {
		t.Skip("300000 directory entries")
	}
	const n = 300000
	targets := make([]*Inode, n/60000+1)
	for i := range targets {
		targets[i] = fileNode(0o644, []byte(fmt.Sprint("target ", i)))
	}
	name := func(i int) string {
		return fmt.Sprintf("%07d-%s", i, strings.Repeat("long-name-", 3+i%5))
	}
	big := dirNode(0o755)
	big.Entries = make([]Entry, n)
	for i := range n {
		big.Entries[i] = Entry{name(i), targets[i/60000]}
	}
	root := dirNode(0o755, Entry{"big", big})
	for _, typ := range []string{"ext4", "ext3"} {
		t.Run(typ, func(t *testing.T) {
			opts := testOptions(256 << 20)
			opts.Type = typ
			img := writeImage(t, root, opts)
			fsckClean(t, img)
			fsckStable(t, img)
			out := debugfs(t, img, "htree /big")
			if !strings.Contains(out, "Indirect levels: 1") {
				t.Errorf("htree /big:\n%.500s", out)
			}
			// Every name once in the index dump and in the listing.
			names := regexp.MustCompile(`\b[0-9]{7}-(long-name-)+`)
			if got := len(names.FindAllString(out, -1)); got != n {
				t.Errorf("debugfs htree shows %d of %d names", got, n)
			}
			if got := len(names.FindAllString(debugfs(t, img, "ls /big"), -1)); got != n {
				t.Errorf("debugfs ls shows %d of %d names", got, n)
			}
			dir := mountType(t, img, typ)
			r := randSource(11)
			for range 2000 {
				i := r.IntN(n)
				b, err := os.ReadFile(filepath.Join(dir, "big", name(i)))
				if err != nil || string(b) != fmt.Sprint("target ", i/60000) {
					t.Fatalf("%s: %q, %v", name(i), b, err)
				}
				if _, err := os.Lstat(filepath.Join(dir, "big", name(i)+"x")); !os.IsNotExist(err) {
					t.Fatalf("%sx: %v, want not found", name(i), err)
				}
			}
		})
	}
}

// TestHtreeLevelLimit: a directory whose index would need more levels
// than the feature set allows is refused by name. The real limit (two
// levels below the root need large_dir) takes 258571 leaf blocks; a
// feature set allowing no index node level shows the same path.
func TestHtreeLevelLimit(t *testing.T) {
	if levels, nodes := dxLevels(507*510, 507, 510); levels != 1 || nodes != 507 {
		t.Errorf("507*510 leaves: %d levels, %d nodes", levels, nodes)
	}
	if levels, _ := dxLevels(507*510+1, 507, 510); levels != 2 {
		t.Errorf("507*510+1 leaves: %d levels", levels)
	}
	big := dirNode(0o755)
	for i := range 9000 {
		big.Entries = append(big.Entries, Entry{fmt.Sprintf("%05d", i) + strings.Repeat("x", 250), fileNode(0o644, nil)})
	}
	root := dirNode(0o755, Entry{"a", dirNode(0o755, Entry{"big", big})})
	f := ext4Features
	f.dxMaxLevels = 0
	_, err := prepareFeatures(context.Background(), root, testOptions(0), &f)
	if err == nil || !strings.HasPrefix(err.Error(), "/a/big: 9000 entries in ") || !strings.Contains(err.Error(), "large_dir") {
		t.Errorf("err = %v", err)
	}
}

func TestDeepNesting(t *testing.T) {
	root := dirNode(0o755)
	d := root
	for i := range 200 {
		c := dirNode(0o755)
		d.Entries = append(d.Entries, Entry{"d", c}, Entry{fmt.Sprint("f", i), fileNode(0o644, []byte(fmt.Sprint(i)))})
		d = c
	}
	d.Entries = append(d.Entries, Entry{"bottom", fileNode(0o600, []byte("bottom"))})
	img := writeImage(t, root, testOptions(16<<20))
	fsckClean(t, img)
	fsckStable(t, img)
	compareTree(t, mountRO(t, img), root, viaMount)
}

// TestManyExtents writes files whose data runs need extent trees of
// depth 1 (one and several leaves) and depth 2.
func TestManyExtents(t *testing.T) {
	root := dirNode(0o755)
	for _, n := range []int{4, 5, 340, 1000, 1361, 3000} {
		var runs []Run
		for i := range n {
			runs = append(runs, Run{Offset: int64(i) * 3 * BlockSize, Length: BlockSize + 1})
		}
		size := int64(n) * 3 * BlockSize
		root.Entries = append(root.Entries, Entry{fmt.Sprint("runs", n),
			&Inode{Kind: Regular, Perm: 0o644, Size: size, Data: pattern{runs: runs, seed: byte(n)}}})
	}
	img := writeImage(t, root, testOptions(64<<20))
	fsckClean(t, img)
	fsckStable(t, img)
	compareTree(t, mountRO(t, img), root, viaMount)
	st := debugfs(t, img, "stat /runs3000")
	if !strings.Contains(st, "Level Entries") && !strings.Contains(st, "(ETB1)") {
		t.Logf("%.800s", st)
	}
	if p, err := Layout(context.Background(), root, testOptions(64<<20)); err != nil {
		t.Fatal(err)
	} else {
		for _, n := range p.nodes {
			if n != nil && n.in.Kind == Regular {
				exts, tree := p.place(n)
				want := treeShape(len(exts))
				if len(tree) != treeBlocks(len(exts)) {
					t.Errorf("inode %d: %d tree blocks for shape %v", n.ino, len(tree), want)
				}
			}
		}
	}
}

// sparseHostFile makes a file of size bytes with data only at the given
// offsets (4096 bytes each).
func sparseHostFile(t *testing.T, size int64, at ...int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sparse")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for i, off := range at {
		b := []byte(strings.Repeat(fmt.Sprintf("block %d at %d|", i, off), 300))[:min(BlockSize, size-off)]
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestSparseAndHugeFiles writes host files with holes (through
// copy_file_range and through a plain io.WriterAt) and files larger than
// 4 GiB.
func TestSparseAndHugeFiles(t *testing.T) {
	const gib = 1 << 30
	sparse := sparseHostFile(t, 100<<20, 0, 1<<20, 50<<20+100, 100<<20-10)
	huge := sparseHostFile(t, 5*gib+123, 4096, 2*gib, 4*gib-2048, 4*gib+4096, 5*gib+123-100)
	dense := filepath.Join(t.TempDir(), "dense")
	if err := os.WriteFile(dense, randBytes(randSource(9), 5<<20+17), 0o644); err != nil {
		t.Fatal(err)
	}
	hostFile := func(p string) *Inode {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return &Inode{Kind: Regular, Perm: 0o644, Size: st.Size(), Data: File{Path: p}, Mtime: testTime}
	}
	root := dirNode(0o755)
	root.Entries = []Entry{
		{"sparse", hostFile(sparse)},
		{"huge", hostFile(huge)},
		{"dense", hostFile(dense)},
		{"pattern-6GiB", &Inode{Kind: Regular, Perm: 0o644, Size: 6 * gib,
			Data: pattern{runs: []Run{{Offset: 0, Length: 10}, {Offset: 4*gib - 5000, Length: 10000}, {Offset: 6*gib - 1, Length: 1}}, seed: 3}}},
		{"hole-5GiB", &Inode{Kind: Regular, Perm: 0o644, Size: 5 * gib}},
	}
	for _, via := range []string{"file", "writer"} {
		t.Run(via, func(t *testing.T) {
			opts := testOptions(64 << 20)
			img := filepath.Join(t.TempDir(), "fs.img")
			f, err := os.Create(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.Truncate(opts.Size)
			var w interface {
				WriteAt([]byte, int64) (int, error)
			} = f
			if via == "writer" {
				w = plainWriter{f}
			}
			if err := Write(t.Context(), w, 0, root, opts); err != nil {
				t.Fatal(err)
			}
			fsckClean(t, img)
			fsckStable(t, img)
			compareTree(t, mountRO(t, img), root, viaMount)
			if via == "file" {
				h := dumpe2fsHeader(t, img)
				if !strings.Contains(h["Filesystem features"], "large_file huge_file") {
					t.Errorf("features %q", h["Filesystem features"])
				}
			}
		})
	}
}

// plainWriter hides the *os.File, so copies go through read and pwrite.
type plainWriter struct{ f *os.File }

func (p plainWriter) WriteAt(b []byte, off int64) (int, error) { return p.f.WriteAt(b, off) }
