package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
	"github.com/hermetic-repart/hermetic-repart/internal/treecmp"
)

// ext4MaxFile is the largest file ext4 holds with 4 KiB blocks and
// extents: 2^32 - 1 blocks (the kernel's s_maxbytes).
const ext4MaxFile = (1<<32 - 1) * 4096

// TestExt4Limits takes sources from a tmpfs, which holds what ext4 cannot:
// files beyond ext4's maximum size, times outside its range, xattrs that
// need more than one block. What ext4 can hold at its limits must come
// out exactly; what it cannot must be refused with the file named, or (for
// times, as documented in mkfs/ext4) clamped to the range e2fsck accepts.
func TestExt4Limits(t *testing.T) {
	oracle.RequireRoot(t)
	t.Run("largest file", func(t *testing.T) {
		src := filepath.Join(mountTmpfs(t, "16M"), "src")
		os.Mkdir(src, 0o755)
		makeTree(t, src, []srcNode{
			{path: ".", kind: 'd', perm: 0o755},
			{path: "max", kind: 'f', perm: 0o644, size: ext4MaxFile, runs: []imagefile.Run{{Offset: 0, Length: 10}, {Offset: ext4MaxFile - 4096, Length: 4096}}},
		}, nil)
		dir := t.TempDir()
		writeDefs(t, dir, map[string]string{"10-a.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\n"})
		parts := buildImage(t, dir, "img.raw", src, nil)
		img := filepath.Join(dir, "img.raw")
		fsckClean(t, extractPart(t, img, parts[0]))
		mnt, _ := mountPart(t, img, parts[0], "ro")
		reportDiffs(t, "largest file", treecmp.Diff(scanTree(t, src, nil), scanTree(t, mnt, nil), treecmp.Options{
			Fields: treecmp.All, Expect: expectImage(false, nil), Ignore: isLostFound,
		}))
	})

	t.Run("times out of range", func(t *testing.T) {
		src := filepath.Join(mountTmpfs(t, "16M"), "src")
		os.Mkdir(src, 0o755)
		far, early := unix.Timespec{Sec: 16_000_000_000, Nsec: 5}, unix.Timespec{Sec: -9_000_000_000, Nsec: 5}
		makeTree(t, src, []srcNode{
			{path: ".", kind: 'd', perm: 0o755},
			{path: "far", kind: 'f', perm: 0o644, mtime: far},
			{path: "early", kind: 'f', perm: 0o644, mtime: early},
		}, nil)
		dir := t.TempDir()
		writeDefs(t, dir, map[string]string{"10-a.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\n"})
		parts := buildImage(t, dir, "img.raw", src, nil)
		img := filepath.Join(dir, "img.raw")
		fsckClean(t, extractPart(t, img, parts[0]))
		mnt, _ := mountPart(t, img, parts[0], "ro")
		got := scanTree(t, mnt, nil)
		// ext4 spans 1901-12-13 to 2446, but e2fsck takes times after
		// 2310-04-04 for pre-1970 ones (mkfs/ext4/tree.go).
		const last = 1<<31 - 1 + 2<<32
		if m := got.Entries["far"].Mtime; m.Sec > last || m.Sec < last-1 {
			t.Errorf("mtime %d.%09d of a file from the year 2477, want it clamped to 2310-04-04 (%d)", m.Sec, m.Nsec, last)
		}
		if m := got.Entries["early"].Mtime; m.Sec != -1<<31 {
			t.Errorf("mtime %d.%09d of a file from 1684, want it clamped to 1901-12-13 (%d)", m.Sec, m.Nsec, -1<<31)
		}
		reportDiffs(t, "clamped times", treecmp.Diff(got, got, treecmp.Options{Fields: treecmp.Times, Ignore: isLostFound}))
	})

	for _, tt := range []struct {
		name string
		node srcNode
		msg  string
	}{
		{"file over the largest size", srcNode{path: "too-big", kind: 'f', perm: 0o644, size: ext4MaxFile + 4096,
			runs: []imagefile.Run{{Offset: 0, Length: 1}}}, "/too-big"},
		{"xattr over a block", srcNode{path: "big-xattr", kind: 'f', perm: 0o644,
			xattrs: map[string]string{"user.big": strings.Repeat("v", 10000)}}, "/big-xattr"},
		{"xattrs over a block together", srcNode{path: "many-xattrs", kind: 'f', perm: 0o644,
			xattrs: manyXattrs(100, 60)}, "/many-xattrs"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(mountTmpfs(t, "16M"), "src")
			os.Mkdir(src, 0o755)
			makeTree(t, src, []srcNode{{path: ".", kind: 'd', perm: 0o755}, tt.node}, nil)
			dir := t.TempDir()
			writeDefs(t, dir, map[string]string{"10-a.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\n"})
			res := runCLI(t, dir, nil, "--empty=create", "--size=auto", seedArg, "--definitions=defs", "--copy-source="+src, "img.raw")
			def := filepath.Join(dir, "defs/10-a.conf")
			if res.code != 1 || !strings.Contains(res.stderr, def) || !strings.Contains(res.stderr, tt.msg) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and a message naming %s and %s", res.code, res.stderr, def, tt.msg)
			}
			if l := strings.Join(entriesOf(t, dir), " "); l != "defs" {
				t.Errorf("left: %s", l)
			}
		})
	}
}

func manyXattrs(n, size int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m["user.attr"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26))] = strings.Repeat("w", size)
	}
	return m
}
