package ext4

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
	"golang.org/x/sys/unix"
)

func growFile(t *testing.T, p string, size int64) {
	t.Helper()
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
}

// TestReadWriteMount lets the kernel change the file system (new files,
// an insert into an htree directory, deletions, renames, xattrs) and
// checks that e2fsck still finds it clean.
func TestReadWriteMount(t *testing.T) {
	for _, typ := range []string{"ext4", "ext3", "ext2"} {
		t.Run(typ, func(t *testing.T) { testReadWriteMount(t, typ) })
	}
}

func testReadWriteMount(t *testing.T, typ string) {
	oracle.RequireRoot(t)
	mount, umount := oracle.Require(t, "mount"), oracle.Require(t, "umount")
	root := richTree()
	big := dirNode(0o755)
	for i := range 5000 {
		big.Entries = append(big.Entries, Entry{fmt.Sprint("e", i), fileNode(0o644, []byte{byte(i)})})
	}
	root.Entries = append(root.Entries, Entry{"big", big})
	opts := testOptions(128 << 20)
	opts.Inodes = 20000
	opts.Type = typ
	img := writeImage(t, root, opts)
	dir := t.TempDir()
	if _, e, err := oracle.Run(t, mount, "-t", typ, "-o", "loop", img, dir); err != nil {
		t.Fatalf("mount: %v\n%s", err, e)
	}
	mounted := true
	defer func() {
		if mounted {
			oracle.Run(t, umount, dir)
		}
	}()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3000 {
		must(os.WriteFile(filepath.Join(dir, "big", fmt.Sprint("new", i)), []byte("new"), 0o644))
	}
	for i := 0; i < 5000; i += 3 {
		must(os.Remove(filepath.Join(dir, "big", fmt.Sprint("e", i))))
	}
	must(os.MkdirAll(filepath.Join(dir, "a/b/c"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "a/b/c/big"), randBytes(randSource(3), 5<<20), 0o644))
	must(os.Rename(filepath.Join(dir, "small"), filepath.Join(dir, "a/small")))
	must(os.RemoveAll(filepath.Join(dir, "hard")))
	must(unix.Setxattr(filepath.Join(dir, "xattr/shared1"), "user.added", []byte("x"), 0))
	must(os.Remove(filepath.Join(dir, "xattr/shared2")))
	if _, e, err := oracle.Run(t, umount, dir); err != nil {
		t.Fatalf("umount: %v\n%s", err, e)
	}
	mounted = false
	fsckClean(t, img)
}

// TestResize2fsGrow grows a file system offline, within its descriptor
// block and beyond it (no resize_inode: resize2fs moves blocks instead).
func TestResize2fsGrow(t *testing.T) {
	resize := oracle.Require(t, "resize2fs")
	root := richTree()
	for _, size := range []int64{1 << 30, 20 << 30} {
		t.Run(fmt.Sprint(size>>30, "GiB"), func(t *testing.T) {
			img := writeImage(t, root, testOptions(64<<20))
			growFile(t, img, size)
			if out, e, err := oracle.Run(t, resize, img); err != nil {
				t.Fatalf("resize2fs: %v\n%s%s", err, out, e)
			}
			fsckClean(t, img)
			h := dumpe2fsHeader(t, img)
			if h["Block count"] != fmt.Sprint(size/BlockSize) {
				t.Errorf("block count %s after growing to %d bytes", h["Block count"], size)
			}
			compareTree(t, mountRO(t, img), root, viaMount)
		})
	}
}
