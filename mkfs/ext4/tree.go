package ext4

import (
	"fmt"
	"time"

	"github.com/hermetic-repart/hermetic-repart/mkfs/filedata"
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

// The content of regular files: see package filedata.
type (
	Run   = filedata.Run
	Data  = filedata.Data
	Bytes = filedata.Bytes
	File  = filedata.File
)
