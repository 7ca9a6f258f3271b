package ext4

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func emptyRoot() *Inode {
	return &Inode{Kind: Dir, Perm: 0o755, Atime: testTime, Mtime: testTime, Ctime: testTime, Crtime: testTime}
}

func TestEmptyFileSystems(t *testing.T) {
	for _, size := range []int64{
		4 << 20,               // no journal (< 2048 blocks)
		64 << 20,              // one group, 1024-block journal
		(128 << 20) + 4096*60, // a second group of 60 blocks: dropped? (overhead+50)
		1 << 30,               // 8 groups, as the reference above
		5 << 30,               // 40 groups, backups up to 27
		10 << 30,              // 80 groups: two descriptor blocks, flex groups of 16
	} {
		t.Run(fmt.Sprint(size>>20, "MiB"), func(t *testing.T) {
			img := writeImage(t, emptyRoot(), testOptions(size))
			fsckClean(t, img)
			fsckStable(t, img)
			h := dumpe2fsHeader(t, img)
			want := "ext_attr dir_index filetype extent 64bit flex_bg sparse_super large_file huge_file dir_nlink extra_isize metadata_csum"
			if size >= 8<<20 {
				want = "has_journal " + want
			}
			if got := h["Filesystem features"]; got != want {
				t.Errorf("features = %q, want %q", got, want)
			}
			if h["Filesystem volume name"] != "test" || h["Filesystem UUID"] != "01234567-89ab-cdef-0123-456789abcdef" ||
				h["Directory Hash Seed"] != "fedcba98-7654-3210-fedc-ba9876543210" || h["Reserved block count"] != "0" {
				t.Errorf("header: %v", h)
			}
			if !strings.HasPrefix(h["Filesystem created"], "Tue Nov 14") {
				t.Errorf("created %q", h["Filesystem created"])
			}
			dir := mountRO(t, img)
			ents, err := os.ReadDir(dir)
			if err != nil || len(ents) != 1 || ents[0].Name() != "lost+found" {
				t.Errorf("root holds %v (%v), want lost+found only", ents, err)
			}
		})
	}
}
