package ext4

import "encoding/binary"

// Block maps (ext2 and ext3): i_block holds 12 direct block numbers, then
// the single, double and triple indirect block; an indirect block holds
// 1024 block numbers, 0 for a hole. The indirect blocks of a file follow
// its data, in the order they are completed (each after the blocks it
// points to), so they are written in increasing order without keeping
// more than one block per level.

const (
	ptrsPerBlock = BlockSize / 4
	directBlocks = 12
)

// regionStart[r] is the first logical block mapped through the r-level
// indirect block (r = 1, 2, 3).
var regionStart = [4]uint64{0, directBlocks, directBlocks + ptrsPerBlock,
	directBlocks + ptrsPerBlock + ptrsPerBlock*ptrsPerBlock}

// maxMappedBlocks is the number of logical blocks a block map reaches.
const maxMappedBlocks = directBlocks + ptrsPerBlock + ptrsPerBlock*ptrsPerBlock + ptrsPerBlock*ptrsPerBlock*ptrsPerBlock

// blockMapper builds a block map. Without emit it only counts the
// indirect blocks.
type blockMapper struct {
	iblock [15]uint32
	levels [3]struct { // 0: indirect, 1: double, 2: triple
		open   bool
		region int    // the i_block slot 11+region the chain hangs from
		id     uint64 // index of the block within its level and region
		buf    []byte
	}
	meta  func() uint64                    // the next indirect block's number
	emit  func(blk uint64, b []byte) error // writes a completed block
	count uint64                           // indirect blocks completed
}

// mapRange maps logical blocks [lb, lb+n) to physical [pb, pb+n).
func (m *blockMapper) mapRange(lb, n, pb uint64) error {
	for n > 0 {
		if lb < directBlocks {
			c := min(n, directBlocks-lb)
			for i := range c {
				m.iblock[lb+i] = uint32(pb + i)
			}
			lb, n, pb = lb+c, n-c, pb+c
			continue
		}
		r := 1
		for r < 3 && lb >= regionStart[r+1] {
			r++
		}
		idx := lb - regionStart[r]
		// Close what is not on the path to idx, lowest level first, so
		// that a block is completed before its parent.
		for l := range 3 {
			lv := &m.levels[l]
			if lv.open && (l >= r || lv.region != r || lv.id != idx>>(10*(l+1))) {
				if err := m.close(l); err != nil {
					return err
				}
			}
		}
		for l := r - 1; l >= 0; l-- {
			lv := &m.levels[l]
			if !lv.open {
				lv.open, lv.region, lv.id = true, r, idx>>(10*(l+1))
			}
		}
		c := min(n, ptrsPerBlock-idx%ptrsPerBlock)
		if m.emit != nil {
			buf := m.buf(0)
			for i := range c {
				binary.LittleEndian.PutUint32(buf[4*((idx+i)%ptrsPerBlock):], uint32(pb+i))
			}
		}
		lb, n, pb = lb+c, n-c, pb+c
	}
	return nil
}

func (m *blockMapper) buf(l int) []byte {
	lv := &m.levels[l]
	if lv.buf == nil {
		lv.buf = make([]byte, BlockSize)
	}
	return lv.buf
}

// close completes the open block of level l and links it to its parent.
func (m *blockMapper) close(l int) error {
	lv := &m.levels[l]
	m.count++
	var blk uint64
	if m.meta != nil {
		blk = m.meta()
	}
	if m.emit != nil {
		if err := m.emit(blk, lv.buf); err != nil {
			return err
		}
		clear(lv.buf)
		if l == lv.region-1 {
			m.iblock[directBlocks-1+lv.region] = uint32(blk)
		} else {
			binary.LittleEndian.PutUint32(m.buf(l + 1)[4*(lv.id%ptrsPerBlock):], uint32(blk))
		}
	}
	lv.open = false
	return nil
}

// finish completes the open blocks.
func (m *blockMapper) finish() error {
	for l := range 3 {
		if m.levels[l].open {
			if err := m.close(l); err != nil {
				return err
			}
		}
	}
	return nil
}

// mapBlocks maps the logical ranges onto the physical ranges (same total
// length, in order).
func (m *blockMapper) mapBlocks(logical, physical []blockRange) error {
	pi := 0
	var pOff uint64
	for _, l := range logical {
		lb, left := l.start, l.count
		for left > 0 {
			p := physical[pi]
			n := min(left, p.count-pOff)
			if err := m.mapRange(lb, n, p.start+pOff); err != nil {
				return err
			}
			lb, left, pOff = lb+n, left-n, pOff+n
			if pOff == p.count {
				pi++
				pOff = 0
			}
		}
	}
	return m.finish()
}

// indirectBlocks is the number of indirect blocks mapping logical needs.
func indirectBlocks(logical []blockRange) uint64 {
	var m blockMapper
	for _, l := range logical {
		m.mapRange(l.start, l.count, 0)
	}
	m.finish()
	return m.count
}
