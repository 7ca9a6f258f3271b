package vfat

import (
	"fmt"
	"time"

	"github.com/hermetic-repart/hermetic-repart/mkfs/filedata"
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

// The content of regular files: see package filedata.
type (
	Run   = filedata.Run
	Data  = filedata.Data
	Bytes = filedata.Bytes
	File  = filedata.File
)
