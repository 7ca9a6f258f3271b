package fstree

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
)

// Source-side primitives: resolving configured paths under the source root
// and reading one inode's metadata. Everything works relative to an open
// directory fd so that trees deeper than PATH_MAX scan like any other.

// errEscape is returned for a symlink that leads above the source root.
var errEscape = errors.New("symlink leads out of the source tree")

// maxSymlinks bounds symlink expansions in one resolution, as the kernel's
// 40 does.
const maxSymlinks = 40

type devIno struct{ dev, ino uint64 }

func keyOf(st *unix.Stat_t) devIno { return devIno{st.Dev, st.Ino} }

// hostPath is the host path of components below the source root.
func (b *builder) hostPath(comps []string) string {
	if len(comps) == 0 {
		return b.root
	}
	if b.root == "/" {
		return "/" + strings.Join(comps, "/")
	}
	return b.root + "/" + strings.Join(comps, "/")
}

// chaseSource resolves a path of the source namespace the way repart's
// chase(CHASE_PREFIX_ROOT) does: symlinks are followed (the last component
// too when followFinal), absolute targets restart at the source root. It
// returns the physical components of the result and its lstat.
func (b *builder) chaseSource(comps []string, followFinal bool) ([]string, unix.Stat_t, error) {
	var st unix.Stat_t
	todo := append([]string(nil), comps...)
	cur := []string{}
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				if b.root == "/" {
					continue // "/.." is "/" on the host too
				}
				return nil, st, errEscape
			}
			cur = cur[:len(cur)-1]
			continue
		}
		next := append(cur[:len(cur):len(cur)], c)
		if err := unix.Lstat(b.hostPath(next), &st); err != nil {
			return nil, st, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK && (len(todo) > 0 || followFinal) {
			if hops++; hops > maxSymlinks {
				return nil, st, unix.ELOOP
			}
			target, err := readlinkAt(unix.AT_FDCWD, b.hostPath(next))
			if err != nil {
				return nil, st, err
			}
			if target == "" {
				return nil, st, unix.ENOENT
			}
			if target[0] == '/' {
				cur = cur[:0]
			}
			todo = append(strings.Split(target, "/"), todo...)
			continue
		}
		if len(todo) > 0 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil, st, unix.ENOTDIR
		}
		cur = next
	}
	if len(cur) == 0 {
		if err := unix.Lstat(b.root, &st); err != nil {
			return nil, st, err
		}
	}
	return cur, st, nil
}

func readlinkAt(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

func kindOf(mode uint32) Kind {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return KindRegular
	case unix.S_IFDIR:
		return KindDir
	case unix.S_IFLNK:
		return KindSymlink
	case unix.S_IFIFO:
		return KindFIFO
	case unix.S_IFSOCK:
		return KindSocket
	case unix.S_IFCHR:
		return KindCharDev
	case unix.S_IFBLK:
		return KindBlockDev
	}
	return 0
}

// clamp applies SOURCE_DATE_EPOCH to a source time.
func (b *builder) clamp(ts unix.Timespec) Time {
	t := Time{Sec: ts.Sec, Nsec: uint32(ts.Nsec)}
	if e := b.opts.SourceDateEpoch; e != nil && (t.Sec > *e || t.Sec == *e && t.Nsec > 0) {
		t = Time{Sec: *e}
	}
	return t
}

// inodeFrom fills the metadata every kind shares from a source stat.
func (b *builder) inodeFrom(st *unix.Stat_t) *Inode {
	b.opts.Progress.Add(1)
	ino := &Inode{
		Kind:     kindOf(st.Mode),
		Mode:     st.Mode & 0o7777,
		Mtime:    b.clamp(st.Mtim),
		dev:      st.Dev,
		ino:      st.Ino,
		srcMtime: st.Mtim,
	}
	if b.opts.KeepOwnership {
		ino.UID, ino.GID = st.Uid, st.Gid
	}
	return ino
}

// scanLeaf reads a non-directory at dirfd/name (host is its path, for
// messages and Inode.Source; st its lstat).
func (b *builder) scanLeaf(dirfd int, name, host string, st *unix.Stat_t) (*Inode, error) {
	ino := b.inodeFrom(st)
	var err error
	switch ino.Kind {
	case KindRegular:
		err = b.scanRegular(ino, dirfd, name, host)
	case KindSymlink:
		ino.Target, err = readlinkAt(dirfd, name)
		ino.Size = int64(len(ino.Target))
		if err == nil {
			ino.Xattrs, err = b.xattrsAt(dirfd, name, host)
		}
	case KindCharDev, KindBlockDev:
		ino.Rdev = uint64(st.Rdev)
		fallthrough
	case KindFIFO, KindSocket:
		ino.Xattrs, err = b.xattrsAt(dirfd, name, host)
	default:
		return nil, fmt.Errorf("%s: unsupported file type %#o", host, st.Mode&unix.S_IFMT)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", host, err)
	}
	return ino, nil
}

// scanRegular opens the file (never reading it) for its xattrs and data
// runs, and checks it is still the inode that was listed.
func (b *builder) scanRegular(ino *Inode, dirfd int, name, host string) error {
	fd, err := openFile(dirfd, name)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Dev != ino.dev || st.Ino != ino.ino {
		return errors.New("file was replaced during the scan")
	}
	ino.Size = st.Size
	ino.srcMtime = st.Mtim
	ino.Mtime = b.clamp(st.Mtim)
	ino.Source = host
	ino.rootLen = len(b.root)
	if b.root == "/" {
		ino.rootLen = 0
	}
	if ino.Data, err = imagefile.DataRuns(fd, st.Size); err != nil {
		return err
	}
	ino.Xattrs, err = xattrsFd(fd)
	return err
}

// procFD tells whether /proc/self/fd paths work, which lets us read xattrs
// of inodes that cannot be opened (symlinks, devices, ...) relative to a
// directory fd, whatever the length of their full path.
// It is looked up on first use, not at package initialisation.
var procFD = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
})

// xattrsAt reads the xattrs of dirfd/name without following a symlink.
func (b *builder) xattrsAt(dirfd int, name, host string) ([]Xattr, error) {
	path := host
	if dirfd != unix.AT_FDCWD && procFD() {
		path = "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
	}
	return readXattrs(
		func(buf []byte) (int, error) { return unix.Llistxattr(path, buf) },
		func(attr string, buf []byte) (int, error) { return unix.Lgetxattr(path, attr, buf) })
}

func xattrsFd(fd int) ([]Xattr, error) {
	return readXattrs(
		func(buf []byte) (int, error) { return unix.Flistxattr(fd, buf) },
		func(attr string, buf []byte) (int, error) { return unix.Fgetxattr(fd, attr, buf) })
}

// readXattrs lists and reads every attribute the kernel lets us read.
// Attributes that vanish or that we may not read are left out; a file
// system without xattrs has none.
func readXattrs(list func([]byte) (int, error), get func(string, []byte) (int, error)) ([]Xattr, error) {
	names, err := sizedRead(list)
	if err != nil {
		if err == unix.ENOTSUP || err == unix.EOPNOTSUPP {
			return nil, nil
		}
		return nil, fmt.Errorf("listing xattrs: %w", err)
	}
	var xs []Xattr
	for _, n := range bytes.Split(names, []byte{0}) {
		if len(n) == 0 {
			continue
		}
		name := string(n)
		v, err := sizedRead(func(buf []byte) (int, error) { return get(name, buf) })
		switch err {
		case nil:
		case unix.ENODATA, unix.EPERM, unix.EACCES, unix.ENOTSUP:
			continue
		default:
			return nil, fmt.Errorf("reading xattr %s: %w", name, err)
		}
		xs = append(xs, Xattr{Name: name, Value: v})
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].Name < xs[j].Name })
	return xs, nil
}

// sizedRead calls a listxattr/getxattr-style function first for the size,
// then for the bytes, retrying if the value grew in between.
func sizedRead(f func([]byte) (int, error)) ([]byte, error) {
	for {
		n, err := f(nil)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return []byte{}, nil
		}
		buf := make([]byte, n)
		n, err = f(buf)
		if err == unix.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
