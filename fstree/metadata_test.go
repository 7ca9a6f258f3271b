package fstree

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/definition"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

func nobody() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
}

// Tests of what each inode carries: links, holes, special files, xattrs,
// modes, names, times, ownership.

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	chmod(t, path, 0o640)
	stamp(t, path, baseTime)
}

func TestHardLinks(t *testing.T) {
	src := t.TempDir()
	writeFile(t, src+"/s/a", 0o644, "three")
	hardlink(t, src+"/s/a", src+"/s/sub/b")
	hardlink(t, src+"/s/a", src+"/s/z")
	writeFile(t, src+"/s/pair", 0o644, "two")
	hardlink(t, src+"/s/pair", src+"/s/gone/partner")
	writeFile(t, src+"/s/single", 0o644, "")
	mkfifo(t, src+"/s/fifo")
	hardlink(t, src+"/s/fifo", src+"/s/fifo2")
	symlink(t, "a", src+"/s/sym")
	hardlink(t, src+"/s/sym", src+"/s/sym2")
	writeFile(t, src+"/other/r", 0o644, "replaces z")
	restamp(t, src)

	tr := build(t, src, Spec{CopyFiles: cf("/s", "/t", "/s/a", "/u/copy", "/s/pair", "/u/pair"), ExcludeFiles: []string{"/s/gone"}}, Options{})
	a, b, z := must(t, tr, "/t/a"), must(t, tr, "/t/sub/b"), must(t, tr, "/t/z")
	if a != b || a != z || a.Nlink != 3 {
		t.Errorf("group of 3: shared=%v nlink=%d", a == b && a == z, a.Nlink)
	}
	// The partner was excluded: the remaining name is a file with one link.
	if p := must(t, tr, "/t/pair"); p.Nlink != 1 || p.Size != 3 {
		t.Errorf("/t/pair nlink %d", p.Nlink)
	}
	// Fifos are linked too; symlinks never (repart does not link them).
	if f, f2 := must(t, tr, "/t/fifo"), must(t, tr, "/t/fifo2"); f != f2 || f.Nlink != 2 {
		t.Errorf("fifo links: shared=%v nlink=%d", f == f2, f.Nlink)
	}
	if s, s2 := must(t, tr, "/t/sym"), must(t, tr, "/t/sym2"); s == s2 || s.Nlink != 1 {
		t.Errorf("symlinks shared=%v nlink=%d", s == s2, s.Nlink)
	}
	// Links are kept within one CopyFiles line only, as repart's hardlink
	// context lives for one copy_tree_at call.
	if c := must(t, tr, "/u/copy"); c == a || c.Nlink != 1 {
		t.Errorf("/u/copy shares the inode of /t/a")
	}
	if tr.Stats.HardLinks != 3 {
		t.Errorf("Stats.HardLinks = %d, want 3", tr.Stats.HardLinks)
	}
	// Directory link counts: 2 + subdirectories.
	if n := must(t, tr, "/t").Nlink; n != 3 { // sub ("gone" is excluded)
		t.Errorf("/t nlink %d, want 3", n)
	}
	if n := tr.Root.Nlink; n != 4 { // t, u
		t.Errorf("/ nlink %d, want 4", n)
	}

	// A later line replacing one name leaves the others with fewer links.
	writeFile(t, src+"/other/z", 0o644, "new z")
	tr = build(t, src, Spec{CopyFiles: cf("/s", "/t", "/other", "/t")}, Options{})
	if a, z := must(t, tr, "/t/a"), must(t, tr, "/t/z"); a.Nlink != 2 || z.Nlink != 1 || z.Size != 5 {
		t.Errorf("after replacing z: a nlink %d, z nlink %d size %d", a.Nlink, z.Nlink, z.Size)
	}
}

func TestSparseFiles(t *testing.T) {
	src := t.TempDir()
	const mib = 1 << 20
	f, err := os.Create(src + "/sparse")
	if err != nil {
		t.Fatal(err)
	}
	block := []byte(strings.Repeat("x", 8192))
	if err := f.Truncate(10 * mib); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{mib, 4 * mib, 10*mib - 8192} {
		if _, err := f.WriteAt(block, off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if err := os.WriteFile(src+"/holes", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(src+"/holes", 3*mib); err != nil {
		t.Fatal(err)
	}
	writeFile(t, src+"/dense", 0o644, "12345")
	writeFile(t, src+"/empty", 0o644, "")
	// Data in a tail that is not block-aligned stops at the file size.
	g, _ := os.Create(src + "/tail")
	g.Truncate(mib)
	g.WriteAt([]byte("end"), mib)
	g.Close()

	tr := build(t, src, Spec{CopyFiles: cf("/", "/")}, Options{})
	for _, tc := range []struct {
		path string
		size int64
		runs []Run
	}{
		{"/sparse", 10 * mib, []Run{{Offset: mib, Length: 8192}, {Offset: 4 * mib, Length: 8192}, {Offset: 10*mib - 8192, Length: 8192}}},
		{"/holes", 3 * mib, nil},
		{"/dense", 5, []Run{{Offset: 0, Length: 5}}},
		{"/empty", 0, nil},
		{"/tail", mib + 3, []Run{{Offset: mib, Length: 3}}},
	} {
		ino := must(t, tr, tc.path)
		if ino.Size != tc.size || !reflect.DeepEqual(ino.Data, tc.runs) {
			t.Errorf("%s: size %d runs %v, want %d %v", tc.path, ino.Size, ino.Data, tc.size, tc.runs)
		}
	}
	if want := int64(3*8192 + 5 + 3); tr.Stats.DataBytes != want {
		t.Errorf("Stats.DataBytes = %d, want %d", tr.Stats.DataBytes, want)
	}
	if want := int64(10*mib + 3*mib + 5 + mib + 3); tr.Stats.Size != want {
		t.Errorf("Stats.Size = %d, want %d", tr.Stats.Size, want)
	}
}

func TestSpecialFiles(t *testing.T) {
	src := t.TempDir()
	mkfifo(t, src+"/fifo")
	l, err := net.Listen("unix", src+"/sock")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	chmod(t, src+"/sock", 0o755)
	root := os.Geteuid() == 0
	if root {
		if err := unix.Mknod(src+"/null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(src+"/loop", unix.S_IFBLK|0o660, int(unix.Mkdev(7, 1000))); err != nil {
			t.Fatal(err)
		}
		chmod(t, src+"/null", 0o666) // mknod applied the umask
	}
	tr := build(t, src, Spec{CopyFiles: cf("/", "/")}, Options{})
	if f := must(t, tr, "/fifo"); f.Kind != KindFIFO || f.Mode != 0o640 || f.UnixMode() != unix.S_IFIFO|0o640 {
		t.Errorf("fifo = %v %o", f.Kind, f.Mode)
	}
	if s := must(t, tr, "/sock"); s.Kind != KindSocket || s.Mode != 0o755 || s.Size != 0 {
		t.Errorf("socket = %v %o", s.Kind, s.Mode)
	}
	if !root {
		t.Log("not root: device nodes not tested")
		return
	}
	if d := must(t, tr, "/null"); d.Kind != KindCharDev || unix.Major(d.Rdev) != 1 || unix.Minor(d.Rdev) != 3 || d.Mode != 0o666 {
		t.Errorf("null = %v %d:%d %o", d.Kind, unix.Major(d.Rdev), unix.Minor(d.Rdev), d.Mode)
	}
	if d := must(t, tr, "/loop"); d.Kind != KindBlockDev || unix.Major(d.Rdev) != 7 || unix.Minor(d.Rdev) != 1000 {
		t.Errorf("loop = %v %d:%d", d.Kind, unix.Major(d.Rdev), unix.Minor(d.Rdev))
	}
	if tr.Stats.Specials != 4 {
		t.Errorf("Stats.Specials = %d", tr.Stats.Specials)
	}
}

func TestXattrs(t *testing.T) {
	src := t.TempDir()
	if !xattrsSupported(t, src) {
		oracle.Unavailable(t, "no user xattrs on the temporary file system")
	}
	writeFile(t, src+"/f", 0o644, "")
	setxattr(t, src+"/f", "user.zeta", "last")
	setxattr(t, src+"/f", "user.alpha", "first")
	setxattr(t, src+"/f", "user.empty", "")
	setxattr(t, src+"/f", "user.bin", "\x00\xff")
	mkdir(t, src+"/d", 0o755)
	setxattr(t, src+"/d", "user.dir", "yes")
	want := []Xattr{{"user.alpha", []byte("first")}, {"user.bin", []byte("\x00\xff")}, {"user.empty", []byte{}}, {"user.zeta", []byte("last")}}
	// security.capability as setcap writes it (v2, cap_net_raw), and a
	// trusted.* attribute: kept when we may set (and so read) them.
	capv2 := "\x00\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	var extra []Xattr
	for _, x := range []Xattr{{"security.capability", []byte(capv2)}, {"trusted.t", []byte("x")}} {
		if unix.Setxattr(src+"/f", x.Name, x.Value, 0) != nil {
			t.Logf("cannot set %s here", x.Name)
			continue
		}
		v, err := sizedRead(func(b []byte) (int, error) { return unix.Getxattr(src+"/f", x.Name, b) })
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, Xattr{x.Name, v})
	}
	want = append(extra, want...)
	tr := build(t, src, Spec{CopyFiles: cf("/", "/")}, Options{})
	if got := must(t, tr, "/f").Xattrs; !reflect.DeepEqual(got, want) {
		t.Errorf("xattrs = %q\nwant     %q", got, want)
	}
	if got := must(t, tr, "/d").Xattrs; !reflect.DeepEqual(got, []Xattr{{"user.dir", []byte("yes")}}) {
		t.Errorf("dir xattrs = %q", got)
	}
	if !strings.Contains(dump(t, tr), `xattr:"user.bin"="\x00\xff"`) {
		t.Errorf("dump does not quote binary values:\n%s", dump(t, tr))
	}
}

func TestModes(t *testing.T) {
	src := t.TempDir()
	for _, tc := range []struct {
		path string
		mode os.FileMode
		dir  bool
	}{
		{"/setuid", 0o4755, false},
		{"/setgid", 0o2711, false},
		{"/all", 0o7777, false},
		{"/sticky", 0o1777, true},
		{"/setgid-dir", 0o2750, true},
	} {
		if tc.dir {
			mkdir(t, src+tc.path, tc.mode)
		} else {
			writeFile(t, src+tc.path, tc.mode, "")
		}
	}
	tr := build(t, src, Spec{CopyFiles: cf("/", "/")}, Options{})
	for path, want := range map[string]uint32{"/setuid": 0o4755, "/setgid": 0o2711, "/all": 0o7777,
		"/sticky": 0o1777, "/setgid-dir": 0o2750} {
		if got := must(t, tr, path).Mode; got != want {
			t.Errorf("%s mode %04o, want %04o", path, got, want)
		}
	}
	if m := must(t, tr, "/sticky").UnixMode(); m != unix.S_IFDIR|0o1777 {
		t.Errorf("UnixMode %o", m)
	}
}

func TestNames(t *testing.T) {
	src := t.TempDir()
	long := strings.Repeat("n", 255)
	nonUTF8 := "caf\xe9\xff"
	writeFile(t, src+"/d/"+long, 0o644, "")
	writeFile(t, src+"/d/"+nonUTF8, 0o644, "")
	symlink(t, "\xfe"+long[:100], src+"/d/badlink")
	writeFile(t, src+"/d/B", 0o644, "")
	writeFile(t, src+"/d/a", 0o644, "")
	writeFile(t, src+"/d/\x01", 0o644, "")
	tr := build(t, src, Spec{CopyFiles: cf("/d", "/d")}, Options{})
	var names []string
	for _, e := range must(t, tr, "/d").Entries {
		names = append(names, e.Name)
	}
	// Byte order: control < upper < lower < high bytes.
	if want := []string{"\x01", "B", "a", "badlink", nonUTF8, long}; !reflect.DeepEqual(names, want) {
		t.Errorf("names = %q, want %q", names, want)
	}
	if l := must(t, tr, "/d/badlink"); l.Target != "\xfe"+long[:100] {
		t.Errorf("target %q", l.Target)
	}
	if !strings.Contains(dump(t, tr), `"/d/caf\xe9\xff"`) {
		t.Errorf("dump:\n%s", dump(t, tr))
	}

	long256 := strings.Repeat("m", 256)
	for _, spec := range []Spec{
		{MakeDirectories: []string{"/a/" + long256 + "/b"}},
		{CopyFiles: cf("/d", "/x/"+long256)},
		{CopyFiles: cf("/d/a", "/"+long256)},
		{MakeDirectories: []string{"/x"}, MakeSymlinks: []definition.Symlink{{Path: "/x/" + long256, Target: "y"}}},
	} {
		err := buildErr(t, src, spec, Options{})
		if !strings.Contains(err.Error(), "longer than 255 bytes") {
			t.Errorf("error %q", err)
		}
	}
}

func TestSourceDateEpoch(t *testing.T) {
	src := t.TempDir()
	old := time.Unix(500, 250)
	newer := time.Unix(2000, 0)
	at := time.Unix(1000, 7) // same second as the epoch, later by 7ns
	writeFile(t, src+"/s/old", 0o644, "")
	writeFile(t, src+"/s/new", 0o644, "")
	writeFile(t, src+"/s/at", 0o644, "")
	symlink(t, "x", src+"/s/link")
	mkfifo(t, src+"/s/fifo")
	stamp(t, src+"/s/old", old)
	stamp(t, src+"/s/new", newer)
	stamp(t, src+"/s/at", at)
	lstamp(t, src+"/s/link", newer)
	stamp(t, src+"/s/fifo", old)
	stamp(t, src+"/s", newer)

	for _, tc := range []struct {
		name  string
		epoch *int64
		want  map[string]Time
	}{
		{"clamped", i64(1000), map[string]Time{"/": {1000, 0}, "/p": {1000, 0}, "/p/s": {1000, 0}, "/p/s/old": {500, 250},
			"/p/s/new": {1000, 0}, "/p/s/at": {1000, 0}, "/p/s/link": {1000, 0}, "/p/s/fifo": {500, 250}, "/made": {1000, 0}, "/sym": {1000, 0}}},
		{"unset", nil, map[string]Time{"/": {}, "/p": {}, "/p/s": {2000, 0}, "/p/s/old": {500, 250},
			"/p/s/new": {2000, 0}, "/p/s/at": {1000, 7}, "/p/s/link": {2000, 0}, "/p/s/fifo": {500, 250}, "/made": {}, "/sym": {}}},
		{"epoch 0", i64(0), map[string]Time{"/": {}, "/p": {}, "/p/s": {}, "/p/s/old": {}, "/made": {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := build(t, src, Spec{CopyFiles: cf("/s", "/p/s"), MakeDirectories: []string{"/made"},
				MakeSymlinks: []definition.Symlink{{Path: "/sym", Target: "p"}}}, Options{SourceDateEpoch: tc.epoch})
			for p, want := range tc.want {
				if got := must(t, tr, p).Mtime; got != want {
					t.Errorf("%s mtime %v, want %v", p, got, want)
				}
			}
		})
	}
}

func TestOwnership(t *testing.T) {
	oracle.RequireRoot(t) // chown
	src := t.TempDir()
	writeFile(t, src+"/s/f", 0o644, "")
	symlink(t, "f", src+"/s/l")
	writeFile(t, src+"/file", 0o644, "")
	for _, p := range []string{"/s", "/s/f", "/file"} {
		if err := os.Chown(src+p, 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Lchown(src+"/s/l", 42, 43); err != nil {
		t.Fatal(err)
	}
	spec := Spec{CopyFiles: cf("/s", "/s", "/file", "/x/file", "/s", "/")}
	tr := build(t, src, spec, Options{})
	tr.Walk(func(p string, ino *Inode) error {
		if ino.UID != 0 || ino.GID != 0 {
			t.Errorf("%s owned by %d:%d", p, ino.UID, ino.GID)
		}
		return nil
	})
	tr = build(t, src, spec, Options{KeepOwnership: true})
	for p, want := range map[string][2]uint32{"/s": {1234, 5678}, "/s/f": {1234, 5678}, "/s/l": {42, 43},
		"/x/file": {1234, 5678}, "/x": {0, 0}, "/": {0, 0}} {
		if ino := must(t, tr, p); ino.UID != want[0] || ino.GID != want[1] {
			t.Errorf("%s owned by %d:%d, want %d:%d", p, ino.UID, ino.GID, want[0], want[1])
		}
	}
}

func TestSymlinksNotFollowed(t *testing.T) {
	src := t.TempDir()
	outside := t.TempDir()
	writeFile(t, outside+"/secret", 0o600, "secret")
	symlink(t, outside, src+"/s/abs")
	symlink(t, "../../../../../../"+outside, src+"/s/rel")
	symlink(t, ".", src+"/s/self")
	tr := build(t, src, Spec{CopyFiles: cf("/s", "/")}, Options{})
	if got, want := paths(tr), []string{"/", "/abs", "/rel", "/self"}; !reflect.DeepEqual(got, want) {
		t.Errorf("paths = %q, want %q", got, want)
	}
	if l := must(t, tr, "/abs"); l.Kind != KindSymlink || l.Target != outside || l.Size != int64(len(outside)) {
		t.Errorf("/abs = %v %q", l.Kind, l.Target)
	}
}

func TestWalkStatsLookup(t *testing.T) {
	src := t.TempDir()
	writeFile(t, src+"/s/a/x", 0o644, "12")
	writeFile(t, src+"/s/a/y", 0o644, "")
	writeFile(t, src+"/s/b/z", 0o644, "123")
	hardlink(t, src+"/s/b/z", src+"/s/c")
	symlink(t, "abc", src+"/s/l")
	restamp(t, src)
	tr := build(t, src, Spec{CopyFiles: cf("/s", "/")}, Options{})
	want := Stats{Inodes: 7, Files: 3, Dirs: 3, Symlinks: 1, Entries: 7, HardLinks: 1, Size: 5, DataBytes: 5,
		SymlinkBytes: 3, NameBytes: 7, MaxEntries: 4}
	if tr.Stats != want {
		t.Errorf("Stats = %+v\nwant    %+v", tr.Stats, want)
	}
	for i, ino := range tr.Inodes {
		if ino.Index != i {
			t.Errorf("Inodes[%d].Index = %d", i, ino.Index)
		}
	}
	if tr.Inodes[0] != tr.Root || tr.Lookup("/b/z").Index != 5 || tr.Lookup("/c").Index != 5 {
		t.Errorf("inode order: %s", dump(t, tr))
	}
	var visited []string
	tr.Walk(func(p string, ino *Inode) error {
		visited = append(visited, p)
		if p == "/a" {
			return fs.SkipDir
		}
		return nil
	})
	if want := []string{"/", "/a", "/b", "/b/z", "/c", "/l"}; !reflect.DeepEqual(visited, want) {
		t.Errorf("SkipDir walk = %q", visited)
	}
	stop := errors.New("stop")
	if err := tr.Walk(func(p string, _ *Inode) error { return stop }); err != stop {
		t.Errorf("Walk error = %v", err)
	}
	if tr.Lookup("/a/x/nope") != nil || tr.Lookup("/nope") != nil || tr.Lookup("/l/x") != nil || tr.Lookup("/") != tr.Root {
		t.Error("Lookup")
	}
}

func TestOpen(t *testing.T) {
	src := t.TempDir()
	writeFile(t, src+"/f", 0o644, "content")
	tr := build(t, src, Spec{CopyFiles: cf("/", "/")}, Options{})
	ino := must(t, tr, "/f")
	f, err := ino.Open()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "content" {
		t.Errorf("read %q", b)
	}
	if _, err := tr.Root.Open(); err == nil {
		t.Error("Open of a directory succeeded")
	}
	writeFile(t, src+"/f", 0o644, "changed!")
	if _, err := ino.Open(); err == nil || !strings.Contains(err.Error(), src+"/f") {
		t.Errorf("Open of a changed file: %v", err)
	}
	os.Remove(src + "/f")
	if _, err := ino.Open(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a vanished file: %v", err)
	}
}

// TestDeepTree scans and opens a file whose path is longer than PATH_MAX.
func TestDeepTree(t *testing.T) {
	src := t.TempDir()
	name := strings.Repeat("d", 250)
	fd, err := unix.Open(src, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	const depth = 20
	for i := 0; i < depth; i++ {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		nfd, err := unix.Openat(fd, name, unix.O_DIRECTORY|unix.O_RDONLY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = nfd
	}
	ffd, err := unix.Openat(fd, "leaf", unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(ffd, []byte("deep"))
	unix.Close(ffd)
	if err := unix.Mknodat(fd, "fifo", unix.S_IFIFO|0o644, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)

	tr := build(t, src, Spec{CopyFiles: cf("/", "/")}, Options{})
	p := strings.Repeat("/"+name, depth)
	leaf := must(t, tr, p+"/leaf")
	must(t, tr, p+"/fifo")
	if len(leaf.Source) <= unix.PathMax {
		t.Fatalf("source path only %d bytes", len(leaf.Source))
	}
	f, err := leaf.Open()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "deep" {
		t.Errorf("read %q", b)
	}
}

func TestCancel(t *testing.T) {
	src := t.TempDir()
	writeFile(t, src+"/s/f", 0o644, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, Spec{CopyFiles: cf("/s", "/")}, Options{SourceRoot: src}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

// TestUnreadable needs EACCES, which root never gets: as root it re-runs
// itself as nobody.
func TestUnreadable(t *testing.T) {
	if dir := os.Getenv("FSTREE_UNREADABLE"); dir != "" {
		unreadableCheck(t, dir)
		return
	}
	dir := t.TempDir()
	chmod(t, dir, 0o755)
	chmod(t, filepath.Dir(dir), 0o755)
	writeFile(t, dir+"/s/ok", 0o644, "")
	writeFile(t, dir+"/s/secret", 0o000, "")
	writeFile(t, dir+"/d/closed/x", 0o644, "")
	chmod(t, dir+"/d/closed", 0o000)
	t.Cleanup(func() { chmod(t, dir+"/d/closed", 0o755) })
	if os.Geteuid() != 0 {
		unreadableCheck(t, dir)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/fstree.test", data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dir+"/fstree.test", "-test.run=^TestUnreadable$", "-test.v")
	cmd.Env = append(os.Environ(), "FSTREE_UNREADABLE="+dir)
	cmd.Dir = dir
	cmd.SysProcAttr = nobody()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestUnreadable") {
		t.Errorf("as nobody: %v\n%s", err, out)
	}
}

func unreadableCheck(t *testing.T, dir string) {
	for _, tc := range []struct {
		files []definition.CopyFile
		want  string
	}{
		{cf("/s", "/"), dir + "/s/secret"},
		{cf("/s/secret", "/x"), dir + "/s/secret"},
		{cf("/d", "/"), dir + "/d/closed"},
	} {
		_, err := Build(context.Background(), Spec{CopyFiles: tc.files}, Options{SourceRoot: dir})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%v: error %v, want EACCES naming %s", tc.files, err, tc.want)
		}
	}
}
