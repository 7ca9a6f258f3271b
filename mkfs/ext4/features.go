package ext4

import "fmt"

// features is the feature set of a file system type, as Debian 12's
// mke2fs.conf gives it for `mke2fs -T default -t TYPE`, minus
// resize_inode (see Options).
type features struct {
	name     string
	journal  bool // has_journal unless Options.NoJournal
	extents  bool // extent; else block maps
	modern   bool // 64bit, flex_bg, huge_file, dir_nlink, extra_isize, metadata_csum
	descSize uint64
	// dxMaxLevels is the most hash index levels below a directory's
	// root block: 2 would need large_dir, which older kernels, GRUB and
	// e2fsprogs before 1.44 do not read.
	dxMaxLevels int
}

var (
	ext2Features = features{name: "ext2", descSize: 32, dxMaxLevels: 1}
	ext3Features = features{name: "ext3", journal: true, descSize: 32, dxMaxLevels: 1}
	ext4Features = features{name: "ext4", journal: true, extents: true, modern: true, descSize: 64, dxMaxLevels: 1}
)

func featuresOf(typ string) (*features, error) {
	switch typ {
	case "", "ext4":
		return &ext4Features, nil
	case "ext3":
		return &ext3Features, nil
	case "ext2":
		return &ext2Features, nil
	}
	return nil, fmt.Errorf("unknown file system type %q (ext2, ext3 or ext4)", typ)
}

// The feature bits in the superblock.
func (f *features) compat(journal bool) uint32 {
	c := uint32(compatExtAttr | compatDirIndex)
	if journal {
		c |= compatHasJournal
	}
	return c
}

func (f *features) incompat() uint32 {
	c := uint32(incompatFiletype)
	if f.extents {
		c |= incompatExtents
	}
	if f.modern {
		c |= incompat64bit | incompatFlexBG
	}
	return c
}

func (f *features) roCompat() uint32 {
	c := uint32(roCompatSparseSuper | roCompatLargeFile)
	if f.modern {
		c |= roCompatHugeFile | roCompatDirNlink | roCompatExtraIsize | roCompatMetadataCsum
	}
	return c
}

// Directory block and index geometry: metadata_csum takes a 12-byte tail
// from every leaf block and 8 bytes from every index block.
func (f *features) dirUsable() int {
	if f.modern {
		return BlockSize - dirTail
	}
	return BlockSize
}

func (f *features) dxRootLimit() int {
	if f.modern {
		return (BlockSize - 0x20 - 8) / 8 // 507
	}
	return (BlockSize - 0x20) / 8 // 508
}

func (f *features) dxNodeLimit() int {
	if f.modern {
		return (BlockSize - 0x08 - 8) / 8 // 510
	}
	return (BlockSize - 0x08) / 8 // 511
}

// maxFileSize is the largest regular file. Extent-mapped: 2^32 - 1
// blocks (the 32-bit logical block number). Block-mapped without
// huge_file: i_blocks counts 512-byte sectors in 32 bits, and data plus
// all indirect blocks of a dense file must stay below that; this is
// ext4_max_bitmap_size of kernels before 5.15, which is smaller than
// later kernels' and e2fsck's limits.
func (f *features) maxFileSize() int64 {
	if f.extents {
		return (1<<32 - 1) * BlockSize
	}
	const (
		ppb  = BlockSize / 4
		meta = 1 + (1 + ppb) + (1 + ppb + ppb*ppb)
	)
	return ((1<<32-1)>>(12-9) - meta) * BlockSize
}
