package ext4

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Directories (spec A9): linear when they fit in one block, otherwise
// hashed (htree), so that e2fsck -fy finds nothing to re-index. With
// metadata_csum every leaf block ends with a 12-byte checksum tail and
// every index block with an 8-byte one.

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

const dirTail = 12

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
// directory (lost+found has 4 blocks); linearOnly keeps it unindexed. It
// fails when the hash index would need more levels than f allows.
func shapeDir(ents []dirent, seed [4]uint32, minBlocks int, linearOnly bool, f *features) (dirShape, error) {
	var s dirShape
	usable := f.dirUsable()
	s.leaves = packLeaves(ents, 2*recLen(2), usable)
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
	s.leaves = packLeaves(hashed, 0, usable)
	n := len(s.leaves)
	levels, nodes := dxLevels(n, f.dxRootLimit(), f.dxNodeLimit())
	if levels > f.dxMaxLevels {
		return s, fmt.Errorf("%d entries in %d blocks need %d levels of hash index; more than %d would need the large_dir feature", len(ents), n, levels+1, f.dxMaxLevels+1)
	}
	s.levels, s.nodes = levels, nodes
	s.blocks = 1 + n + s.nodes
	return s, nil
}

// dxLevels returns how many index levels below the root n leaves need
// and how many index nodes that makes.
func dxLevels(n, rootLimit, nodeLimit int) (levels, nodes int) {
	for n > rootLimit {
		n = (n + nodeLimit - 1) / nodeLimit
		nodes += n
		levels++
	}
	return levels, nodes
}

// packLeaves fills blocks of usable bytes in order; first is the space
// already used in the first block.
func packLeaves(ents []dirent, first, usable int) [][]dirent {
	var leaves [][]dirent
	used, start := first, 0
	for i, e := range ents {
		r := recLen(len(e.name))
		if used+r > usable {
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

// encodeDir writes the blocks of a directory with inode self and parent
// parent, checksummed with the inode's checksum seed if f has checksums.
// It asks block for each block's (zeroed) buffer, in increasing order.
func encodeDir(s *dirShape, self, parent uint32, csumSeed uint32, f *features, block func(i int) ([]byte, error)) error {
	d := dxFormat{csum: f.modern, seed: csumSeed, usable: f.dirUsable()}
	if !s.indexed {
		for i := range s.blocks {
			b, err := block(i)
			if err != nil {
				return err
			}
			var ents []dirent
			if i < len(s.leaves) {
				ents = s.leaves[i]
			}
			if i == 0 {
				dots := []dirent{{name: ".", ino: self, ftype: ftDir}, {name: "..", ino: parent, ftype: ftDir}}
				ents = append(dots, ents...)
			}
			d.putLeaf(b, ents)
		}
		return nil
	}
	// Block 0 is the root, then come the leaves, then the index nodes.
	n := len(s.leaves)
	nodeLimit := f.dxNodeLimit()
	index := func(lo, hi int) [][2]uint32 { // the index of leaves lo..hi-1
		entries := make([][2]uint32, hi-lo)
		for i := range entries {
			entries[i] = [2]uint32{0, uint32(1 + lo + i)}
			if i > 0 {
				entries[i][0] = s.leafHash(lo + i)
			}
		}
		return entries
	}
	var rootEntries [][2]uint32
	if s.levels == 0 {
		rootEntries = index(0, n)
	} else {
		rootEntries = make([][2]uint32, s.nodes)
		for j := range rootEntries {
			rootEntries[j] = [2]uint32{0, uint32(1 + n + j)}
			if j > 0 {
				rootEntries[j][0] = s.leafHash(j * nodeLimit)
			}
		}
	}
	root, err := block(0)
	if err != nil {
		return err
	}
	putDirent(root, dirent{name: ".", ino: self, ftype: ftDir}, 12)
	putDirent(root[12:], dirent{name: "..", ino: parent, ftype: ftDir}, BlockSize-12)
	// dx_root_info: reserved_zero, hash_version, info_length, levels, flags
	root[0x1C] = hashHalfMD4
	root[0x1D] = 8
	root[0x1E] = byte(s.levels)
	d.putDx(root, 0x20, f.dxRootLimit(), rootEntries)
	for i, l := range s.leaves {
		b, err := block(1 + i)
		if err != nil {
			return err
		}
		d.putLeaf(b, l)
	}
	for j := range s.nodes {
		node, err := block(1 + n + j)
		if err != nil {
			return err
		}
		// A fake empty entry covering the block, then the index.
		binary.LittleEndian.PutUint16(node[4:], BlockSize)
		d.putDx(node, 0x08, nodeLimit, index(j*nodeLimit, min((j+1)*nodeLimit, n)))
	}
	return nil
}

// dxFormat is how directory blocks end: with checksum tails or not.
type dxFormat struct {
	csum   bool
	seed   uint32
	usable int
}

// putDx writes limit, count and the (hash, block) entries at off (the
// first entry's hash slot holds limit and count), then the dx tail with
// its checksum.
func (d *dxFormat) putDx(b []byte, off, limit int, entries [][2]uint32) {
	binary.LittleEndian.PutUint16(b[off:], uint16(limit))
	binary.LittleEndian.PutUint16(b[off+2:], uint16(len(entries)))
	binary.LittleEndian.PutUint32(b[off+4:], entries[0][1])
	for i := 1; i < len(entries); i++ {
		binary.LittleEndian.PutUint32(b[off+8*i:], entries[i][0])
		binary.LittleEndian.PutUint32(b[off+8*i+4:], entries[i][1])
	}
	if !d.csum {
		return
	}
	tail := off + 8*limit
	c := crc32c(d.seed, b[:off+8*len(entries)])
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
// checksum tail (or the end of the block), and the tail.
func (d *dxFormat) putLeaf(b []byte, ents []dirent) {
	pos := 0
	for i, e := range ents {
		r := recLen(len(e.name))
		if i == len(ents)-1 {
			r = d.usable - pos
		}
		putDirent(b[pos:], e, r)
		pos += r
	}
	if len(ents) == 0 {
		binary.LittleEndian.PutUint16(b[4:], uint16(d.usable))
	}
	if !d.csum {
		return
	}
	t := b[d.usable:]
	binary.LittleEndian.PutUint16(t[4:], dirTail)
	t[7] = 0xDE
	binary.LittleEndian.PutUint32(t[8:], crc32c(d.seed, b[:d.usable]))
}
