package ext4

import "fmt"

// geometryError is an error of newGeometry. Those that a larger size
// could cure wrap ErrNoSpace; grow says how MinSize should search on.
type geometryError struct {
	msg  string
	grow growth
}

type growth uint8

const (
	growNever growth = iota // no larger size helps (too large)
	growBlock               // try the next block
	growGroup               // try the next group count
)

func (e *geometryError) Error() string { return e.msg }

func (e *geometryError) Unwrap() error {
	if e.grow == growNever {
		return nil
	}
	return ErrNoSpace
}

func geoErr(grow growth, format string, args ...any) error {
	return &geometryError{msg: fmt.Sprintf(format, args...), grow: grow}
}

// Fixed parameters of the file systems this package writes.
const (
	BlockSize      = 4096
	InodeSize      = 256
	blocksPerGroup = 8 * BlockSize // one block bitmap block
	inodesPerBlock = BlockSize / InodeSize
	extraIsize     = 32
	firstIno       = 11 // s_first_ino: lost+found
	rootIno        = 2
	journalIno     = 8
	logFlex        = 4 // 16 groups per flex group, as mke2fs
	maxLinks       = 65000
)

// DefaultInodeRatio is mke2fs's bytes-per-inode for the "default" usage
// type.
const DefaultInodeRatio = 16384

// geometry is the shape of the file system: how many blocks and groups,
// how many inodes per group.
type geometry struct {
	blocks    uint64 // s_blocks_count
	groups    uint32
	ipg       uint32 // inodes per group
	itb       uint32 // inode table blocks per group
	gdtBlocks uint32 // blocks of group descriptors (no reserved GDT blocks)
	// flex: flex_bg, the bitmaps and inode tables of all groups are
	// packed at the start; else each group starts with its own (after
	// its superblock backup) as mke2fs places them without flex_bg.
	flex bool
}

// newGeometry computes the geometry as ext2fs_initialize does for a
// device of size bytes that should hold at least inodes inodes: ipg rounded
// up to fill whole inode table blocks, and a last group too small for its
// own metadata plus 50 blocks dropped.
func newGeometry(size int64, inodes uint64, f *features) (geometry, error) {
	g := geometry{flex: f.modern}
	if size < 0 {
		return g, fmt.Errorf("negative size %d", size)
	}
	g.blocks = uint64(size) / BlockSize
	if inodes < firstIno+1 {
		inodes = firstIno + 1
	}
	for {
		if g.blocks == 0 {
			return g, geoErr(growBlock, "%d bytes is too small for an %s file system", size, f.name)
		}
		groups := (g.blocks + blocksPerGroup - 1) / blocksPerGroup
		if groups > 1<<32-1 || (f.descSize < 64 && g.blocks > 1<<32-1) {
			return g, geoErr(growNever, "%d bytes is too large for an %s file system", size, f.name)
		}
		g.groups = uint32(groups)
		ipg := (inodes + groups - 1) / groups
		ipg = (ipg + inodesPerBlock - 1) / inodesPerBlock * inodesPerBlock
		if ipg > blocksPerGroup {
			return g, geoErr(growGroup, "%d inodes do not fit in %d bytes (at most %d per group of 128 MiB)", inodes, size, blocksPerGroup)
		}
		if ipg*groups > 1<<32-1 {
			return g, geoErr(growNever, "%d inodes are more than %s allows", ipg*groups, f.name)
		}
		g.ipg = uint32(ipg)
		g.itb = g.ipg / inodesPerBlock
		g.gdtBlocks = uint32((groups*f.descSize + BlockSize - 1) / BlockSize)

		overhead := uint64(2 + g.itb)
		if hasSuper(g.groups - 1) {
			overhead += 1 + uint64(g.gdtBlocks)
		}
		rem := g.blocks % blocksPerGroup
		if rem != 0 && rem < overhead+50 {
			if g.groups == 1 {
				return g, geoErr(growBlock, "%d bytes is too small for an %s file system", size, f.name)
			}
			g.blocks -= rem
			continue
		}
		return g, nil
	}
}

// hasSuper reports whether group holds a superblock backup (sparse_super:
// groups 0, 1 and the powers of 3, 5 and 7).
func hasSuper(group uint32) bool {
	if group <= 1 {
		return true
	}
	if group&1 == 0 {
		return false
	}
	for _, b := range []uint32{3, 5, 7} {
		n := uint64(b)
		for n < uint64(group) {
			n *= uint64(b)
		}
		if n == uint64(group) {
			return true
		}
	}
	return false
}

// groupStart is the first block of group.
func groupStart(group uint32) uint64 { return uint64(group) * blocksPerGroup }

// groupBlocks is the number of blocks in group (the last may be short).
func (g *geometry) groupBlocks(group uint32) uint64 {
	if group == g.groups-1 {
		return g.blocks - groupStart(group)
	}
	return blocksPerGroup
}

// superBlocks is the number of blocks at the start of group taken by the
// superblock copy and the descriptor table (0 for groups without one).
func (g *geometry) superBlocks(group uint32) uint64 {
	if !hasSuper(group) {
		return 0
	}
	return 1 + uint64(g.gdtBlocks)
}

// reserved is the number of blocks at the start of group that the
// allocator skips.
func (g *geometry) reserved(group uint32) uint64 {
	if g.flex {
		return g.superBlocks(group)
	}
	return g.superBlocks(group) + 2 + uint64(g.itb)
}

// backups is the number of groups before group with a superblock copy
// (group 0's included).
func backups(group uint32) uint64 {
	n := uint64(min(group, 2))
	for _, b := range []uint64{3, 5, 7} {
		for p := b; p < uint64(group); p *= b {
			n++
		}
	}
	return n
}

// metaBlocks is the number of blocks all groups spend on superblocks,
// descriptors, bitmaps and inode tables.
func (g *geometry) metaBlocks() uint64 {
	return backups(g.groups)*(1+uint64(g.gdtBlocks)) + uint64(g.groups)*(2+uint64(g.itb))
}

// journalBlocks is ext2fs_default_journal_size: the journal mke2fs makes
// for a file system of this many blocks (0: too small for one).
func journalBlocks(blocks uint64) uint64 {
	switch {
	case blocks < 2048:
		return 0
	case blocks < 32768:
		return 1024
	case blocks < 256*1024:
		return 4096
	case blocks < 512*1024:
		return 8192
	case blocks < 4096*1024:
		return 16384
	case blocks < 8192*1024:
		return 32768
	case blocks < 16384*1024:
		return 65536
	case blocks < 32768*1024:
		return 131072
	}
	return 262144
}
