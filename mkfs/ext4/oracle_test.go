package ext4

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

var (
	testUUID = [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	testSeed = [16]byte{0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}
	testTime = time.Unix(1700000000, 0)
)

func testOptions(size int64) Options {
	return Options{Size: size, Label: "test", UUID: testUUID, HashSeed: testSeed, Time: testTime}
}

// writeImage writes root into a new sparse file of opts.Size bytes.
func writeImage(t testing.TB, root *Inode, opts Options) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fs.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(opts.Size); err != nil {
		t.Fatal(err)
	}
	if err := Write(context.Background(), f, 0, root, opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return path
}

// writePlanImage writes p into a new sparse file of its size.
func writePlanImage(t testing.TB, p *Plan) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fs.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(p.size); err != nil {
		t.Fatal(err)
	}
	if err := p.Write(context.Background(), f, 0); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return path
}

// fsckClean and fsckStable are the shared e2fsck checks.
func fsckClean(t testing.TB, fs string) {
	t.Helper()
	oracle.E2fsckClean(t, fs)
}

func fsckStable(t testing.TB, fs string) {
	t.Helper()
	oracle.E2fsckStable(t, fs)
}

func copySparse(t testing.TB, from, to string) {
	t.Helper()
	oracle.CopySparse(t, from, to)
}

// debugfs runs one debugfs request and returns its output.
func debugfs(t testing.TB, fs, req string) string {
	t.Helper()
	return oracle.Debugfs(t, fs, req)
}

// dumpe2fsHeader returns `dumpe2fs -h` as a map of field to value.
func dumpe2fsHeader(t testing.TB, fs string) map[string]string {
	t.Helper()
	return oracle.Dumpe2fsHeader(t, fs)
}

// mountRO loop-mounts img read-only (as root) and returns the mount point;
// it is unmounted when the test ends.
func mountRO(t testing.TB, img string) string {
	t.Helper()
	return mountType(t, img, "ext4")
}

// mountType is mountRO with the given file system type.
func mountType(t testing.TB, img, typ string) string {
	t.Helper()
	oracle.RequireRoot(t)
	bin := oracle.Require(t, "mount")
	umount := oracle.Require(t, "umount")
	dir := t.TempDir()
	if _, errOut, err := oracle.Run(t, bin, "-t", typ, "-o", "loop,ro", img, dir); err != nil {
		t.Fatalf("mount -o loop,ro %s: %v\n%s", img, err, errOut)
	}
	t.Cleanup(func() {
		if _, errOut, err := oracle.Run(t, umount, dir); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, errOut)
		}
	})
	return dir
}
