package ext4

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Test trees and the comparison of a file system (loop-mounted, or
// dumped by debugfs rdump) with the tree it was written from.

func dirNode(perm uint16, ents ...Entry) *Inode {
	return &Inode{Kind: Dir, Perm: perm, Entries: ents, Atime: testTime, Mtime: testTime, Ctime: testTime, Crtime: testTime}
}

func fileNode(perm uint16, data []byte) *Inode {
	return &Inode{Kind: Regular, Perm: perm, Size: int64(len(data)), Data: Bytes(data),
		Atime: testTime, Mtime: testTime, Ctime: testTime, Crtime: testTime}
}

func linkNode(target string) *Inode {
	return &Inode{Kind: Symlink, Perm: 0o777, Target: target, Atime: testTime, Mtime: testTime, Ctime: testTime, Crtime: testTime}
}

// pattern is Data with deterministic content over given runs: byte i of
// the file is a function of i and a seed.
type pattern struct {
	runs []Run
	seed byte
}

func (p pattern) Runs(size int64) ([]Run, error) { return p.runs, nil }

func (p pattern) byteAt(i int64) byte {
	v := byte(i>>12) ^ byte(i*7) ^ p.seed
	if v == 0 {
		v = 1
	}
	return v
}

func (p pattern) CopyTo(ctx context.Context, dst io.WriterAt, dstOff, off, n int64) error {
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		c := min(n, int64(len(buf)))
		for i := range c {
			buf[i] = p.byteAt(off + i)
		}
		if _, err := dst.WriteAt(buf[:c], dstOff); err != nil {
			return err
		}
		off, dstOff, n = off+c, dstOff+c, n-c
	}
	return nil
}

// memWriter collects writes into a buffer that starts at base.
type memWriter struct {
	b    []byte
	base int64
}

func (m *memWriter) WriteAt(p []byte, off int64) (int, error) {
	copy(m.b[off-m.base:], p)
	return len(p), nil
}

// expected returns bytes [off, off+n) of a regular file's content.
func expected(t testing.TB, in *Inode, off, n int64) []byte {
	t.Helper()
	out := make([]byte, n)
	if in.Data == nil {
		return out
	}
	runs, err := in.Data.Runs(in.Size)
	if err != nil {
		t.Fatal(err)
	}
	m := &memWriter{b: out, base: off}
	for _, r := range runs {
		s, e := max(r.Offset, off), min(r.Offset+r.Length, off+n)
		if s < e {
			if err := in.Data.CopyTo(context.Background(), m, s, s, e-s); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

type compareMode int

const (
	viaMount compareMode = iota // kernel: everything
	viaRdump                    // debugfs rdump: regular files, dirs, symlinks; mtime seconds
)

type comparer struct {
	t      testing.TB
	mode   compareMode
	inodes map[*Inode]uint64 // st_ino seen for each tree inode (mount)
	names  map[*Inode]int
	nlink  map[*Inode]uint64
	checks int
}

// compareTree checks the tree at dir against root.
func compareTree(t testing.TB, dir string, root *Inode, mode compareMode) {
	t.Helper()
	c := &comparer{t: t, mode: mode, inodes: map[*Inode]uint64{}, names: map[*Inode]int{}, nlink: map[*Inode]uint64{}}
	c.dir(dir, root, true)
	for in, n := range c.names {
		if c.nlink[in] != uint64(n) {
			t.Errorf("inode %d has %d names but nlink %d", c.inodes[in], n, c.nlink[in])
		}
	}
	// Distinct tree inodes are distinct file system inodes.
	seen := map[uint64]bool{}
	for _, ino := range c.inodes {
		if seen[ino] {
			t.Errorf("inode %d stands for two different files", ino)
		}
		seen[ino] = true
	}
}

func (c *comparer) dir(path string, want *Inode, isRoot bool) {
	t := c.t
	c.meta(path, want, isRoot)
	ents, err := os.ReadDir(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var got []string
	for _, e := range ents {
		if isRoot && e.Name() == "lost+found" && !hasEntry(want, "lost+found") {
			continue
		}
		got = append(got, e.Name())
	}
	var names []string
	byName := map[string]*Inode{}
	for _, e := range want.Entries {
		names = append(names, e.Name)
		byName[e.Name] = e.Inode
	}
	if c.mode == viaRdump {
		// rdump leaves out devices, fifos and sockets.
		names = names[:0]
		for _, e := range want.Entries {
			if k := e.Inode.Kind; k == Regular || k == Dir || k == Symlink {
				names = append(names, e.Name)
			}
		}
	}
	sort.Strings(names)
	sort.Strings(got)
	if strings.Join(got, "\x00") != strings.Join(names, "\x00") {
		t.Fatalf("%s: entries %q, want %q", path, trunc(got), trunc(names))
	}
	for _, name := range names {
		in := byName[name]
		p := filepath.Join(path, name)
		if in.Kind == Dir {
			c.dir(p, in, false)
		} else {
			c.meta(p, in, false)
		}
	}
}

func trunc(s []string) []string {
	if len(s) > 10 {
		return append(s[:10:10], fmt.Sprintf("... (%d in all)", len(s)))
	}
	return s
}

func hasEntry(d *Inode, name string) bool {
	for _, e := range d.Entries {
		if e.Name == name {
			return true
		}
	}
	return false
}

var kindType = map[Kind]uint32{Regular: unix.S_IFREG, Dir: unix.S_IFDIR, Symlink: unix.S_IFLNK,
	CharDev: unix.S_IFCHR, BlockDev: unix.S_IFBLK, FIFO: unix.S_IFIFO, Socket: unix.S_IFSOCK}

func tsTime(ts unix.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec) }

func clampTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0)
	}
	if t.Before(minTime) {
		return minTime
	}
	if t.After(maxTime) {
		return maxTime
	}
	return t
}

func (c *comparer) meta(path string, want *Inode, isRoot bool) {
	t := c.t
	c.checks++
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if st.Mode&unix.S_IFMT != kindType[want.Kind] {
		t.Errorf("%s: type %#o, want %v", path, st.Mode&unix.S_IFMT, want.Kind)
		return
	}
	permMask := uint16(0o7777)
	if c.mode == viaRdump {
		permMask = 0o777 // rdump's chown after chmod drops setuid and setgid
	}
	if want.Kind != Symlink && uint16(st.Mode)&permMask != want.Perm&permMask {
		t.Errorf("%s: mode %#o, want %#o", path, st.Mode&0o7777, want.Perm)
	}
	if st.Uid != want.UID || st.Gid != want.GID {
		t.Errorf("%s: owner %d:%d, want %d:%d", path, st.Uid, st.Gid, want.UID, want.GID)
	}
	if want.Kind != Symlink || c.mode == viaMount {
		gotM, wantM := tsTime(st.Mtim), clampTime(want.Mtime)
		// debugfs 1.47.0 reads times as unsigned 32-bit seconds.
		rdumpable := wantM.Unix() >= 0 && wantM.Unix() < 1<<31
		if c.mode == viaRdump {
			wantM = wantM.Truncate(time.Second)
			gotM = gotM.Truncate(time.Second)
		}
		if (c.mode == viaMount || rdumpable) && !gotM.Equal(wantM) {
			t.Errorf("%s: mtime %v, want %v", path, gotM, wantM)
		}
	}
	if c.mode == viaMount {
		if got, w := tsTime(st.Atim), clampTime(want.Atime); !got.Equal(w) {
			t.Errorf("%s: atime %v, want %v", path, got, w)
		}
		if got, w := tsTime(st.Ctim), clampTime(want.Ctime); !got.Equal(w) {
			t.Errorf("%s: ctime %v, want %v", path, got, w)
		}
		var sx unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &sx); err == nil && sx.Mask&unix.STATX_BTIME != 0 {
			if got, w := time.Unix(sx.Btime.Sec, int64(sx.Btime.Nsec)), clampTime(want.Crtime); !got.Equal(w) {
				t.Errorf("%s: crtime %v, want %v", path, got, w)
			}
		}
		if want.Kind != Dir {
			if prev, ok := c.inodes[want]; ok && prev != st.Ino {
				t.Errorf("%s: inode %d, but its hard link has %d", path, st.Ino, prev)
			}
			c.inodes[want] = st.Ino
			c.names[want]++
			c.nlinkOf(want, uint64(st.Nlink))
		}
		c.xattrs(path, want)
	}
	switch want.Kind {
	case Regular:
		c.content(path, want, st.Size)
	case Symlink:
		got, err := os.Readlink(path)
		if err != nil || got != want.Target {
			t.Errorf("%s: symlink to %q (%v), want %q", path, got, err, want.Target)
		}
	case CharDev, BlockDev:
		if unix.Major(st.Rdev) != want.Major || unix.Minor(st.Rdev) != want.Minor {
			t.Errorf("%s: device %d:%d, want %d:%d", path, unix.Major(st.Rdev), unix.Minor(st.Rdev), want.Major, want.Minor)
		}
	}
}

func (c *comparer) nlinkOf(in *Inode, n uint64) { c.nlink[in] = n }

func (c *comparer) content(path string, want *Inode, size int64) {
	t := c.t
	if size != want.Size {
		t.Errorf("%s: size %d, want %d", path, size, want.Size)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	defer f.Close()
	var runs []Run
	if want.Data != nil {
		runs, _ = want.Data.Runs(want.Size)
	}
	// Compare every run, and the gaps between them: read them when small,
	// else (mounted) check that they are holes.
	pos := int64(0)
	check := func(off, n int64) {
		for n > 0 {
			c := min(n, 8<<20)
			got := make([]byte, c)
			if _, err := f.ReadAt(got, off); err != nil && !errors.Is(err, io.EOF) {
				t.Errorf("%s: reading %d+%d: %v", path, off, c, err)
				return
			}
			if w := expected(t, want, off, c); !bytes.Equal(got, w) {
				i := 0
				for got[i] == w[i] {
					i++
				}
				t.Errorf("%s: content differs at %d", path, off+int64(i))
				return
			}
			off, n = off+c, n-c
		}
	}
	gap := func(from, to int64) {
		if to-from <= 1<<20 || c.mode != viaMount {
			check(from, to-from)
			return
		}
		data, err := unix.Seek(int(f.Fd()), (from+BlockSize-1)&^(BlockSize-1), unix.SEEK_DATA)
		if err == nil && data < to&^(BlockSize-1) {
			t.Errorf("%s: data at %d in a hole %d..%d", path, data, from, to)
		}
		check(from, min(to-from, BlockSize))
		check(max(to-BlockSize, from), min(to-from, BlockSize))
	}
	for _, r := range runs {
		gap(pos, r.Offset)
		check(r.Offset, r.Length)
		pos = r.Offset + r.Length
	}
	gap(pos, want.Size)
}

func (c *comparer) xattrs(path string, want *Inode) {
	t := c.t
	sz, err := unix.Llistxattr(path, nil)
	if err != nil {
		t.Errorf("%s: listxattr: %v", path, err)
		return
	}
	buf := make([]byte, sz)
	sz, _ = unix.Llistxattr(path, buf)
	var got []string
	for _, n := range strings.Split(string(buf[:sz]), "\x00") {
		if n != "" {
			got = append(got, n)
		}
	}
	var names []string
	for _, x := range want.Xattrs {
		names = append(names, x.Name)
	}
	sort.Strings(got)
	sort.Strings(names)
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s: xattrs %q, want %q", path, got, names)
		return
	}
	for _, x := range want.Xattrs {
		v := make([]byte, 65536)
		n, err := unix.Lgetxattr(path, x.Name, v)
		if err != nil || !bytes.Equal(v[:n], x.Value) {
			t.Errorf("%s: xattr %s = %q (%v), want %q", path, x.Name, v[:max(n, 0)], err, x.Value)
		}
	}
}
