package vfat

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// benchTree is a synthetic ESP-like tree of n small files with long
// names in directories of 500 entries.
func benchTree(n int) (ttree, int64) {
	r := rand.New(rand.NewPCG(5, 5))
	data := make([]byte, 16384)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	tt := ttree{}
	var total int64
	for i := range n {
		sz := (i * 37) % len(data)
		total += int64(sz)
		tt[fmt.Sprintf("dir-%04d/Kernel Module %06d.efi", i/500, i)] = &tfile{data: data[:sz], mtime: time.Unix(1700000000+int64(i), 0)}
	}
	return tt, total
}

func BenchmarkWrite20k(b *testing.B) {
	tt, total := benchTree(20000)
	root := tt.inodes()
	opts := testOptions(512<<20, 512)
	path := filepath.Join(b.TempDir(), "fat.img")
	b.SetBytes(total)
	b.ReportAllocs()
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

// BenchmarkMkfsMcopy1k is the pipeline systemd-repart runs for the same
// kind of tree (mkfs.vfat, then mcopy -s -m from a directory), for
// comparison with BenchmarkWrite1k.
func BenchmarkMkfsMcopy1k(b *testing.B) {
	mkfs := oracle.Require(b, "mkfs.vfat")
	mcopy := oracle.Require(b, "mcopy")
	tt, total := benchTree(1000)
	src := b.TempDir()
	for p, f := range tt {
		full := filepath.Join(src, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, f.data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.Setenv("MTOOLS_SKIP_CHECK", "1")
	b.Setenv("TZ", "UTC")
	img := filepath.Join(b.TempDir(), "fat.img")
	entries, _ := filepath.Glob(filepath.Join(src, "*"))
	b.SetBytes(total)
	for b.Loop() {
		os.Remove(img)
		f, _ := os.Create(img)
		f.Truncate(512 << 20)
		f.Close()
		if _, e, err := oracle.Run(b, mkfs, "-i", "3057d4fe", "-n", "ESP", "-F", "32", img); err != nil {
			b.Fatal(err, e)
		}
		if _, e, err := oracle.Run(b, mcopy, append([]string{"-s", "-p", "-Q", "-m", "-i", img}, append(entries, "::")...)...); err != nil {
			b.Fatal(err, e)
		}
	}
}

func BenchmarkWrite1k(b *testing.B) {
	tt, total := benchTree(1000)
	root := tt.inodes()
	opts := testOptions(512<<20, 512)
	path := filepath.Join(b.TempDir(), "fat.img")
	b.SetBytes(total)
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
