package vfat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hermetic-repart/hermetic-repart/internal/memdisk"
)

// randomName returns a name of one of the kinds the writer handles
// differently.
func randomName(r *rand.Rand) string {
	letters := func(n int, set string) string {
		rs := []rune(set)
		var b strings.Builder
		for range n {
			b.WriteRune(rs[r.IntN(len(rs))])
		}
		return b.String()
	}
	const (
		lower   = "abcdefghijklmnopqrstuvwxyz0123456789"
		upper   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		mixed   = lower + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		special = "$%'-_@~`!(){}^#&+,;=[] ."
		foreign = "äöüßéèçñøåæœΩжд日本語한국어"
		astral  = "🙂🚀𝄞"
	)
	switch r.IntN(10) {
	case 0: // lower-case 8.3
		return letters(1+r.IntN(8), lower) + "." + letters(1+r.IntN(3), lower)
	case 1: // upper-case 8.3
		return letters(1+r.IntN(8), upper) + "." + letters(r.IntN(4), upper)
	case 2: // mixed case, maybe too long
		return letters(1+r.IntN(12), mixed) + "." + letters(1+r.IntN(5), mixed)
	case 3: // long, with spaces and dots
		return letters(5+r.IntN(60), lower+"  ..") + "x"
	case 4: // special characters
		return letters(1+r.IntN(10), special+lower) + "z"
	case 5:
		return letters(1+r.IntN(10), foreign+lower)
	case 6:
		return letters(1+r.IntN(4), astral+lower) + ".txt"
	case 7: // a collision series
		return fmt.Sprintf("LongFileName%d.dat", r.IntN(40))
	case 8: // the longest names
		return letters(255, lower)
	}
	return letters(1+r.IntN(3), lower)
}

// randomTree makes a tree of about n entries. Names that would clash in
// one directory (case-insensitively) are skipped.
func randomTree(r *rand.Rand, n int, maxSize int) ttree {
	tt := ttree{}
	dirs := []string{""}
	keys := map[string]bool{}
	for len(tt) < n {
		parent := dirs[r.IntN(len(dirs))]
		name := randomName(r)
		if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
			continue
		}
		p := name
		if parent != "" {
			p = parent + "/" + name
		}
		k := parent + "/" + foldKey(name)
		if keys[k] {
			continue
		}
		keys[k] = true
		mt := time.Unix(r.Int64N(5_000_000_000), r.Int64N(1e9)) // 1970 to 2128
		if r.IntN(4) == 0 {
			tt[p] = &tfile{dir: true, mtime: mt}
			dirs = append(dirs, p)
			continue
		}
		size := r.IntN(3 * 4096)
		if r.IntN(20) == 0 {
			size = r.IntN(maxSize)
		}
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		if size > 8192 && r.IntN(2) == 0 {
			clear(data[4096 : size/2]) // zeros in the middle are not written
		}
		tt[p] = &tfile{data: data, mtime: mt, attr: Attr(r.IntN(8)) | Archive} // random read-only, hidden, system
	}
	return tt
}

// TestRandomTrees writes random trees at sizes of every FAT type and
// checks them with all oracles.
func TestRandomTrees(t *testing.T) {
	seeds := 6
	if testing.Short() {
		seeds = len(sectorSizes) // one tree at each sector size
	}
	for seed := range seeds {
		S := sectorSizes[seed%len(sectorSizes)]
		t.Run(fmt.Sprintf("seed%d-%d", seed, S), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 99))
			tt := randomTree(r, 150, 300_000)
			opts := testOptions(0, S)
			min, err := MinSize(context.Background(), tt.inodes(), opts)
			if err != nil {
				t.Fatal(err)
			}
			// The smallest size, and a FAT32 with room to spare.
			for _, size := range []int64{min, max(min, MinFAT32Size(S)) + 8*mib} {
				opts.Size = size
				img, p := writeImage(t, tt.inodes(), opts)
				t.Logf("%d bytes: %v, %d-byte clusters, %d/%d used", size, p.Stats().Type, p.Stats().ClusterSize, p.Stats().UsedClusters, p.Stats().Clusters)
				checkImage(t, img, tt, S)
			}
		})
	}
}

// TestWideDirectory puts 1000 files (and a long collision series) into
// one directory, which then spans many clusters.
func TestWideDirectory(t *testing.T) {
	tt := ttree{}
	for i := range 1000 {
		var name string
		switch i % 4 {
		case 0:
			name = fmt.Sprintf("f%d.txt", i)
		case 1:
			name = fmt.Sprintf("A Rather Long Name Number %d.text", i)
		case 2:
			name = fmt.Sprintf("LONGNAME%d.TXT", i)
		case 3:
			name = fmt.Sprintf("x%dy.DaT", i)
		}
		tt["wide/"+name] = &tfile{data: []byte(name), mtime: testTime}
	}
	img, p := writeImage(t, tt.inodes(), testOptions(40*mib, 512))
	var wide *dirNode
	for _, d := range p.tree.dirs {
		if d.path == "/wide" {
			wide = d
		}
	}
	if n := p.dirClus[wide.idx].count; n < 50 {
		t.Fatalf("directory of %d clusters", n)
	}
	checkImage(t, img, tt, 512)
}

// TestDeterminism writes the same tree with 1 and 8 workers, with
// GOMAXPROCS 1 and 8, and with every directory's entries shuffled: the
// bytes must not change.
func TestDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	tt := randomTree(r, 300, 2_000_000)
	opts := testOptions(48*mib, 512)
	write := func(root *Inode, workers, procs int) []byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		o := opts
		o.Workers = workers
		disk := memdisk.Disk(make([]byte, opts.Size))
		if err := Write(context.Background(), disk, 0, root, o); err != nil {
			t.Fatal(err)
		}
		return disk
	}
	ref := write(tt.inodes(), 1, 1)
	var shuffle func(in *Inode)
	shuffle = func(in *Inode) {
		r.Shuffle(len(in.Entries), func(i, j int) { in.Entries[i], in.Entries[j] = in.Entries[j], in.Entries[i] })
		for _, e := range in.Entries {
			if e.Inode.Kind == Dir {
				shuffle(e.Inode)
			}
		}
	}
	for _, c := range []struct{ workers, procs int }{{8, 8}, {0, 8}, {3, 1}} {
		root := tt.inodes()
		shuffle(root)
		if got := write(root, c.workers, c.procs); !bytes.Equal(got, ref) {
			t.Fatalf("workers %d, GOMAXPROCS %d, shuffled: bytes differ", c.workers, c.procs)
		}
	}
}

// TestRegionOffset writes into the middle of a larger disk (as into a
// partition): nothing outside the region may change, and the region is
// the same file system as one written at offset 0.
func TestRegionOffset(t *testing.T) {
	tt := namesTree(false)
	opts := testOptions(36*mib, 512)
	at0 := memdisk.Disk(make([]byte, opts.Size))
	if err := Write(context.Background(), at0, 0, tt.inodes(), opts); err != nil {
		t.Fatal(err)
	}
	const off = 3*mib + 512
	disk := memdisk.Disk(make([]byte, off+opts.Size+mib))
	if err := Write(context.Background(), disk, off, tt.inodes(), opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(disk[off:off+opts.Size], at0) {
		t.Fatal("region differs from the image written at offset 0")
	}
	if bytes.ContainsFunc(disk[:off], func(r rune) bool { return r != 0 }) || bytes.ContainsFunc(disk[off+opts.Size:], func(r rune) bool { return r != 0 }) {
		t.Fatal("wrote outside the region")
	}
}

// TestMinSize checks MinSize on trees of several sizes: the result lays
// out, 4 KiB less does not, and it is the first fitting size a scan of
// every 4 KiB step finds (for the small trees).
func TestMinSize(t *testing.T) {
	for _, c := range []struct {
		S     int
		files int
		size  int // bytes per file
		scan  bool
	}{
		{512, 0, 0, true},
		{512, 3, 1000, true},
		{512, 40, 50_000, true},      // FAT12
		{512, 40, 300_000, true},     // FAT16
		{512, 70, 500_000, false},    // FAT32 with 512-byte clusters
		{512, 2000, 2_000, false},    // too many for a FAT16 root: FAT32
		{512, 30, 10_000_000, false}, // beyond 260 MiB: 4 KiB clusters
		{4096, 0, 0, true},
		{4096, 10, 3_000_000, true},   // FAT12
		{4096, 10, 10_000_000, true},  // FAT16
		{4096, 20, 14_000_000, false}, // FAT32
	} {
		t.Run(fmt.Sprintf("%d-%dx%d", c.S, c.files, c.size), func(t *testing.T) {
			root := dir()
			for i := range c.files {
				root.Entries = append(root.Entries, Entry{fmt.Sprintf("file number %d", i), &Inode{Kind: Regular, Size: int64(c.size)}})
			}
			opts := testOptions(0, c.S)
			m, err := MinSize(context.Background(), root, opts)
			if err != nil {
				t.Fatal(err)
			}
			if m%4096 != 0 {
				t.Fatalf("MinSize %d is not a multiple of 4096", m)
			}
			opts.Size = m
			p, err := Layout(context.Background(), root, opts)
			if err != nil {
				t.Fatalf("at MinSize %d: %v", m, err)
			}
			st := p.Stats()
			t.Logf("MinSize %d: %v, %d-byte clusters, %d of %d used", m, st.Type, st.ClusterSize, st.UsedClusters, st.Clusters)
			opts.Size = m - 4096
			if _, err := Layout(context.Background(), root, opts); !errors.Is(err, ErrNoSpace) {
				t.Fatalf("at %d: %v, want ErrNoSpace", m-4096, err)
			}
			if c.scan {
				for s := int64(4096); s < m; s += 4096 {
					opts.Size = s
					if _, err := Layout(context.Background(), root, opts); err == nil {
						t.Fatalf("fits at %d, below MinSize %d", s, m)
					}
				}
			}
			m32, err := MinSizeFAT32(context.Background(), root, opts)
			if err != nil {
				t.Fatal(err)
			}
			opts.Size = m32
			if p, err := Layout(context.Background(), root, opts); err != nil || p.Stats().Type != FAT32 {
				t.Fatalf("at MinSizeFAT32 %d: %v", m32, err)
			}
			opts.Size = m32 - 4096
			if p, err := Layout(context.Background(), root, opts); err == nil && p.Stats().Type == FAT32 {
				t.Fatalf("a FAT32 at %d, below MinSizeFAT32 %d", m32-4096, m32)
			}
			if m32 < m || m32 < MinFAT32Size(c.S) || st.Type == FAT32 && m32 != m {
				t.Fatalf("MinSizeFAT32 %d, MinSize %d (%v)", m32, m, st.Type)
			}
			if c.files <= 40 {
				opts.Size = m
				img, _ := writeImage(t, root, opts)
				fsckClean(t, img)
			}
		})
	}
}

// TestMinSizeMonotone checks the premise of MinSize's search: within one
// FAT type and cluster size, a larger size never has fewer clusters.
func TestMinSizeMonotone(t *testing.T) {
	for _, S := range []uint32{512, 4096} {
		var prev geometry
		for s := int64(4096); s <= 2200*mib; s += 4096 {
			if s > 300*mib && S == 512 || s > 64*mib && s < 2040*mib && S == 4096 {
				s += 61 * 4096 // sample the long stretches
			}
			g, ok := chooseGeometry(s, S, true)
			if !ok {
				continue
			}
			if prev.typ == g.typ && prev.secPerClus == g.secPerClus && prev.spt == g.spt && g.clusters < prev.clusters {
				t.Fatalf("%d-byte sectors, %d bytes: %d clusters, fewer than %d just below", S, s, g.clusters, prev.clusters)
			}
			prev = g
		}
	}
}

// TestSharedInode: FAT has no hard links, so a regular *Inode under two
// names becomes two independent copies.
func TestSharedInode(t *testing.T) {
	data := bytes.Repeat([]byte("ab"), 2500)
	shared := &Inode{Kind: Regular, Size: int64(len(data)), Data: Bytes(data), Mtime: testTime}
	sub := dir(Entry{"two", shared})
	sub.Mtime = testTime
	img, p := writeImage(t, dir(Entry{"one", shared}, Entry{"d", sub}), testOptions(40*mib, 512))
	if len(p.tree.files) != 2 || p.fileClus[0].first == p.fileClus[1].first {
		t.Fatalf("files not copied apart")
	}
	tt := ttree{"one": {data: data, mtime: testTime}, "d/two": {data: data, mtime: testTime}}
	checkImage(t, img, tt, 512)
}

// TestRelayout: LayoutMin plans MinSize; Relayout gives the bytes Layout
// gives at the new size, and leaves the first plan as it was.
func TestRelayout(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	tt := randomTree(r, 100, 200_000)
	opts := testOptions(0, 512)
	write := func(p *Plan) []byte {
		disk := memdisk.Disk(make([]byte, p.opts.Size))
		if err := p.Write(context.Background(), disk, 0); err != nil {
			t.Fatal(err)
		}
		return disk
	}
	pmin, err := LayoutMin(context.Background(), tt.inodes(), opts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := MinSize(context.Background(), tt.inodes(), opts)
	if err != nil || pmin.opts.Size != m {
		t.Fatalf("LayoutMin at %d, MinSize %d (%v)", pmin.opts.Size, m, err)
	}
	before := write(pmin)
	for _, size := range []int64{m + 4096, 40 * mib, 64 * mib} {
		p2, err := pmin.Relayout(context.Background(), size)
		if err != nil {
			t.Fatal(err)
		}
		o := opts
		o.Size = size
		p3, err := Layout(context.Background(), tt.inodes(), o)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(write(p2), write(p3)) {
			t.Fatalf("%d bytes: Relayout and Layout differ", size)
		}
	}
	if !bytes.Equal(write(pmin), before) {
		t.Fatal("Relayout changed the first plan")
	}
	if _, err := pmin.Relayout(context.Background(), 16*kib); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Relayout to 16 KiB: %v", err)
	}
}
