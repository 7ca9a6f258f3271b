package ext4

import "encoding/binary"

// Extent trees (spec A8). Up to 4 extents sit in the inode; more go into
// leaf blocks of 340 extents, with as many index levels above them as
// needed. Every tree block is full except the last of its level, which is
// the shallowest and narrowest tree for the count.

const (
	extentMagic     = 0xF30A
	maxExtentLen    = 32768
	inodeExtents    = 4
	blockExtents    = (BlockSize - 12) / 12 // 340
	maxExtentDepth  = 5
	extentTailOff   = 12 + 12*blockExtents
	extentHdrInline = 12
)

// extent maps length blocks at logical block to physical blocks.
type extent struct {
	logical  uint32
	length   uint32
	physical uint64
}

// treeShape returns the number of blocks per level needed for n extents,
// leaves first; nil means they fit in the inode.
func treeShape(n int) []int {
	var levels []int
	for n > inodeExtents {
		n = (n + blockExtents - 1) / blockExtents
		levels = append(levels, n)
	}
	return levels
}

func treeBlocks(n int) int {
	t := 0
	for _, l := range treeShape(n) {
		t += l
	}
	return t
}

// encodeTree builds the inode's i_block (60 bytes) and the tree blocks
// for exts, stored at the physical blocks in phys (as many as treeBlocks,
// leaves first). Tree blocks come back checksummed with csumSeed.
func encodeTree(exts []extent, phys []uint64, csumSeed uint32) (iblock [60]byte, blocks [][]byte) {
	shape := treeShape(len(exts))
	type entry struct {
		first uint32
		raw   [12]byte
	}
	level := make([]entry, len(exts))
	for i, e := range exts {
		level[i].first = e.logical
		r := level[i].raw[:]
		binary.LittleEndian.PutUint32(r, e.logical)
		binary.LittleEndian.PutUint16(r[4:], uint16(e.length))
		binary.LittleEndian.PutUint16(r[6:], uint16(e.physical>>32))
		binary.LittleEndian.PutUint32(r[8:], uint32(e.physical))
	}
	next := 0
	for depth := range shape {
		var up []entry
		for i := 0; i < len(level); i += blockExtents {
			chunk := level[i:min(i+blockExtents, len(level))]
			b := make([]byte, BlockSize)
			putExtentHeader(b, len(chunk), blockExtents, depth)
			for k, e := range chunk {
				copy(b[12+12*k:], e.raw[:])
			}
			binary.LittleEndian.PutUint32(b[extentTailOff:], crc32c(csumSeed, b[:extentTailOff]))
			blocks = append(blocks, b)
			p := phys[next]
			next++
			var ix entry
			ix.first = chunk[0].first
			binary.LittleEndian.PutUint32(ix.raw[:], ix.first)
			binary.LittleEndian.PutUint32(ix.raw[4:], uint32(p))
			binary.LittleEndian.PutUint16(ix.raw[8:], uint16(p>>32))
			up = append(up, ix)
		}
		level = up
	}
	putExtentHeader(iblock[:], len(level), inodeExtents, len(shape))
	for k, e := range level {
		copy(iblock[12+12*k:], e.raw[:])
	}
	return iblock, blocks
}

func putExtentHeader(b []byte, entries, max, depth int) {
	binary.LittleEndian.PutUint16(b, extentMagic)
	binary.LittleEndian.PutUint16(b[2:], uint16(entries))
	binary.LittleEndian.PutUint16(b[4:], uint16(max))
	binary.LittleEndian.PutUint16(b[6:], uint16(depth))
	binary.LittleEndian.PutUint32(b[8:], 0)
}

// mapExtents lays the logical block ranges (sorted, disjoint) onto the
// physical ranges (in order, same total length), split so that no extent
// is longer than 32768 blocks or crosses a break in either.
func mapExtents(logical, physical []blockRange) []extent {
	return appendExtents(nil, logical, physical)
}

// appendExtents appends mapExtents(logical, physical) to out.
func appendExtents(out []extent, logical, physical []blockRange) []extent {
	pi := 0
	var pOff uint64
	for _, l := range logical {
		lb, left := l.start, l.count
		for left > 0 {
			p := physical[pi]
			n := min(left, p.count-pOff, maxExtentLen)
			out = append(out, extent{logical: uint32(lb), length: uint32(n), physical: p.start + pOff})
			lb += n
			left -= n
			pOff += n
			if pOff == p.count {
				pi++
				pOff = 0
			}
		}
	}
	return out
}

// countExtents is len(mapExtents(logical, physical)).
func countExtents(logical, physical []blockRange) int {
	n := 0
	pi := 0
	var pOff uint64
	for _, l := range logical {
		left := l.count
		for left > 0 {
			p := physical[pi]
			c := min(left, p.count-pOff, maxExtentLen)
			n++
			left -= c
			pOff += c
			if pOff == p.count {
				pi++
				pOff = 0
			}
		}
	}
	return n
}

// blockRange is count blocks starting at start.
type blockRange struct {
	start, count uint64
}
