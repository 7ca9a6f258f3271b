package imagefile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func allocated(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func TestCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "img.raw")
	f, err := Create(target, 1<<30, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("hello"), 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("target visible before Commit")
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // no effect after Commit
	if st, err := os.Stat(target); err != nil || st.Size() != 1<<30 {
		t.Fatalf("after commit: %v %v", st, err)
	}
	if a := allocated(t, target); a > 1<<20 {
		t.Errorf("1 GiB image allocates %d bytes: not sparse", a)
	}
	// Without Replace, an existing target is never overwritten.
	g, _ := Create(target, 4096, Options{})
	if err := g.Commit(); !errors.Is(err, os.ErrExist) {
		t.Errorf("commit over existing file without Replace: %v", err)
	}
	h, _ := Create(target, 4096, Options{Replace: true})
	if err := h.Commit(); err != nil {
		t.Errorf("commit with Replace: %v", err)
	}
	k, _ := Create(filepath.Join(dir, "other.raw"), 4096, Options{})
	k.Abort()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left %v", entries)
	}
}

func TestCopyRangeKeepsHoles(t *testing.T) {
	dir := t.TempDir()
	src, _ := os.Create(filepath.Join(dir, "src"))
	src.WriteAt(bytes.Repeat([]byte{1}, 8192), 0)
	src.WriteAt(bytes.Repeat([]byte{2}, 4096), 16<<20)
	src.Truncate(32 << 20)
	dst, _ := os.Create(filepath.Join(dir, "dst"))
	dst.Truncate(64 << 20)
	if err := CopyRange(context.Background(), dst, 1<<20, src, 0, 32<<20); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 32<<20)
	dst.ReadAt(got, 1<<20)
	want := make([]byte, 32<<20)
	src.ReadAt(want, 0)
	if !bytes.Equal(got, want) {
		t.Error("copied bytes differ")
	}
	if a := allocated(t, dst.Name()); a > 1<<20 {
		t.Errorf("destination allocates %d bytes: holes were filled", a)
	}
	// Copying from the middle of a file, ending inside a data run.
	dst2, _ := os.Create(filepath.Join(dir, "dst2"))
	if err := CopyRange(context.Background(), dst2, 0, src, 4096, 16<<20); err != nil {
		t.Fatal(err)
	}
	dst2.Truncate(16 << 20)
	got2 := make([]byte, 16<<20)
	dst2.ReadAt(got2, 0)
	if !bytes.Equal(got2, want[4096:4096+16<<20]) {
		t.Error("partial copy differs")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := CopyRange(ctx, dst, 0, src, 0, 32<<20); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled copy: %v", err)
	}
}

// plainWriter hides the file behind a writer, forcing read and pwrite.
type plainWriter struct{ f *os.File }

func (w plainWriter) WriteAt(p []byte, off int64) (int, error) { return w.f.WriteAt(p, off) }

func TestCopyDataSkipsZeros(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 4<<20)
	copy(data[1<<20:], "x")
	src := filepath.Join(dir, "src")
	os.WriteFile(src, data, 0o644)
	in, _ := os.Open(src)
	defer in.Close()
	dst, _ := os.Create(filepath.Join(dir, "dst"))
	dst.Truncate(8 << 20)
	if err := CopyData(context.Background(), plainWriter{dst}, 0, in, 0, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	dst.ReadAt(got, 0)
	if !bytes.Equal(got, data) {
		t.Error("copied bytes differ")
	}
	if a := allocated(t, dst.Name()); a > 64<<10 {
		t.Errorf("zero blocks were written: %d bytes allocated", a)
	}
	for _, w := range []io.WriterAt{plainWriter{dst}, dst} {
		if err := CopyData(context.Background(), w, 0, in, 0, int64(len(data))+200); err == nil || !strings.Contains(err.Error(), "ended 200 bytes early") {
			t.Errorf("%T: short source: %v", w, err)
		}
	}
}

func TestDataRuns(t *testing.T) {
	f, _ := os.Create(filepath.Join(t.TempDir(), "f"))
	defer f.Close()
	f.WriteAt([]byte{1}, 0)
	f.WriteAt([]byte{2}, 4096)
	f.WriteAt([]byte{3}, 1<<20)
	f.Truncate(4 << 20)
	runs, err := DataRuns(int(f.Fd()), 4<<20)
	want := []Run{{0, 8192}, {1 << 20, 4096}}
	if err != nil || fmt.Sprint(runs) != fmt.Sprint(want) {
		t.Errorf("runs %v, %v; want %v (adjacent runs merged)", runs, err, want)
	}
	if runs, _ := DataRuns(int(f.Fd()), 100); fmt.Sprint(runs) != "[{0 100}]" {
		t.Errorf("runs clipped to 100 bytes: %v", runs)
	}
	for _, c := range []struct {
		from, to int64
		want     string
	}{
		{100, 4 << 20, "[{100 8092} {1048576 4096}]"}, // starts inside a run
		{8192, 1 << 20, "[]"},                         // only a hole
		{8192, 1<<20 + 10, "[{1048576 10}]"},
	} {
		if runs, err := DataRunsIn(int(f.Fd()), c.from, c.to); err != nil || fmt.Sprint(runs) != c.want {
			t.Errorf("DataRunsIn(%d, %d) = %v, %v; want %s", c.from, c.to, runs, err, c.want)
		}
	}
}
