package ext4

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// TestGeometryMatchesMke2fs compares an empty file system with what
// mke2fs makes for the same size and features: same block and inode
// counts, journal, overhead and free space.
func TestGeometryMatchesMke2fs(t *testing.T) {
	mke2fs := oracle.Require(t, "mke2fs")
	for _, size := range []int64{
		4 << 20, 64 << 20, 300 << 20, (128 << 20) + 4096*60, (128 << 20) + 4096*700,
		1 << 30, 5<<30 + 12345, 10 << 30, 70 << 30,
	} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ref := filepath.Join(t.TempDir(), "ref.img")
			f, err := os.Create(ref)
			if err != nil {
				t.Fatal(err)
			}
			f.Truncate(size)
			f.Close()
			if _, errOut, err := oracle.Run(t, mke2fs, "-q", "-F", "-t", "ext4", "-b", "4096", "-T", "default", "-m", "0",
				"-O", "^resize_inode", "-E", "nodiscard,root_owner=0:0", ref); err != nil {
				t.Fatalf("mke2fs: %v\n%s", err, errOut)
			}
			img := writeImage(t, emptyRoot(), testOptions(size))
			fsckClean(t, img)
			want, got := dumpe2fsHeader(t, ref), dumpe2fsHeader(t, img)
			// Our journal follows the inode tables and may cross a backup
			// superblock, which mke2fs avoids by putting it mid-disk: an
			// extent tree block more at most.
			p, err := Layout(context.Background(), emptyRoot(), testOptions(size))
			if err != nil {
				t.Fatal(err)
			}
			if p.journal != nil {
				var free uint64
				fmt.Sscan(got["Free blocks"], &free)
				_, tree := p.place(p.journal)
				got["Free blocks"] = fmt.Sprint(free + uint64(len(tree)))
			}
			for _, k := range []string{"Filesystem features", "Inode count", "Block count", "Inodes per group",
				"Inode blocks per group", "Free blocks", "Free inodes", "Overhead clusters", "Total journal blocks",
				"Flex block group size", "Default mount options", "Filesystem flags", "Required extra isize"} {
				if want[k] != got[k] {
					t.Errorf("%s: %q, mke2fs %q", k, got[k], want[k])
				}
			}
		})
	}
}
