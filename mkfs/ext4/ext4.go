// Package ext4 writes an ext4 (or ext3 or ext2) file system holding a
// given tree into a region of an io.WriterAt, as
// `mke2fs -t ext4 -b 4096 -T default -m 0 -d` would, without root, loop
// devices or external programs, and with the same bytes on every run.
//
// The file system has 4096-byte blocks, 256-byte inodes and the ext4
// feature set of Debian 12's mke2fs (has_journal, ext_attr, dir_index,
// filetype, extent, 64bit, flex_bg, sparse_super, large_file, huge_file,
// dir_nlink, extra_isize, metadata_csum) except resize_inode: see
// Options for why it is left out. Options.Type selects the ext3 or ext2
// feature set instead.
//
// Writing has two phases. Layout numbers the inodes and decides where
// every block goes, in memory and from metadata alone (plus the data
// runs each regular file's Data reports); Plan.Write then writes every
// block once: metadata and small files batched into 1 MiB writes, large
// files copied straight to their final offset, by a bounded pool of
// workers. The blocks go out from the start of the region to its end,
// each group's metadata where it lies, and Plan.WriteFinal reports how
// much of the region is final as the writes complete. Allocation never
// depends on the number of workers or on timing, so the output is
// deterministic. MinSize finds the smallest
// size that holds a tree, and Plan.Relayout lays a tree out again at
// another size, without repeating the work that does not depend on it.
//
// The output region must read as zeros beforehand (a new sparse file, as
// imagefile.Create makes): blocks that are all zeros — unused inode table
// blocks, empty bitmaps, holes, the journal — are never written, so the
// image stays sparse.
//
// Layout choices where the on-disk format leaves freedom:
//   - Block and inode bitmaps and inode tables of all groups are packed
//     after the group-0 descriptors (flex_bg, flex size 16 as mke2fs
//     records it); the journal follows them, then all other blocks are
//     allocated in inode order from one cursor, skipping backup
//     superblocks. Every block before the cursor is in use.
//   - Inodes are numbered depth-first with each directory's entries in
//     byte-wise name order (as mke2fs -d does), root 2, lost+found 11,
//     the tree from 12. A hard-linked inode gets its number at its first
//     name in that order.
//   - lost+found comes right after "..", as mke2fs leaves it; the other
//     entries follow in byte-wise name order. A directory that needs more
//     than one block gets an htree index (hash half_md4, signed chars).
//   - A regular file's blocks are contiguous except where a backup
//     superblock or the 32768-block extent limit splits them; blocks that
//     Data reports as holes are not allocated. Extent tree blocks follow
//     the data, full except the last of each level.
//   - Groups with no used inode are INODE_UNINIT and groups other than
//     the last holding nothing but their superblock backup are
//     BLOCK_UNINIT, as mke2fs marks them; their bitmaps are not written.
//     Every group is ITABLE_ZEROED (the region reads as zeros).
//   - Extended attributes go into the inode while they fit (in
//     (index, name length, name) order); the rest go into an xattr block,
//     shared by inodes with identical sets (up to 1024 references).
//   - Reserved inodes 1, 3-7, 9, 10 are zero with a checksum, as mke2fs
//     leaves them; i_generation is 0 everywhere.
//
// ext2 and ext3 differ where their features make them:
//   - Each group's block bitmap, inode bitmap and inode table follow its
//     superblock backup, or start the group, as mke2fs places them
//     without flex_bg; all other blocks are allocated from one cursor
//     skipping them.
//   - Files, directories, slow symlinks and the ext3 journal are block
//     mapped. A file's indirect blocks follow its data, each after the
//     blocks it points to (the single indirect block, then the double
//     indirect block's children and itself, and so on).
//   - No checksums and no *_UNINIT flags: every bitmap is written.
//   - Inodes keep i_extra_isize 32 (nanosecond times, crtime, in-inode
//     xattrs), as mke2fs writes them with 256-byte inodes.
package ext4

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"
)

// Options describe the file system to write.
//
// resize_inode is not set (for ext2 and ext3 neither), and no GDT blocks
// are reserved for growth:
// Linux grows such a file system online all the same (systemd-growfs
// at first boot): ext4_resize_fs converts it to meta_bg once the
// descriptor table needs another block (fs/ext4/resize.c,
// ext4_convert_meta_bg), and offline resize2fs grows it too. The feature
// would cost up to 1024 reserved blocks per backup group and the
// double-indirect resize inode (spec A14).
type Options struct {
	// Type selects the feature set of `mke2fs -T default -t Type` on
	// Debian 12 (less resize_inode): "ext4" (or ""), "ext3" (ext2 with a
	// journal) or "ext2" (sparse_super, large_file, filetype, dir_index,
	// ext_attr: block maps instead of extents, no checksums, 32-byte
	// group descriptors, each group's bitmaps and inode table inside the
	// group, at most 64998 subdirectories, files up to about 2 TiB, at
	// most 16 TiB in all).
	Type string
	// Size is the size of the region in bytes. The file system has
	// Size/4096 blocks, less a last block group too small to be useful,
	// as mke2fs drops it.
	Size int64
	// Label is the volume label, at most 16 bytes.
	Label string
	// UUID is the file system UUID (s_uuid, in textual byte order); it
	// also seeds every metadata checksum.
	UUID [16]byte
	// HashSeed is s_hash_seed, the seed of directory hashes.
	HashSeed [16]byte
	// Time is written as the creation, last write and last check time
	// and as the times of lost+found (unless the tree has one) and the
	// journal inode. A zero Time is written as 0.
	Time time.Time
	// InodeRatio is the number of bytes per inode (0: 16384, mke2fs's
	// default). Inodes, if larger, is the inode count instead. The file
	// system always has room for the tree's inodes.
	InodeRatio int64
	Inodes     uint64
	// NoJournal leaves out the journal (has_journal) of ext3 and ext4.
	// File systems under 8 MiB never get one, as with mke2fs; ext2 never
	// has one.
	NoJournal bool
	// Workers bounds the goroutines copying file data (0: GOMAXPROCS,
	// at most 16). It never changes the bytes written.
	Workers int
}

// Stats summarise a laid-out file system.
type Stats struct {
	Blocks        uint64 // blocks in the file system
	UsedBlocks    uint64 // including all metadata and the journal
	Groups        uint32
	Inodes        uint64
	UsedInodes    uint64 // including the 10 reserved inodes
	JournalBlocks uint64
}

// Write lays out root with opts and writes it to w at offset off.
func Write(ctx context.Context, w io.WriterAt, off int64, root *Inode, opts Options) error {
	p, err := Layout(ctx, root, opts)
	if err != nil {
		return err
	}
	return p.Write(ctx, w, off)
}

// ErrNoSpace is wrapped by the error Layout returns when the tree does
// not fit in Options.Size.
var ErrNoSpace = errors.New("not enough space")

func (o *Options) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return min(runtime.GOMAXPROCS(0), 16)
}

func (o *Options) validate() error {
	if len(o.Label) > 16 {
		return fmt.Errorf("label %q is longer than 16 bytes", o.Label)
	}
	if o.InodeRatio < 0 {
		return fmt.Errorf("negative inode ratio %d", o.InodeRatio)
	}
	if o.InodeRatio != 0 && o.InodeRatio < InodeSize {
		return fmt.Errorf("inode ratio %d is smaller than the inode size", o.InodeRatio)
	}
	return nil
}
