package ext4

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
)

// Kind is the type of an inode.
type Kind uint8

// The kinds of inode a file system can hold.
const (
	Regular Kind = iota + 1
	Dir
	Symlink
	CharDev
	BlockDev
	FIFO
	Socket
)

func (k Kind) String() string {
	switch k {
	case Regular:
		return "regular file"
	case Dir:
		return "directory"
	case Symlink:
		return "symlink"
	case CharDev:
		return "character device"
	case BlockDev:
		return "block device"
	case FIFO:
		return "fifo"
	case Socket:
		return "socket"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Inode is one file of the tree to write, like archive/tar's Header: only
// metadata, plus a Data source for the bytes of a regular file. The
// content model (package fstree) is adapted to it by a thin bridge; the
// writer itself knows nothing about where the tree came from.
//
// Hard links are one *Inode reachable under several names (pointer
// identity); directories must be reachable exactly once.
type Inode struct {
	Kind Kind
	// Perm holds the permission bits including setuid, setgid and sticky
	// (07777); the file type comes from Kind.
	Perm     uint16
	UID, GID uint32
	// Times, written with nanoseconds. A zero time.Time is written as the
	// Unix epoch; times outside 1901-12-13 to 2310-04-04 are clamped to
	// that range (ext4 reaches 2446, but e2fsck mistakes times after
	// 2310-04-04 for pre-1970 ones).
	Atime, Mtime, Ctime, Crtime time.Time

	// Size is the length of a regular file in bytes.
	Size int64
	// Data is the content of a regular file; nil means Size zero bytes
	// (a file that is one hole).
	Data Data

	// Target is the target of a symlink (1 to 4095 bytes, no NUL).
	Target string

	// Major and Minor are the device number of a CharDev or BlockDev.
	Major, Minor uint32

	// Xattrs are the extended attributes, in any order. Names carry their
	// namespace prefix ("user.", "trusted.", "security.",
	// "system.posix_acl_access", "system.posix_acl_default"). POSIX ACLs
	// are given as getxattr(2) returns them and converted to ext4's
	// on-disk form.
	Xattrs []Xattr

	// Entries are the children of a directory, in any order: they are
	// written in byte-wise name order. Names are bytes (not necessarily
	// UTF-8), 1 to 255 long, without '/' or NUL, and not "." or "..".
	Entries []Entry
}

// Entry is one name in a directory.
type Entry struct {
	Name  string
	Inode *Inode
}

// Xattr is one extended attribute.
type Xattr struct {
	Name  string
	Value []byte
}

// Run is a byte range [Offset, Offset+Length) of a file's content.
type Run = imagefile.Run

// Data is the content of a regular file.
//
// The writer asks for Runs while it lays out the file system (before any
// data moves) and allocates blocks only for them: everything outside the
// runs reads as zeros and becomes a hole. Later, possibly from several
// goroutines at once, it calls CopyTo for pieces of those runs, each piece
// going straight to its final place in the output.
type Data interface {
	// Runs returns where the content may be non-zero: byte ranges in
	// increasing order, not overlapping, within [0, size). Reporting
	// zeros inside a run is allowed (they are allocated and left zero).
	Runs(size int64) ([]Run, error)
	// CopyTo writes the n content bytes starting at off to dst at dstOff.
	// It must write exactly those bytes or fail; it may skip bytes that
	// are zero, since the output region reads as zeros. dst is the
	// io.WriterAt given to the writer: when it is an *os.File, or has an
	// OS() *os.File method (as imagefile.File does), implementations may
	// use copy_file_range.
	CopyTo(ctx context.Context, dst io.WriterAt, dstOff, off, n int64) error
}

// Bytes is file content held in memory. Runs reports it as one run
// (without the trailing zeros), so a Bytes file is never sparse inside.
type Bytes []byte

// Runs implements Data.
func (b Bytes) Runs(size int64) ([]Run, error) {
	n := min(int64(len(b)), size)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	if n == 0 {
		return nil, nil
	}
	return []Run{{Offset: 0, Length: n}}, nil
}

// CopyTo implements Data.
func (b Bytes) CopyTo(ctx context.Context, dst io.WriterAt, dstOff, off, n int64) error {
	if off < 0 || off+n > int64(len(b)) {
		return fmt.Errorf("range %d+%d outside %d bytes of content", off, n, len(b))
	}
	return imagefile.WriteNonZero(dst, b[off:off+n], dstOff)
}

// File is the content of a regular file on the host, read at write time.
// Runs are found with SEEK_DATA/SEEK_HOLE, so holes in the source stay
// holes; copies use copy_file_range when the destination is a file.
type File struct {
	Path string
}

// Runs implements Data.
func (f File) Runs(size int64) ([]Run, error) {
	fd, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	return imagefile.DataRuns(int(fd.Fd()), size)
}

// CopyTo implements Data.
func (f File) CopyTo(ctx context.Context, dst io.WriterAt, dstOff, off, n int64) error {
	src, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := imagefile.CopyData(ctx, dst, dstOff, src, off, n); err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	return nil
}
