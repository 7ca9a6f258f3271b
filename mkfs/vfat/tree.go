package vfat

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
)

// Kind is the type of an inode. FAT holds only regular files and
// directories: symlinks, devices, fifos and sockets must be dropped (or
// refused) by the caller.
type Kind uint8

// The kinds of inode a FAT file system can hold.
const (
	Regular Kind = iota + 1
	Dir
)

func (k Kind) String() string {
	switch k {
	case Regular:
		return "regular file"
	case Dir:
		return "directory"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Attr holds the DOS attribute bits a file or directory may carry. The
// directory bit comes from Kind; volume-label and long-name bits are the
// writer's own.
type Attr uint8

// The attribute bits Inode.Attr may hold.
const (
	ReadOnly Attr = 0x01
	Hidden   Attr = 0x02
	System   Attr = 0x04
	Archive  Attr = 0x20
)

const attrMask = ReadOnly | Hidden | System | Archive

// AttrFromPerm returns the attributes Linux's vfat driver gives a new
// inode with permission bits perm under default mount options: Archive
// and, when no write bit is set, ReadOnly on regular files; nothing on
// directories (ReadOnly needs the "rodir" option there). See fs/fat:
// vfat_build_slots and fat_make_attrs. A bridge from a Unix tree can use
// it.
func AttrFromPerm(k Kind, perm uint32) Attr {
	if k != Regular {
		return 0
	}
	if perm&0o222 == 0 {
		return Archive | ReadOnly
	}
	return Archive
}

// Inode is one file of the tree to write, like archive/tar's Header: only
// metadata, plus a Data source for the bytes of a regular file.
//
// FAT has no hard links: an *Inode of kind Regular reachable under
// several names is written as independent copies. A directory must be
// reachable exactly once.
type Inode struct {
	Kind Kind
	// Attr are the DOS attributes (ReadOnly, Hidden, System, Archive);
	// other bits are an error. See AttrFromPerm.
	Attr Attr
	// Mtime becomes the write time (2-second resolution) and, as Linux
	// does on create, the creation time (10 ms resolution) and the access
	// date. Times are written as UTC and clamped to 1980-01-01 00:00:00
	// to 2107-12-31 23:59:58; a zero time.Time becomes 1980-01-01.
	Mtime time.Time

	// Size is the length of a regular file in bytes, at most 4 GiB − 1.
	Size int64
	// Data is the content of a regular file; nil means Size zero bytes.
	Data Data

	// Entries are the children of a directory, in any order: they are
	// written in byte-wise name order. Names are bytes that must be valid
	// UTF-8 a FAT long name can hold (see Layout).
	Entries []Entry
}

// Entry is one name in a directory.
type Entry struct {
	Name  string
	Inode *Inode
}

// Run is a byte range [Offset, Offset+Length) of a file's content.
type Run = imagefile.Run

// Data is the content of a regular file (the same contract as package
// mkfs/ext4's Data, so one adapter can serve both writers).
//
// FAT has no holes: every cluster of a file is allocated. Plan.Write
// asks for Runs (once per file, before copying it) and copies only them;
// everything outside the runs is left as the zeros the output region
// already holds. CopyTo may be called from several goroutines at once.
type Data interface {
	// Runs returns where the content may be non-zero: byte ranges in
	// increasing order, not overlapping, within [0, size). Reporting
	// zeros inside a run is allowed.
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
// (without the trailing zeros).
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
// Runs are found with SEEK_DATA/SEEK_HOLE, so holes in the source are not
// read; copies use copy_file_range when the destination is a file.
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
