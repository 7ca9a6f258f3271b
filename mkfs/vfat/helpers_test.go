package vfat

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// fsckOK matches fsck.fat's normal output; any other line reports a
// problem (or a notice worth failing on).
var fsckOK = regexp.MustCompile(`^(fsck\.fat [0-9.]+ \(.*\)|.*: \d+ files?, \d+/\d+ clusters|)$`)

// fsckClean runs fsck.fat -n and fails the test unless it exits 0 and
// prints nothing but its banner and summary.
func fsckClean(t testing.TB, img string) {
	t.Helper()
	bin := oracle.Require(t, "fsck.fat")
	out, errOut, err := oracle.Run(t, bin, "-n", img)
	all := out + errOut
	if oracle.ExitCode(err) != 0 {
		t.Fatalf("fsck.fat -n: exit %d\n%s", oracle.ExitCode(err), all)
	}
	for _, l := range strings.Split(all, "\n") {
		if !fsckOK.MatchString(l) {
			t.Fatalf("fsck.fat -n reports: %q\n%s", l, all)
		}
	}
}

// fsckStable runs fsck.fat -a on a copy and fails unless the copy is
// byte-identical afterwards.
func fsckStable(t testing.TB, img string) {
	t.Helper()
	bin := oracle.Require(t, "fsck.fat")
	cp := img + ".a"
	copyFile(t, img, cp)
	defer os.Remove(cp)
	out, errOut, err := oracle.Run(t, bin, "-a", cp)
	if oracle.ExitCode(err) != 0 {
		t.Fatalf("fsck.fat -a: exit %d\n%s%s", oracle.ExitCode(err), out, errOut)
	}
	if !sameFiles(t, img, cp) {
		t.Fatalf("fsck.fat -a changed the image:\n%s%s", out, errOut)
	}
}

// copyFile copies src to dst, keeping holes.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := out.Truncate(st.Size()); err != nil {
		t.Fatal(err)
	}
	if err := imagefile.CopyRange(context.Background(), out, 0, in, 0, st.Size()); err != nil {
		t.Fatal(err)
	}
}

// sameFiles compares two files' bytes.
func sameFiles(t testing.TB, a, b string) bool {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); ; off += int64(len(ba)) {
		na, ea := fa.ReadAt(ba, off)
		nb, eb := fb.ReadAt(bb, off)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		if ea == io.EOF || eb == io.EOF {
			return ea == eb
		}
		if ea != nil || eb != nil {
			t.Fatal(ea, eb)
		}
	}
}
