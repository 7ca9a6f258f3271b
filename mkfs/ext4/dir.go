package ext4

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Directories (spec A9): linear when they fit in one block, otherwise
// hashed (htree), so that e2fsck -fy finds nothing to re-index. Every leaf
// block ends with the 12-byte metadata_csum tail.

// Directory entry file types.
const (
	ftRegular  = 1
	ftDir      = 2
	ftCharDev  = 3
	ftBlockDev = 4
	ftFIFO     = 5
	ftSocket   = 6
	ftSymlink  = 7
)

const (
	dirTail     = 12
	dirUsable   = BlockSize - dirTail
	dxRootLimit = (BlockSize - 0x20 - 8) / 8 // 507
	dxNodeLimit = (BlockSize - 0x08 - 8) / 8 // 510
	dxMaxLevels = 1                          // 2 would need largedir
)

type dirent struct {
	name  string
	ino   uint32
	ftype uint8
	hash  uint32 // major hash, htree only
	minor uint32
}

func recLen(nameLen int) int { return 8 + pad4(nameLen) }

// dirShape is how a directory's entries are spread over its blocks.
type dirShape struct {
	// leaves holds the entries of each leaf block. In a linear
	// directory, leaf 0 is block 0 and also holds "." and "..".
	leaves [][]dirent
	// indexed directories: block 0 is the dx root, then the leaves, then
	// levels of dx nodes (0 or 1).
	indexed bool
	levels  int
	nodes   int
	blocks  int // total blocks (i_size / BlockSize)
}

// shapeDir lays out ents (sorted by name). minBlocks pads a linear
// directory (lost+found has 4 blocks); linearOnly keeps it unindexed.
func shapeDir(ents []dirent, seed [4]uint32, minBlocks int, linearOnly bool) (dirShape, error) {
	var s dirShape
	s.leaves = packLeaves(ents, 2*recLen(2))
	if len(s.leaves) <= 1 || linearOnly {
		s.blocks = max(len(s.leaves), minBlocks)
		return s, nil
	}
	hashed := make([]dirent, len(ents))
	copy(hashed, ents)
	for i := range hashed {
		hashed[i].hash, hashed[i].minor = dirHash(hashed[i].name, seed)
	}
	sort.Slice(hashed, func(i, j int) bool {
		a, b := &hashed[i], &hashed[j]
		if a.hash != b.hash {
			return a.hash < b.hash
		}
		if a.minor != b.minor {
			return a.minor < b.minor
		}
		return a.name < b.name
	})
	s.indexed = true
	s.leaves = packLeaves(hashed, 0)
	n := len(s.leaves)
	switch {
	case n <= dxRootLimit:
		s.levels = 0
	case (n+dxNodeLimit-1)/dxNodeLimit <= dxRootLimit:
		s.levels = 1
		s.nodes = (n + dxNodeLimit - 1) / dxNodeLimit
	default:
		return s, fmt.Errorf("directory of %d entries needs more than %d index levels", len(ents), dxMaxLevels+1)
	}
	s.blocks = 1 + n + s.nodes
	return s, nil
}

// packLeaves fills blocks in order; first is the space already used in the
// first block.
func packLeaves(ents []dirent, first int) [][]dirent {
	var leaves [][]dirent
	used, start := first, 0
	for i, e := range ents {
		r := recLen(len(e.name))
		if used+r > dirUsable {
			leaves = append(leaves, ents[start:i])
			start, used = i, 0
		}
		used += r
	}
	return append(leaves, ents[start:])
}

// leafHash is the dx hash of leaf i (i > 0): its first hash, with bit 0
// set when the previous leaf ends with the same hash (a collision run
// continues across the boundary).
func (s *dirShape) leafHash(i int) uint32 {
	h := s.leaves[i][0].hash
	prev := s.leaves[i-1]
	if len(prev) > 0 && prev[len(prev)-1].hash == h {
		h |= 1
	}
	return h
}

// encodeDir returns the blocks of a directory with inode self and parent
// parent, checksummed with the inode's checksum seed.
func encodeDir(s *dirShape, self, parent uint32, csumSeed uint32) [][]byte {
	blocks := make([][]byte, s.blocks)
	for i := range blocks {
		blocks[i] = make([]byte, BlockSize)
	}
	if !s.indexed {
		for i := range blocks {
			var ents []dirent
			if i < len(s.leaves) {
				ents = s.leaves[i]
			}
			if i == 0 {
				dots := []dirent{{name: ".", ino: self, ftype: ftDir}, {name: "..", ino: parent, ftype: ftDir}}
				ents = append(dots, ents...)
			}
			putLeaf(blocks[i], ents, csumSeed)
		}
		return blocks
	}
	n := len(s.leaves)
	for i, l := range s.leaves {
		putLeaf(blocks[1+i], l, csumSeed)
	}
	root := blocks[0]
	putDirent(root, dirent{name: ".", ino: self, ftype: ftDir}, 12)
	putDirent(root[12:], dirent{name: "..", ino: parent, ftype: ftDir}, BlockSize-12)
	// dx_root_info: reserved_zero, hash_version, info_length, levels, flags
	root[0x1C] = hashHalfMD4
	root[0x1D] = 8
	root[0x1E] = byte(s.levels)
	if s.levels == 0 {
		entries := make([][2]uint32, n)
		for i := range entries {
			entries[i] = [2]uint32{0, uint32(1 + i)}
			if i > 0 {
				entries[i][0] = s.leafHash(i)
			}
		}
		putDx(root, 0x20, dxRootLimit, entries, csumSeed)
		return blocks
	}
	rootEntries := make([][2]uint32, s.nodes)
	for j := range s.nodes {
		lo, hi := j*dxNodeLimit, min((j+1)*dxNodeLimit, n)
		entries := make([][2]uint32, hi-lo)
		for i := range entries {
			entries[i] = [2]uint32{0, uint32(1 + lo + i)}
			if i > 0 {
				entries[i][0] = s.leafHash(lo + i)
			}
		}
		nb := 1 + n + j
		node := blocks[nb]
		// A fake empty entry covering the block, then the index.
		binary.LittleEndian.PutUint16(node[4:], BlockSize)
		putDx(node, 0x08, dxNodeLimit, entries, csumSeed)
		rootEntries[j] = [2]uint32{0, uint32(nb)}
		if j > 0 {
			rootEntries[j][0] = s.leafHash(lo)
		}
	}
	putDx(root, 0x20, dxRootLimit, rootEntries, csumSeed)
	return blocks
}

// putDx writes limit, count and the (hash, block) entries at off (the
// first entry's hash slot holds limit and count), then the dx tail with
// its checksum.
func putDx(b []byte, off, limit int, entries [][2]uint32, csumSeed uint32) {
	binary.LittleEndian.PutUint16(b[off:], uint16(limit))
	binary.LittleEndian.PutUint16(b[off+2:], uint16(len(entries)))
	binary.LittleEndian.PutUint32(b[off+4:], entries[0][1])
	for i := 1; i < len(entries); i++ {
		binary.LittleEndian.PutUint32(b[off+8*i:], entries[i][0])
		binary.LittleEndian.PutUint32(b[off+8*i+4:], entries[i][1])
	}
	tail := off + 8*limit
	c := crc32c(csumSeed, b[:off+8*len(entries)])
	c = crc32c(c, b[tail:tail+4])
	c = crc32c(c, []byte{0, 0, 0, 0})
	binary.LittleEndian.PutUint32(b[tail+4:], c)
}

func putDirent(b []byte, e dirent, rec int) {
	binary.LittleEndian.PutUint32(b, e.ino)
	binary.LittleEndian.PutUint16(b[4:], uint16(rec))
	b[6] = byte(len(e.name))
	b[7] = e.ftype
	copy(b[8:], e.name)
}

// putLeaf writes entries into a leaf block, the last one stretched to the
// checksum tail, and the tail.
func putLeaf(b []byte, ents []dirent, csumSeed uint32) {
	pos := 0
	for i, e := range ents {
		r := recLen(len(e.name))
		if i == len(ents)-1 {
			r = dirUsable - pos
		}
		putDirent(b[pos:], e, r)
		pos += r
	}
	if len(ents) == 0 {
		binary.LittleEndian.PutUint16(b[4:], dirUsable)
	}
	t := b[dirUsable:]
	binary.LittleEndian.PutUint16(t[4:], dirTail)
	t[7] = 0xDE
	binary.LittleEndian.PutUint32(t[8:], crc32c(csumSeed, b[:dirUsable]))
}
