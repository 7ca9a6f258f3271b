package ext4

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// benchTree is a synthetic tree of n small in-memory files in
// directories of 1000 entries.
func benchTree(n int) (*Inode, int64) {
	root := dirNode(0o755)
	var bytes int64
	data := randBytes(randSource(5), 16384)
	for d := 0; d*1000 < n; d++ {
		dir := dirNode(0o755)
		for i := 0; i < 1000 && d*1000+i < n; i++ {
			sz := (i * 37) % 16384
			bytes += int64(sz)
			dir.Entries = append(dir.Entries, Entry{fmt.Sprintf("file-%06d", i), fileNode(0o644, data[:sz])})
		}
		root.Entries = append(root.Entries, Entry{fmt.Sprintf("dir-%04d", d), dir})
	}
	return root, bytes
}

func BenchmarkWrite100k(b *testing.B) {
	root, bytes := benchTree(100000)
	opts := testOptions(4 << 30)
	path := filepath.Join(b.TempDir(), "fs.img")
	b.SetBytes(bytes)
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Truncate(opts.Size)
		if err := Write(b.Context(), f, 0, root, opts); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkMinSize100k measures MinSize against one Layout of the same
// tree: the search prepares once and allocates a few times.
func BenchmarkMinSize100k(b *testing.B) {
	root, _ := benchTree(100000)
	opts := testOptions(4 << 30)
	b.Run("Layout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Layout(b.Context(), root, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("MinSize", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := MinSize(b.Context(), root, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLayoutMemory reports the memory a plan keeps per inode (live
// heap after Layout, less the tree's own), and the tree's own per inode.
func BenchmarkLayoutMemory(b *testing.B) {
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for b.Loop() {
		base := heap()
		root, _ := benchTree(100000)
		withTree := heap()
		p, err := Layout(b.Context(), root, testOptions(4<<30))
		if err != nil {
			b.Fatal(err)
		}
		withPlan := heap()
		inodes := float64(p.Stats().UsedInodes)
		b.ReportMetric(float64(withPlan-withTree)/inodes, "plan-B/inode")
		b.ReportMetric(float64(withTree-base)/inodes, "tree-B/inode")
		runtime.KeepAlive(root)
		runtime.KeepAlive(p)
	}
}
