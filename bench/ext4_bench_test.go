package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	src "github.com/hermetic-repart/hermetic-repart/bench/workload"
	"github.com/hermetic-repart/hermetic-repart/repart"
)

// ext4Params is the workload of the Go-side ext4 benchmarks: small enough
// to generate in a second, large enough for the per-entry and per-byte
// costs to dominate. bench/ext4-compare.sh times larger trees against
// mke2fs and tar.
var ext4Params = src.Params{Entries: 10000, Bytes: 64 << 20, Seed: 1}

// ext4Workload is a generated tree and the definitions that copy it into
// one ext4 root partition.
type ext4Workload struct {
	tree, defs, image string
	stats             src.Stats
}

// newExt4Workload generates the tree of p under dir and writes a
// definition of a fixed partition size: the data with some slack, inode
// tables for the entries and a journal (Minimize= would measure the
// sizing step too, which is not what this is about).
func newExt4Workload(tb testing.TB, dir string, p src.Params) ext4Workload {
	tb.Helper()
	w := ext4Workload{tree: filepath.Join(dir, "tree"), defs: filepath.Join(dir, "defs"), image: filepath.Join(dir, "image.raw")}
	var err error
	if w.stats, err = src.Generate(w.tree, p); err != nil {
		tb.Fatal(err)
	}
	size := (w.stats.ApparentBytes*11/10 + int64(w.stats.Entries)*4096 + 192<<20 + 1<<20 - 1) &^ (1<<20 - 1)
	conf := fmt.Sprintf("[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\nSizeMinBytes=%d\nSizeMaxBytes=%d\n", size, size)
	if err := os.Mkdir(w.defs, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.defs, "10-root.conf"), []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	return w
}

func (w ext4Workload) options() repart.Options {
	return repart.Options{
		Definitions:  []string{w.defs},
		Image:        w.image,
		Empty:        repart.EmptyCreate,
		SizeAuto:     true,
		Seed:         &benchSeed,
		Architecture: "x86-64",
		CopySource:   w.tree,
	}
}

// reportPerEntry adds time per entry to the benchmark's output.
func reportPerEntry(b *testing.B, entries int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(entries), "ns/entry")
}

// BenchmarkExt4Build measures the whole library pipeline of an image
// with one ext4 root partition: definitions, the scan of the source tree
// (fstree), the ext4 layout, and writing the image (GPT, metadata and a
// copy of every data byte, fsync included). The image is removed between
// iterations, untimed.
func BenchmarkExt4Build(b *testing.B) {
	w := newExt4Workload(b, b.TempDir(), ext4Params)
	b.SetBytes(w.stats.DataBytes)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := repart.Build(b.Context(), w.options()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.Remove(w.image); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportPerEntry(b, w.stats.Entries)
}

// BenchmarkExt4Plan is the part of BenchmarkExt4Build that writes
// nothing: definitions, the scan and the ext4 layout (a dry run).
func BenchmarkExt4Plan(b *testing.B) {
	w := newExt4Workload(b, b.TempDir(), ext4Params)
	o := w.options()
	o.DryRun = true
	b.SetBytes(w.stats.DataBytes)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := repart.Build(b.Context(), o); err != nil {
			b.Fatal(err)
		}
	}
	reportPerEntry(b, w.stats.Entries)
}

// TestExt4Workload checks the benchmark's setup once in plain "go test"
// runs, on a tiny tree: the definitions load and the image is written.
func TestExt4Workload(t *testing.T) {
	w := newExt4Workload(t, t.TempDir(), src.Params{Entries: 300, Bytes: 1 << 20, Seed: 2})
	res, err := repart.Build(context.Background(), w.options())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Written || len(res.Partitions) != 1 || res.Partitions[0].Def.Format != "ext4" {
		t.Fatalf("result %+v", res)
	}
	if st, err := os.Stat(w.image); err != nil || st.Size() != int64(res.Size) {
		t.Fatalf("image: %v, %v", st, err)
	}
}
