package fstree

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
)

// Kind is the type of an inode.
type Kind uint8

const (
	KindRegular Kind = iota + 1
	KindDir
	KindSymlink
	KindFIFO
	KindSocket
	KindCharDev
	KindBlockDev
)

var kindNames = [...]string{KindRegular: "file", KindDir: "dir", KindSymlink: "symlink",
	KindFIFO: "fifo", KindSocket: "socket", KindCharDev: "chardev", KindBlockDev: "blockdev"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// typeBits is the S_IFMT value of each kind.
var typeBits = [...]uint32{KindRegular: unix.S_IFREG, KindDir: unix.S_IFDIR, KindSymlink: unix.S_IFLNK,
	KindFIFO: unix.S_IFIFO, KindSocket: unix.S_IFSOCK, KindCharDev: unix.S_IFCHR, KindBlockDev: unix.S_IFBLK}

// Time is a timestamp in seconds and nanoseconds since the Unix epoch. A
// plain struct rather than time.Time: comparable, no location or monotonic
// reading to leak into output.
type Time struct {
	Sec  int64
	Nsec uint32
}

// Xattr is one extended attribute; Name includes the namespace ("user.x").
type Xattr struct {
	Name  string
	Value []byte
}

// Run is a data range of a regular file (holes lie between runs).
type Run = imagefile.Run

// Inode is one file system object. Several Entries refer to the same Inode
// when they are hard links.
type Inode struct {
	Kind Kind
	// Mode holds the permission bits only (07777: rwx for owner, group and
	// others, setuid, setgid, sticky); UnixMode adds the type.
	Mode     uint32
	UID, GID uint32
	// Mtime is the only time kept: writers use it for atime, ctime and
	// mtime (see the package documentation).
	Mtime Time
	// Size is the length of a regular file, or of a symlink's target; 0
	// for everything else (directory sizes are the writer's business).
	Size int64
	// Rdev is the device number of a character or block device, as in
	// stat(2); unix.Major and unix.Minor split it.
	Rdev uint64
	// Target is a symlink's target, as bytes.
	Target string
	// Xattrs are sorted by name.
	Xattrs []Xattr
	// Source is the absolute path of a regular file's source, for the data
	// copy; use Open, which checks the file did not change since the scan.
	Source string
	// Data lists where a regular file's data is, in increasing order, as
	// SEEK_DATA/SEEK_HOLE reported it; nil for an empty or all-hole file.
	Data []Run
	// Nlink is the number of entries of the Tree that refer to this inode;
	// for a directory, 2 plus its subdirectories.
	Nlink uint32
	// Entries are a directory's entries, in byte-wise name order.
	Entries []Entry
	// Index is the inode's position in Tree.Inodes (the root is 0):
	// the order in which Walk first meets it.
	Index int

	// Identity of the source at scan time, for Open.
	dev, ino uint64
	srcMtime unix.Timespec
	rootLen  int // length of the source root prefix of Source

	// Build-time state of directories.
	children map[string]*Inode
	parent   *Inode
}

// Entry is one name in a directory.
type Entry struct {
	Name  string // bytes, not necessarily UTF-8; never "." or ".."
	Inode *Inode
}

// UnixMode is the inode's mode as in stat(2): type and permission bits.
func (i *Inode) UnixMode() uint32 { return typeBits[i.Kind] | i.Mode }

// DataBytes is the number of bytes in the data runs of a regular file.
func (i *Inode) DataBytes() int64 {
	var n int64
	for _, r := range i.Data {
		n += r.Length
	}
	return n
}

// Tree is the content of one partition.
type Tree struct {
	Root *Inode
	// Inodes lists every distinct inode once, in the order Walk first
	// meets it; writers can number inodes from it.
	Inodes []*Inode
	// Warnings are the notices repart would log and carry on after (a
	// missing CopyFiles source, ...), in the order they arose.
	Warnings []string
	Stats    Stats
}

// Stats are totals a sizing step (Minimize=) needs without walking the tree.
type Stats struct {
	Inodes    int // distinct inodes, root included
	Files     int // regular files
	Dirs      int // directories, root included
	Symlinks  int
	Specials  int   // fifos, sockets, devices
	Entries   int   // directory entries (names), "." and ".." not counted
	HardLinks int   // entries beyond the first for each inode
	Size      int64 // sum of regular file sizes, each inode once
	DataBytes int64 // sum of data runs of regular files, each inode once
	// SymlinkBytes is the sum of symlink target lengths.
	SymlinkBytes int64
	// XattrBytes is the sum of xattr name and value lengths, each inode once.
	XattrBytes int64
	// NameBytes is the sum of the lengths of all entry names.
	NameBytes int64
	// MaxEntries is the largest number of entries in one directory.
	MaxEntries int
}

// WalkFunc is called for every entry of the tree; path is "/" for the root
// and "/a/b" below it. A hard-linked inode is visited once per name.
// Returning fs.SkipDir from a directory skips its entries; any other error
// stops the walk and is returned by Walk.
type WalkFunc func(path string, ino *Inode) error

// Walk visits the tree depth-first, parents before children, entries in
// byte-wise name order.
func (t *Tree) Walk(fn WalkFunc) error {
	err := walk("/", t.Root, fn)
	if errors.Is(err, fs.SkipDir) {
		return nil
	}
	return err
}

func walk(path string, ino *Inode, fn WalkFunc) error {
	if err := fn(path, ino); err != nil {
		if err == fs.SkipDir && ino.Kind == KindDir {
			return nil
		}
		return err
	}
	prefix := path
	if prefix != "/" {
		prefix += "/"
	}
	for _, e := range ino.Entries {
		if err := walk(prefix+e.Name, e.Inode, fn); err != nil {
			return err
		}
	}
	return nil
}

// Lookup returns the inode at an absolute path of the image, without
// following symlinks, or nil.
func (t *Tree) Lookup(path string) *Inode {
	cur := t.Root
	for _, c := range strings.Split(path, "/") {
		if c == "" || c == "." {
			continue
		}
		if cur.Kind != KindDir {
			return nil
		}
		i := sort.Search(len(cur.Entries), func(i int) bool { return cur.Entries[i].Name >= c })
		if i == len(cur.Entries) || cur.Entries[i].Name != c {
			return nil
		}
		cur = cur.Entries[i].Inode
	}
	return cur
}

// Dump writes one line per entry, in walk order, with all the metadata the
// writers use (but not the source path, so that two trees built from
// equal sources in different places dump the same). Strings are quoted
// with strconv.Quote, so non-UTF-8 bytes show as \x escapes. It is meant
// for golden tests and for comparing builds.
func (t *Tree) Dump(w io.Writer) error {
	bw := bufio.NewWriter(w)
	err := t.Walk(func(path string, ino *Inode) error {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s %04o %d:%d %d.%09d nlink=%d inode=%d", strconv.Quote(path), ino.Kind,
			ino.Mode, ino.UID, ino.GID, ino.Mtime.Sec, ino.Mtime.Nsec, ino.Nlink, ino.Index)
		switch ino.Kind {
		case KindRegular:
			fmt.Fprintf(&b, " size=%d data=[", ino.Size)
			for i, r := range ino.Data {
				if i > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "%d+%d", r.Offset, r.Length)
			}
			b.WriteByte(']')
		case KindSymlink:
			fmt.Fprintf(&b, " -> %s", strconv.Quote(ino.Target))
		case KindCharDev, KindBlockDev:
			fmt.Fprintf(&b, " rdev=%d:%d", unix.Major(ino.Rdev), unix.Minor(ino.Rdev))
		}
		for _, x := range ino.Xattrs {
			fmt.Fprintf(&b, " xattr:%s=%s", strconv.Quote(x.Name), strconv.Quote(string(x.Value)))
		}
		b.WriteByte('\n')
		_, err := bw.WriteString(b.String())
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// Open opens a regular file's source for reading its data, and fails if
// the file is no longer the one that was scanned (other inode, size or
// mtime), so that a source changing during the build is an error rather
// than a corrupt image. Paths longer than PATH_MAX are opened component by
// component.
func (i *Inode) Open() (*os.File, error) {
	if i.Kind != KindRegular || i.Source == "" {
		return nil, fmt.Errorf("fstree: Open of a %s", i.Kind)
	}
	fd, err := openSource(i.Source, i.rootLen)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", i.Source, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("opening %s: %w", i.Source, err)
	}
	if st.Dev != i.dev || st.Ino != i.ino || st.Size != i.Size || st.Mtim != i.srcMtime {
		unix.Close(fd)
		return nil, fmt.Errorf("%s changed while the image was being built", i.Source)
	}
	return os.NewFile(uintptr(fd), i.Source), nil
}

// openSource opens a regular file without following a symlink in its last
// component; a path longer than PATH_MAX is walked from the source root
// (which may itself be reached through symlinks) with openat.
func openSource(path string, rootLen int) (int, error) {
	if len(path) < unix.PathMax {
		return openFile(unix.AT_FDCWD, path)
	}
	root := path[:rootLen]
	if root == "" {
		root = "/"
	}
	dfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	comps := strings.Split(strings.TrimPrefix(path[rootLen:], "/"), "/")
	for _, c := range comps[:len(comps)-1] {
		nfd, err := unix.Openat(dfd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dfd)
		if err != nil {
			return -1, err
		}
		dfd = nfd
	}
	defer unix.Close(dfd)
	return openFile(dfd, comps[len(comps)-1])
}

// openFile opens a regular file for reading; O_NOATIME keeps the scan and
// the copy from touching the source's atime where the kernel allows it
// (owner or CAP_FOWNER).
func openFile(dirfd int, name string) (int, error) {
	const flags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK
	fd, err := unix.Openat(dirfd, name, flags|unix.O_NOATIME, 0)
	if err == unix.EPERM {
		fd, err = unix.Openat(dirfd, name, flags, 0)
	}
	return fd, err
}
