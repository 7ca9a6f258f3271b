// Package treecmp compares two directory trees on the host, for tests that
// check a file system image against the tree it was built from: the image
// is loop-mounted or dumped (debugfs rdump) and compared with the source
// entry by entry.
//
// Names are compared as bytes; file data is compared over the data runs
// of both files (found with SEEK_DATA/SEEK_HOLE), so a 5 GiB sparse file
// costs only its few data blocks, and whether a hole stayed a hole can be
// checked. Everything a file system stores per inode can be compared:
// type, permission bits, owner, times, symlink target, device number,
// hard-link groups and extended attributes. Which of them a comparison
// looks at is the caller's choice (Fields), and Options.Expect turns a
// source entry into what the image should hold (owners reset to 0:0,
// times clamped to SOURCE_DATE_EPOCH, ...).
package treecmp

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
)

// Entry is what a tree holds at one path.
type Entry struct {
	Path     string // relative to the tree's root, "." for the root itself
	Mode     uint32 // st_mode: file type and permission bits
	UID, GID uint32
	Size     int64
	Rdev     uint64
	Dev, Ino uint64
	Nlink    uint64
	// Times. HasBtime says whether the file system reported a birth time.
	Atime, Mtime, Ctime, Btime unix.Timespec
	HasBtime                   bool
	Target                     string            // symlink target
	Xattrs                     map[string]string // name -> value
}

// Type is the file type bits of Mode.
func (e *Entry) Type() uint32 { return e.Mode & unix.S_IFMT }

// Tree is a scanned directory tree.
type Tree struct {
	Root    string
	Entries map[string]*Entry // by Path
}

// Scan reads the tree below root (without following symlinks). Skip, if
// not nil, leaves out an entry and, for a directory, everything in it
// (for example a 5 GiB sparse file a slow oracle cannot handle). Entries
// are reached relative to their directory, so paths longer than PATH_MAX
// are fine.
func Scan(root string, skip func(path string) bool) (*Tree, error) {
	t := &Tree{Root: root, Entries: map[string]*Entry{}}
	rootFD, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rootFD)
	e, err := statAt(rootFD, "", root)
	if err != nil {
		return nil, err
	}
	e.Path = "."
	t.Entries["."] = e
	var walk func(fd int, rel string) error
	walk = func(fd int, rel string) error {
		names, err := readdirnames(fd)
		if err != nil {
			return fmt.Errorf("reading directory %s/%s: %w", root, rel, err)
		}
		for _, n := range names {
			child := n
			if rel != "." {
				child = rel + "/" + n
			}
			if skip != nil && skip(child) {
				continue
			}
			e, err := statAt(fd, n, root+"/"+child)
			if err != nil {
				return err
			}
			e.Path = child
			t.Entries[child] = e
			if e.Type() != unix.S_IFDIR {
				continue
			}
			cfd, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return &os.PathError{Op: "open", Path: root + "/" + child, Err: err}
			}
			err = walk(cfd, child)
			unix.Close(cfd)
			if err != nil {
				return err
			}
		}
		return nil
	}
	return t, walk(rootFD, ".")
}

// readdirnames lists the directory open as fd, sorted.
func readdirnames(fd int) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "dir")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}

// statAt reads the entry name of the directory fd ("" for fd itself);
// full names it in errors.
func statAt(fd int, name, full string) (*Entry, error) {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	var st unix.Statx_t
	if err := unix.Statx(fd, name, flags, unix.STATX_ALL, &st); err != nil {
		return nil, &os.PathError{Op: "statx", Path: full, Err: err}
	}
	ts := func(t unix.StatxTimestamp) unix.Timespec { return unix.Timespec{Sec: t.Sec, Nsec: int64(t.Nsec)} }
	e := &Entry{
		Mode: uint32(st.Mode), UID: st.Uid, GID: st.Gid, Size: int64(st.Size),
		Rdev: unix.Mkdev(st.Rdev_major, st.Rdev_minor), Dev: unix.Mkdev(st.Dev_major, st.Dev_minor),
		Ino: st.Ino, Nlink: uint64(st.Nlink),
		Atime: ts(st.Atime), Mtime: ts(st.Mtime), Ctime: ts(st.Ctime), Btime: ts(st.Btime),
		HasBtime: st.Mask&unix.STATX_BTIME != 0,
	}
	if e.Type() == unix.S_IFLNK {
		buf := make([]byte, 4097)
		n, err := unix.Readlinkat(fd, name, buf)
		if err != nil {
			return nil, &os.PathError{Op: "readlink", Path: full, Err: err}
		}
		e.Target = string(buf[:n])
	}
	// The xattr calls take paths only; through /proc/self/fd the path
	// stays short however deep the entry lies.
	x, err := xattrs(procPath(fd, name), name == "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", full, err)
	}
	e.Xattrs = x
	return e, nil
}

// procPath names the entry name of the directory fd ("" for fd itself)
// by a short path.
func procPath(fd int, name string) string {
	if name == "" {
		return fmt.Sprintf("/proc/self/fd/%d", fd)
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", fd, name)
}

// OpenParent opens the directory that holds root/rel, walking from root
// one component at a time when the path is longer than PATH_MAX, and
// returns it with the last component's name. The caller closes dirfd.
func OpenParent(root, rel string) (dirfd int, name string, err error) {
	dir, name := filepath.Split(rel)
	if len(root)+len(dir) < unix.PathMax-1 {
		fd, err := unix.Open(filepath.Join(root, dir), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, "", &os.PathError{Op: "open", Path: filepath.Join(root, dir), Err: err}
		}
		return fd, name, nil
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", &os.PathError{Op: "open", Path: root, Err: err}
	}
	for _, c := range strings.Split(strings.Trim(dir, "/"), "/") {
		next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, "", &os.PathError{Op: "open", Path: root + "/" + dir, Err: err}
		}
		fd = next
	}
	return fd, name, nil
}

// openRel opens the regular file root/rel for reading.
func openRel(root, rel string) (*os.File, error) {
	dfd, name, err := OpenParent(root, rel)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root + "/" + rel, Err: err}
	}
	return os.NewFile(uintptr(fd), root+"/"+rel), nil
}

// xattrs reads the extended attributes of path, of what it links to if
// follow (for /proc/self/fd/N itself).
func xattrs(path string, follow bool) (map[string]string, error) {
	list, get := unix.Llistxattr, unix.Lgetxattr
	if follow {
		list, get = unix.Listxattr, unix.Getxattr
	}
	// Ask for sizes first: most entries have no xattrs, and a 64 KiB
	// buffer for each of them makes scanning a big tree slow.
	n, err := list(path, nil)
	if errors.Is(err, unix.ENOTSUP) || err == nil && n == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "listxattr", Path: path, Err: err}
	}
	buf := make([]byte, n)
	if n, err = list(path, buf); err != nil {
		return nil, &os.PathError{Op: "listxattr", Path: path, Err: err}
	}
	m := map[string]string{}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" {
			continue
		}
		k, err := get(path, name, nil)
		if err != nil {
			return nil, &os.PathError{Op: "getxattr " + name, Path: path, Err: err}
		}
		v := make([]byte, k)
		if k, err = get(path, name, v); err != nil {
			return nil, &os.PathError{Op: "getxattr " + name, Path: path, Err: err}
		}
		m[name] = string(v[:k])
	}
	return m, nil
}

// Field selects what Diff compares.
type Field uint

const (
	Type   Field = 1 << iota // the file type
	Perm                     // permission bits with setuid, setgid, sticky
	Owner                    // uid and gid
	Mtime                    // the modification time, to the nanosecond
	Times                    // in got, atime, ctime and the birth time equal the mtime
	Data                     // size and bytes of regular files
	Holes                    // got's data lies within want's data: holes stayed holes
	Target                   // symlink targets
	Rdev                     // device numbers of device nodes
	Links                    // hard-link groups and link counts
	Xattrs                   // extended attributes

	All = Type | Perm | Owner | Mtime | Times | Data | Holes | Target | Rdev | Links | Xattrs
)

// Options say what Diff compares and what it expects.
type Options struct {
	Fields Field
	// Expect, if not nil, returns what got should hold for an entry of
	// want (it receives a copy it may change).
	Expect func(want Entry) Entry
	// Ignore leaves out paths of either tree, such as lost+found.
	Ignore func(path string) bool
	// HoleBlock is the granularity of holes in got (its block size; 4096
	// if 0): a data run of got may extend want's data to this alignment.
	HoleBlock int64
}

// Diff lists the differences between want and got, one line each, in path
// order; none means the trees are equal in every selected field.
func Diff(want, got *Tree, o Options) []string {
	var out []string
	add := func(path, format string, args ...any) {
		out = append(out, fmt.Sprintf("%q: ", path)+fmt.Sprintf(format, args...))
	}
	paths := map[string]bool{}
	for p := range want.Entries {
		paths[p] = true
	}
	for p := range got.Entries {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		if o.Ignore == nil || !o.Ignore(p) {
			sorted = append(sorted, p)
		}
	}
	sort.Strings(sorted)
	var wantGroups, gotGroups map[string]string
	if o.Fields&Links != 0 {
		wantGroups, gotGroups = groups(want, o.Ignore), groups(got, o.Ignore)
		out = append(out, linkCounts(got, o.Ignore)...)
	}
	for _, p := range sorted {
		w, g := want.Entries[p], got.Entries[p]
		switch {
		case g == nil:
			add(p, "missing")
			continue
		case w == nil:
			add(p, "unexpected %s", typeName(g.Mode))
			continue
		}
		exp := *w
		if o.Expect != nil {
			exp = o.Expect(exp)
		}
		f := o.Fields
		if f&Type != 0 && exp.Type() != g.Type() {
			add(p, "type %s, want %s", typeName(g.Mode), typeName(exp.Mode))
			continue
		}
		if f&Perm != 0 && exp.Mode&0o7777 != g.Mode&0o7777 {
			add(p, "mode %#o, want %#o", g.Mode&0o7777, exp.Mode&0o7777)
		}
		if f&Owner != 0 && (exp.UID != g.UID || exp.GID != g.GID) {
			add(p, "owner %d:%d, want %d:%d", g.UID, g.GID, exp.UID, exp.GID)
		}
		if f&Mtime != 0 && exp.Mtime != g.Mtime {
			add(p, "mtime %s, want %s", fmtTime(g.Mtime), fmtTime(exp.Mtime))
		}
		if f&Times != 0 {
			if g.Atime != g.Mtime || g.Ctime != g.Mtime || g.HasBtime && g.Btime != g.Mtime {
				add(p, "times differ: atime %s ctime %s btime %s mtime %s", fmtTime(g.Atime), fmtTime(g.Ctime), fmtTime(g.Btime), fmtTime(g.Mtime))
			}
		}
		if f&Target != 0 && exp.Target != g.Target {
			add(p, "symlink target %q, want %q", g.Target, exp.Target)
		}
		if f&Rdev != 0 && (g.Type() == unix.S_IFCHR || g.Type() == unix.S_IFBLK) && exp.Rdev != g.Rdev {
			add(p, "device %d:%d, want %d:%d", unix.Major(g.Rdev), unix.Minor(g.Rdev), unix.Major(exp.Rdev), unix.Minor(exp.Rdev))
		}
		if f&Xattrs != 0 && !equalXattrs(exp.Xattrs, g.Xattrs) {
			add(p, "xattrs %s, want %s", fmtXattrs(g.Xattrs), fmtXattrs(exp.Xattrs))
		}
		if f&Links != 0 && g.Type() != unix.S_IFDIR && g.Type() != unix.S_IFLNK && wantGroups[p] != gotGroups[p] {
			add(p, "hard links %s, want %s", gotGroups[p], wantGroups[p])
		}
		if f&(Data|Holes) != 0 && g.Type() == unix.S_IFREG {
			if exp.Size != g.Size {
				add(p, "size %d, want %d", g.Size, exp.Size)
				continue
			}
			if err := compareData(want.Root, p, got.Root, p, g.Size, f, o.HoleBlock); err != nil {
				add(p, "%v", err)
			}
		}
	}
	return out
}

// SameData compares the bytes of two files of any size, reading only
// their data runs: for disk images that are mostly holes.
func SameData(want, got string) error {
	a, err := os.Stat(want)
	if err != nil {
		return err
	}
	b, err := os.Stat(got)
	if err != nil {
		return err
	}
	if a.Size() != b.Size() {
		return fmt.Errorf("%s has %d bytes, %s %d", got, b.Size(), want, a.Size())
	}
	return compareData(filepath.Dir(want), filepath.Base(want), filepath.Dir(got), filepath.Base(got), a.Size(), Data, 0)
}

// groups maps every non-directory, non-symlink path to the sorted list of
// paths that share its inode.
func groups(t *Tree, ignore func(string) bool) map[string]string {
	type key struct{ dev, ino uint64 }
	by := map[key][]string{}
	for p, e := range t.Entries {
		if e.Type() == unix.S_IFDIR || e.Type() == unix.S_IFLNK || ignore != nil && ignore(p) {
			continue
		}
		k := key{e.Dev, e.Ino}
		by[k] = append(by[k], p)
	}
	m := map[string]string{}
	for _, ps := range by {
		slices.Sort(ps)
		s := fmt.Sprintf("%q", ps)
		for _, p := range ps {
			m[p] = s
		}
	}
	return m
}

// linkCounts checks every link count of t against its own entries: the
// number of names of a file, 2 plus the subdirectories of a directory.
func linkCounts(t *Tree, ignore func(string) bool) []string {
	type key struct{ dev, ino uint64 }
	names := map[key]uint64{}
	subdirs := map[string]uint64{}
	for p, e := range t.Entries {
		names[key{e.Dev, e.Ino}]++
		if e.Type() == unix.S_IFDIR && p != "." {
			subdirs[parent(p)]++
		}
	}
	var out []string
	for p, e := range t.Entries {
		if ignore != nil && ignore(p) {
			continue
		}
		want := names[key{e.Dev, e.Ino}]
		if e.Type() == unix.S_IFDIR {
			want = 2 + subdirs[p]
			if e.Nlink == 1 && want > 65000 { // dir_nlink: too many to count
				continue
			}
		}
		if e.Nlink != want {
			out = append(out, fmt.Sprintf("%q: link count %d, but %d names in the tree", p, e.Nlink, want))
		}
	}
	sort.Strings(out)
	return out
}

func parent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return "."
}

// compareData compares two regular files of the same size over the union
// of their data runs (outside both, both read as zeros) and, with Holes,
// checks that got holds no data where want has a hole.
func compareData(wantRoot, wantRel, gotRoot, gotRel string, size int64, f Field, block int64) error {
	if block == 0 {
		block = 4096
	}
	wf, err := openRel(wantRoot, wantRel)
	if err != nil {
		return err
	}
	defer wf.Close()
	gf, err := openRel(gotRoot, gotRel)
	if err != nil {
		return err
	}
	defer gf.Close()
	wantPath, gotPath := wf.Name(), gf.Name()
	wr, err := imagefile.DataRuns(int(wf.Fd()), size)
	if err != nil {
		return fmt.Errorf("%s: %w", wantPath, err)
	}
	gr, err := imagefile.DataRuns(int(gf.Fd()), size)
	if err != nil {
		return fmt.Errorf("%s: %w", gotPath, err)
	}
	if f&Holes != 0 {
		for _, r := range gr {
			if !covered(wr, r, block) {
				return fmt.Errorf("data at [%d, %d) where the source has a hole (source data %v)", r.Offset, r.Offset+r.Length, wr)
			}
		}
	}
	if f&Data == 0 {
		return nil
	}
	runs := union(wr, gr)
	var longest int64
	for _, r := range runs {
		longest = max(longest, r.Length)
	}
	buf1, buf2 := make([]byte, min(longest, 1<<20)), make([]byte, min(longest, 1<<20))
	for _, r := range runs {
		for off := r.Offset; off < r.Offset+r.Length; {
			n := min(int64(len(buf1)), r.Offset+r.Length-off)
			if _, err := io.ReadFull(io.NewSectionReader(wf, off, n), buf1[:n]); err != nil {
				return fmt.Errorf("reading %s: %w", wantPath, err)
			}
			if _, err := io.ReadFull(io.NewSectionReader(gf, off, n), buf2[:n]); err != nil {
				return fmt.Errorf("reading %s: %w", gotPath, err)
			}
			if !bytes.Equal(buf1[:n], buf2[:n]) {
				i := int64(0)
				for buf1[i] == buf2[i] {
					i++
				}
				return fmt.Errorf("data differs at byte %d: %#x, want %#x", off+i, buf2[i], buf1[i])
			}
			off += n
		}
	}
	return nil
}

// covered reports whether r lies within runs widened to block alignment.
func covered(runs []imagefile.Run, r imagefile.Run, block int64) bool {
	for pos := r.Offset; pos < r.Offset+r.Length; {
		next := pos
		for _, w := range runs {
			lo := w.Offset / block * block
			hi := (w.Offset + w.Length + block - 1) / block * block
			if lo <= pos && pos < hi {
				next = hi
				break
			}
		}
		if next == pos {
			return false
		}
		pos = next
	}
	return true
}

func union(a, b []imagefile.Run) []imagefile.Run {
	all := append(slices.Clone(a), b...)
	slices.SortFunc(all, func(x, y imagefile.Run) int { return cmp.Compare(x.Offset, y.Offset) })
	var out []imagefile.Run
	for _, r := range all {
		if n := len(out); n > 0 && r.Offset <= out[n-1].Offset+out[n-1].Length {
			out[n-1].Length = max(out[n-1].Length, r.Offset+r.Length-out[n-1].Offset)
			continue
		}
		out = append(out, r)
	}
	return out
}

func equalXattrs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func fmtXattrs(m map[string]string) string {
	var parts []string
	for k, v := range m {
		if len(v) > 32 {
			v = fmt.Sprintf("%.32s...(%d bytes)", v, len(v))
		}
		parts = append(parts, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, " ") + "}"
}

func fmtTime(t unix.Timespec) string { return fmt.Sprintf("%d.%09d", t.Sec, t.Nsec) }

func typeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "char device"
	case unix.S_IFBLK:
		return "block device"
	}
	return fmt.Sprintf("type %#o", mode&unix.S_IFMT)
}

// Clamp returns t, or epoch if t is later: SOURCE_DATE_EPOCH's rule.
func Clamp(t unix.Timespec, epoch int64) unix.Timespec {
	if t.Sec > epoch || t.Sec == epoch && t.Nsec > 0 {
		return unix.Timespec{Sec: epoch}
	}
	return t
}
