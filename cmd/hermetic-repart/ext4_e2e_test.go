package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
	"github.com/hermetic-repart/hermetic-repart/internal/treecmp"
)

// rootFSUUID is the file system UUID repart 257 derives for the first
// root partition with seedArg (spec repart.md §4.3).
const rootFSUUID = "2f552d51-0e30-4275-9686-30acc38cd88c"

// realLabel is longer than the 16 bytes of an ext4 label, and 16 bytes
// fall inside a two-byte character.
const realLabel = "aäöüßäöüßäöü€"

// fsUUIDOf derives a file system UUID from a partition UUID as repart
// does: make_v4(HMAC-SHA256(key = partition UUID, "file-system-uuid")).
func fsUUIDOf(t testing.TB, part string) string {
	t.Helper()
	u, err := uuid.Parse(part)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, u[:])
	m.Write([]byte("file-system-uuid"))
	var b uuid.UUID
	copy(b[:], m.Sum(nil))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b.String()
}

// cutLabel cuts s to at most n bytes at a UTF-8 boundary.
func cutLabel(s string, n int) string {
	for len(s) > n || !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// TestExt4EndToEnd builds a root partition from realTree through the CLI
// and checks it with every oracle: e2fsck, the kernel (mounted read-only
// and compared with the source, then written to), debugfs (rdump, stat),
// dumpe2fs, blkid and resize2fs.
func TestExt4EndToEnd(t *testing.T) {
	oracle.RequireRoot(t) // the source tree has devices and foreign owners
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o755)
	nodes := realTree(20000)
	nodes[0].uid, nodes[0].gid = 1000, 1000 // the root donates its mode, not its owner
	makeTree(t, src, nodes, nil)
	want := scanTree(t, src, nil)
	writeDefs(t, dir, map[string]string{"10-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\nLabel=" + realLabel + "\nSizeMinBytes=1G\n"})
	epoch := int64(testEpoch)
	parts := buildImage(t, dir, "img.raw", src, []string{"SOURCE_DATE_EPOCH=" + strconv.Itoa(testEpoch)})
	if len(parts) != 1 {
		t.Fatalf("partitions %+v", parts)
	}
	img := filepath.Join(dir, "img.raw")
	fs := extractPart(t, img, parts[0])
	expect := func(e treecmp.Entry) treecmp.Entry {
		e = expectImage(false, &epoch)(e)
		return e
	}

	t.Run("fsck", func(t *testing.T) {
		fsckClean(t, fs)
		fsckStable(t, fs)
	})

	t.Run("ids", func(t *testing.T) {
		h := dumpe2fsHeader(t, fs)
		wantLabel := cutLabel(realLabel, 16)
		if parts[0].Label != realLabel {
			t.Errorf("GPT label %q, want %q", parts[0].Label, realLabel)
		}
		if h["Filesystem volume name"] != wantLabel || h["Filesystem UUID"] != rootFSUUID {
			t.Errorf("dumpe2fs: label %q UUID %s, want %q %s", h["Filesystem volume name"], h["Filesystem UUID"], wantLabel, rootFSUUID)
		}
		if u := fsUUIDOf(t, parts[0].UUID); u != rootFSUUID {
			t.Errorf("fs UUID derived from partition UUID %s is %s, spec says %s", parts[0].UUID, u, rootFSUUID)
		}
		blkid := oracle.Require(t, "blkid")
		for tag, want := range map[string]string{"LABEL": wantLabel, "UUID": rootFSUUID, "TYPE": "ext4"} {
			out, errOut, err := oracle.Run(t, blkid, "-p", "-O", fmt.Sprint(parts[0].Offset), "-s", tag, "-o", "value", img)
			if err != nil || strings.TrimSuffix(out, "\n") != want {
				t.Errorf("blkid -p %s: %q (%v %s), want %q", tag, out, err, errOut, want)
			}
		}
		if st := superTimes(t, fs); st != [3]int64{epoch, epoch, epoch} {
			t.Errorf("superblock write, check, creation times %v, want SOURCE_DATE_EPOCH %d", st, epoch)
		}
	})

	t.Run("holes", func(t *testing.T) {
		// debugfs reads the extent tree itself: the 5 GiB file has its
		// three runs of data (4 blocks) and nothing else allocated.
		out := debugfs(t, fs, "stat /huge/five-gib")
		if !strings.Contains(out, fmt.Sprintf("Size: %d", int64(hugeSize))) {
			t.Errorf("size of five-gib:\n%s", out)
		}
		m := regexp.MustCompile(`Blockcount: (\d+)`).FindStringSubmatch(out)
		if m == nil || m[1] != "32" { // 4 blocks of 4 KiB in 512-byte units
			t.Errorf("five-gib allocates %v 512-byte sectors, want 32:\n%s", m, out)
		}
		ext := debugfs(t, fs, "ex /sparse/hole-middle")
		if n := strings.Count(ext, "\n"); n != 3 { // header + 2 extents
			t.Errorf("hole-middle extents:\n%s", ext)
		}
		if out := debugfs(t, fs, "stat /sparse/all-hole"); !strings.Contains(out, "Blockcount: 0") {
			t.Errorf("all-hole allocates blocks:\n%s", out)
		}
	})

	t.Run("rdump", func(t *testing.T) { checkRdump(t, fs, want, expectImage(false, &epoch)) })

	t.Run("mount", func(t *testing.T) {
		mnt, _ := mountPart(t, img, parts[0], "ro")
		got := scanTree(t, mnt, nil)
		reportDiffs(t, "mounted image vs source", treecmp.Diff(want, got, treecmp.Options{
			Fields: treecmp.All, Expect: expect, Ignore: isLostFound,
		}))
		lf := got.Entries["lost+found"]
		if lf == nil || lf.Mode != unix.S_IFDIR|0o700 || lf.UID != 0 || lf.Mtime != (unix.Timespec{Sec: epoch}) {
			t.Errorf("lost+found: %+v", lf)
		}
	})

	t.Run("read-write", func(t *testing.T) {
		rw := filepath.Join(t.TempDir(), "rw.raw")
		copySparse(t, img, rw)
		mnt, unmount := mountPart(t, rw, parts[0], "rw")
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		for k := range 500 {
			must(os.WriteFile(filepath.Join(mnt, "big", fmt.Sprint("new-", k)), []byte("new"), 0o644))
		}
		for k := 0; k < 20000; k += 7 {
			os.RemoveAll(filepath.Join(mnt, "big", fmt.Sprintf("%05d-%s", k, strings.Repeat("n", k%50))))
		}
		must(os.RemoveAll(filepath.Join(mnt, "deep")))
		must(os.Remove(filepath.Join(mnt, "links/a/many")))
		must(os.WriteFile(filepath.Join(mnt, "huge/five-gib"), []byte("rewritten"), 0o644))
		must(os.MkdirAll(filepath.Join(mnt, "new/a/b"), 0o755))
		must(os.WriteFile(filepath.Join(mnt, "new/a/b/data"), make([]byte, 3<<20+1), 0o644))
		must(unix.Setxattr(filepath.Join(mnt, "xattrs/block"), "user.added", []byte("x"), 0))
		must(unix.Removexattr(filepath.Join(mnt, "xattrs/block-shared"), "user.big0"))
		must(os.Rename(filepath.Join(mnt, "files"), filepath.Join(mnt, "new/files")))
		unmount()
		fsckClean(t, extractPart(t, rw, parts[0]))
	})

	t.Run("resize2fs", func(t *testing.T) {
		resize := oracle.Require(t, "resize2fs")
		grown := filepath.Join(t.TempDir(), "grown.ext4")
		copySparse(t, fs, grown)
		const size = 3 << 30
		if err := os.Truncate(grown, size); err != nil {
			t.Fatal(err)
		}
		if out, errOut, err := oracle.Run(t, resize, grown); err != nil {
			t.Fatalf("resize2fs: %v\n%s%s", err, out, errOut)
		}
		fsckClean(t, grown)
		if h := dumpe2fsHeader(t, grown); h["Block count"] != fmt.Sprint(size/4096) {
			t.Errorf("block count %s after growing to %d bytes", h["Block count"], size)
		}
	})

	// The same tree as ext2 and ext3 (block maps instead of extents: the
	// 5 GiB file needs triple indirect blocks).
	for _, format := range []string{"ext2", "ext3"} {
		t.Run(format, func(t *testing.T) {
			sub := t.TempDir()
			writeDefs(t, sub, map[string]string{"10-root.conf": "[Partition]\nType=root\nFormat=" + format + "\nCopyFiles=/:/\nSizeMinBytes=1G\n"})
			parts := buildImage(t, sub, "img.raw", src, []string{"SOURCE_DATE_EPOCH=" + strconv.Itoa(testEpoch)})
			img := filepath.Join(sub, "img.raw")
			fs := extractPart(t, img, parts[0])
			fsckClean(t, fs)
			fsckStable(t, fs)
			if h := dumpe2fsHeader(t, fs); strings.Contains(h["Filesystem features"], "extent") {
				t.Errorf("%s with features %s", format, h["Filesystem features"])
			}
			mnt, _ := mountPart(t, img, parts[0], "ro")
			reportDiffs(t, format+" image vs source", treecmp.Diff(want, scanTree(t, mnt, nil), treecmp.Options{
				Fields: treecmp.All, Expect: expect, Ignore: isLostFound,
			}))
		})
	}

	// The same tree with --keep-ownership and without SOURCE_DATE_EPOCH:
	// owners and every time (before 1970, after 2038) as in the source.
	t.Run("keep-ownership", func(t *testing.T) {
		parts := buildImage(t, dir, "owned.raw", src, nil, "--keep-ownership")
		owned := filepath.Join(dir, "owned.raw")
		defer os.Remove(owned)
		ofs := extractPart(t, owned, parts[0])
		fsckClean(t, ofs)
		checkRdump(t, ofs, want, expectImage(true, nil))
		if st := superTimes(t, ofs); st != [3]int64{} {
			t.Errorf("superblock times without SOURCE_DATE_EPOCH %v, want 0", st)
		}
		mnt, _ := mountPart(t, owned, parts[0], "ro")
		got := scanTree(t, mnt, nil)
		reportDiffs(t, "mounted image (--keep-ownership) vs source", treecmp.Diff(want, got, treecmp.Options{
			Fields: treecmp.All,
			Expect: func(e treecmp.Entry) treecmp.Entry {
				if e.Path == "." {
					e.UID, e.GID = 0, 0
				}
				return e
			},
			Ignore: isLostFound,
		}))
		if lf := got.Entries["lost+found"]; lf == nil || lf.Mtime != (unix.Timespec{}) {
			t.Errorf("lost+found without SOURCE_DATE_EPOCH: %+v", lf)
		}
	})
}

// superTimes reads the superblock's times: last write, last check and
// creation (s_wtime, s_lastcheck, s_mkfs_time), with their high bytes.
func superTimes(t testing.TB, fs string) [3]int64 {
	t.Helper()
	f, err := os.Open(fs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		t.Fatal(err)
	}
	tm := func(lo, hi int) int64 { return int64(binary.LittleEndian.Uint32(sb[lo:])) | int64(sb[hi])<<32 }
	return [3]int64{tm(0x30, 0x274), tm(0x40, 0x275), tm(0x108, 0x276)}
}

// checkRdump dumps the file system with debugfs, an oracle that reads the
// image without the kernel, and compares what it restores: names, bytes,
// modes, owners, symlink targets and (seconds of) mtimes. debugfs skips
// special files, turns hard links into copies, fills holes, restores only
// the 0777 permission bits, sets times with utime(2) from the 32-bit
// fields, and leaves symlinks' owners and times alone; the 5 GiB file is
// left out, since rdump would write all of it, and so are paths longer
// than PATH_MAX, which rdump cannot create. The directory of 20000 entries
// is listed with `ls -p` instead, which is much faster than creating them.
func checkRdump(t *testing.T, fs string, want *treecmp.Tree, expect func(treecmp.Entry) treecmp.Entry) {
	out := filepath.Join(t.TempDir(), "rdump")
	os.Mkdir(out, 0o755)
	var top []string
	for p := range want.Entries {
		if p != "." && !strings.Contains(p, "/") && p != "huge" && p != "longpath" && p != "big" {
			top = append(top, "/"+p)
		}
	}
	debugfs(t, fs, "rdump "+strings.Join(top, " ")+" "+out)
	skip := func(p string) bool {
		e := want.Entries[p]
		for _, top := range []string{"huge", "longpath", "big"} {
			if p == top || strings.HasPrefix(p, top+"/") {
				return true
			}
		}
		return isLostFound(p) || e != nil && e.Type() != unix.S_IFREG && e.Type() != unix.S_IFDIR && e.Type() != unix.S_IFLNK
	}
	var wantBig, gotBig []string
	for p, e := range want.Entries {
		if rest, ok := strings.CutPrefix(p, "big/"); ok && !strings.Contains(rest, "/") {
			size := "" // ls -p shows no size for directories
			if e.Type() == unix.S_IFREG {
				size = fmt.Sprint(e.Size)
			}
			wantBig = append(wantBig, fmt.Sprintf("%o %s %s", e.Mode, rest, size))
		}
	}
	for _, l := range strings.Split(debugfs(t, fs, "ls -p /big"), "\n") {
		// /inode/mode/uid/gid/name/size/
		f := strings.Split(l, "/")
		if len(f) == 8 && f[5] != "." && f[5] != ".." {
			gotBig = append(gotBig, fmt.Sprintf("%s %s %s", strings.TrimLeft(f[2], "0"), f[5], f[6]))
		}
	}
	slices.Sort(wantBig)
	slices.Sort(gotBig)
	if !slices.Equal(wantBig, gotBig) {
		t.Errorf("debugfs ls -p /big: %d entries, want %d", len(gotBig), len(wantBig))
		for i := range min(len(wantBig), len(gotBig)) {
			if wantBig[i] != gotBig[i] {
				t.Errorf("first difference: %q, want %q", gotBig[i], wantBig[i])
				break
			}
		}
	}
	got := scanTree(t, out, nil)
	reportDiffs(t, "debugfs rdump vs source", treecmp.Diff(want, got, treecmp.Options{
		Fields: treecmp.Type | treecmp.Perm | treecmp.Owner | treecmp.Mtime | treecmp.Data | treecmp.Target,
		Ignore: func(p string) bool { return p == "." || skip(p) },
		Expect: func(e treecmp.Entry) treecmp.Entry {
			e = expect(e)
			e.Mtime.Nsec = 0
			e.Mtime.Sec = int64(uint32(e.Mtime.Sec)) // utime gets the 32-bit i_mtime, unsigned
			e.Mode &^= 0o7000
			if g := got.Entries[e.Path]; g != nil && e.Type() == unix.S_IFLNK {
				e.Mtime, e.UID, e.GID = g.Mtime, g.UID, g.GID // rdump sets no symlink times or owners
			}
			return e
		},
	}))
}
