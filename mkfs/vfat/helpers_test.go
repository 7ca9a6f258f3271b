package vfat

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

const testVolumeID = 0x3057d4fe

var testTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// mkfsInvariantTime is the time `mkfs.fat --invariant` stamps on the
// volume label entry.
var mkfsInvariantTime = time.Unix(1426325213, 0)

func testOptions(size int64, sectorSize int) Options {
	return Options{Size: size, SectorSize: sectorSize, VolumeID: testVolumeID, Label: "ESP", Time: testTime}
}

// newImage makes an empty sparse file of size bytes.
func newImage(t testing.TB, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fat.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeImage writes root into a new sparse file of opts.Size bytes and
// returns its path and the plan.
func writeImage(t testing.TB, root *Inode, opts Options) (string, *Plan) {
	t.Helper()
	path := newImage(t, opts.Size)
	p, err := Layout(context.Background(), root, opts)
	if err != nil {
		t.Fatalf("Layout: %v", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := p.Write(context.Background(), f, 0); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return path, p
}

// dataEnd is the end of the last data run of the file at path.
func dataEnd(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	runs, err := imagefile.DataRuns(int(f.Fd()), st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) == 0 {
		return 0
	}
	r := runs[len(runs)-1]
	return r.Offset + r.Length
}

// readRange reads n bytes at off of the file at path.
func readRange(t testing.TB, path string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}

// fsckClean and fsckStable are the shared fsck.fat checks.
func fsckClean(t testing.TB, img string) {
	t.Helper()
	oracle.FsckFATClean(t, img)
}

func fsckStable(t testing.TB, img string) {
	t.Helper()
	oracle.FsckFATStable(t, img)
}
