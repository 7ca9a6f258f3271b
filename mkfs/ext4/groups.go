package ext4

import "encoding/binary"

// The metadata of the block groups — superblock copies, descriptor
// tables, bitmaps, inode tables — depends on where every block goes but
// not on any block's content, so it is all known before the first block
// of data is written. metaSource hands it to the stream in increasing
// block order, interleaved with the inodes' blocks, so that the region
// is written from its start to its end.

// groupMeta computes the group descriptor table and the superblock.
// jnlBlocks is the journal inode's i_block and size, which the
// superblock keeps a copy of.
func (p *Plan) groupMeta(jnlBlocks [17]uint32) (gdt []byte, sb superblock) {
	g := &p.geo
	f := p.feat
	dirs := make([]uint32, g.groups)
	for _, n := range p.nodes {
		if n != nil && n.isDir() {
			dirs[(n.ino-1)/g.ipg]++
		}
	}
	gdt = make([]byte, int(g.gdtBlocks)*BlockSize)
	var freeBlocks, overhead uint64
	bitmap := make([]byte, BlockSize)
	for grp := uint32(0); grp < g.groups; grp++ {
		overhead += g.superBlocks(grp) + 2 + uint64(g.itb)
		d := groupDesc{
			blockBitmap: p.blockBitmap[grp],
			inodeBitmap: p.inodeBitmap[grp],
			inodeTable:  p.inodeTable[grp],
			usedDirs:    dirs[grp],
			flags:       bgItableZero,
		}
		used, written := p.blockBitmapOf(grp, bitmap)
		if written {
			d.blockBitmapCsum = crc32c(p.fsSeed, bitmap)
		} else {
			d.flags |= bgBlockUninit
		}
		d.freeBlocks = uint32(g.groupBlocks(grp) - used)
		freeBlocks += g.groupBlocks(grp) - used
		ui, written := p.inodeBitmapOf(grp, bitmap)
		if written {
			d.inodeBitmapCsum = crc32c(p.fsSeed, bitmap[:g.ipg/8])
		} else {
			d.flags |= bgInodeUninit
		}
		d.freeInodes = g.ipg - uint32(ui)
		d.itableUnused = g.ipg - uint32(ui)
		d.encode(gdt[uint64(grp)*f.descSize:], grp, p.fsSeed, f)
	}
	if p.journal != nil {
		overhead += p.journal.nblk
	}
	sb = superblock{
		feat:       f,
		geo:        *g,
		freeBlocks: freeBlocks,
		freeInodes: uint64(g.ipg)*uint64(g.groups) - uint64(p.lastIno),
		uuid:       p.opts.UUID,
		hashSeed:   p.opts.HashSeed,
		time:       p.opts.Time,
		journal:    p.journal != nil,
		jnlBlocks:  jnlBlocks,
		overhead:   overhead,
		compat:     f.compat(p.journal != nil),
		incompat:   f.incompat(),
		roCompat:   f.roCompat(),
	}
	copy(sb.label[:], p.opts.Label)
	return gdt, sb
}

// blockBitmapOf fills b with the block bitmap of grp and returns the
// number of blocks in use. It returns false, leaving b alone, for a
// group marked BLOCK_UNINIT, whose bitmap is not written: with
// checksums, every group but the last that holds nothing but its
// superblock backup. Without checksums there are no *_UNINIT flags.
func (p *Plan) blockBitmapOf(grp uint32, b []byte) (used uint64, written bool) {
	g := &p.geo
	gs, gb, res := groupStart(grp), g.groupBlocks(grp), g.reserved(grp)
	var u uint64
	if p.end > gs {
		u = min(p.end-gs, gb)
	}
	if p.feat.modern && grp != g.groups-1 && u == 0 {
		return res, false
	}
	clear(b)
	used = max(u, res)
	setBits(b, 0, used)
	for _, h := range p.holes {
		if h.start >= gs && h.start < gs+gb {
			clearBits(b, h.start-gs, h.start-gs+h.count)
			used -= h.count
		}
	}
	setBits(b, gb, blocksPerGroup)
	return used, true
}

// usedInodes is the number of inodes of grp in use: inode numbers are
// handed out from 1 without gaps.
func (p *Plan) usedInodes(grp uint32) uint64 {
	ipg := uint64(p.geo.ipg)
	first := uint64(grp) * ipg
	if uint64(p.lastIno) <= first {
		return 0
	}
	return min(uint64(p.lastIno)-first, ipg)
}

// inodeBitmapOf is blockBitmapOf for the inode bitmap (INODE_UNINIT:
// no inode used, with checksums).
func (p *Plan) inodeBitmapOf(grp uint32, b []byte) (used uint64, written bool) {
	ui := p.usedInodes(grp)
	if p.feat.modern && ui == 0 {
		return 0, false
	}
	clear(b)
	setBits(b, 0, ui)
	setBits(b, uint64(p.geo.ipg), blocksPerGroup)
	return ui, true
}

// noBlock stands for "no more": after every block.
const noBlock = ^uint64(0)

// metaSource produces the metadata blocks in increasing order. Each
// kind (superblock copies with their descriptor tables, block bitmaps,
// inode bitmaps, inode table blocks) increases on its own with the group
// number, so the next block is the least of the four kinds' next ones.
// Nothing is kept per group but the descriptor table; an inode table
// block is built when its turn comes.
type metaSource struct {
	p   *Plan
	gdt []byte
	sb  superblock
	pl  placer

	sbGrp uint32 // the next superblock copy: group
	sbIdx uint64 // and block within it (0: the superblock)
	bbGrp uint32 // the next block bitmap's group
	ibGrp uint32 // the next inode bitmap's group
	itGrp uint32 // the next inode table block: group
	itIdx uint64 // and block within its table
}

func newMetaSource(p *Plan, gdt []byte, sb superblock) *metaSource {
	// Group 0's superblock is not written through the stream: it shares
	// its block with the 1024 bytes before it, which are not the file
	// system's.
	return &metaSource{p: p, gdt: gdt, sb: sb, sbIdx: 1}
}

func (m *metaSource) nextSuper() uint64 {
	for m.sbGrp < m.p.geo.groups && !hasSuper(m.sbGrp) {
		m.sbGrp++
	}
	if m.sbGrp >= m.p.geo.groups {
		return noBlock
	}
	return groupStart(m.sbGrp) + m.sbIdx
}

func (m *metaSource) nextBlockBitmap() uint64 {
	p := m.p
	for m.bbGrp < p.geo.groups {
		// As blockBitmapOf decides.
		if !p.feat.modern || m.bbGrp == p.geo.groups-1 || p.end > groupStart(m.bbGrp) {
			return p.blockBitmap[m.bbGrp]
		}
		m.bbGrp++
	}
	return noBlock
}

func (m *metaSource) nextInodeBitmap() uint64 {
	p := m.p
	for m.ibGrp < p.geo.groups {
		if !p.feat.modern || p.usedInodes(m.ibGrp) > 0 {
			return p.inodeBitmap[m.ibGrp]
		}
		m.ibGrp++
	}
	return noBlock
}

// nextTable is the next inode table block holding an inode in use; the
// blocks after the last such are zero and not written.
func (m *metaSource) nextTable() uint64 {
	p := m.p
	for m.itGrp < p.geo.groups {
		ui := p.usedInodes(m.itGrp)
		if m.itIdx*inodesPerBlock < ui {
			return p.inodeTable[m.itGrp] + m.itIdx
		}
		if ui == 0 {
			return noBlock // and in every group after
		}
		m.itGrp++
		m.itIdx = 0
	}
	return noBlock
}

// upTo hands every metadata block before blk to s.
func (m *metaSource) upTo(s *stream, blk uint64) error {
	p := m.p
	for {
		sup, bb, ib, it := m.nextSuper(), m.nextBlockBitmap(), m.nextInodeBitmap(), m.nextTable()
		next := min(sup, bb, ib, it)
		if next >= blk {
			return nil
		}
		b, err := s.raw(next)
		if err != nil {
			return err
		}
		switch next {
		case sup:
			if m.sbIdx == 0 {
				m.sb.backupGroup = m.sbGrp
				copy(b, m.sb.encode())
			} else {
				copy(b, m.gdt[(m.sbIdx-1)*BlockSize:])
			}
			if m.sbIdx++; m.sbIdx > uint64(p.geo.gdtBlocks) {
				m.sbGrp++
				m.sbIdx = 0
			}
		case bb:
			p.blockBitmapOf(m.bbGrp, b)
			m.bbGrp++
		case ib:
			p.inodeBitmapOf(m.ibGrp, b)
			m.ibGrp++
		case it:
			if err := m.tableBlock(s, b); err != nil {
				return err
			}
			m.itIdx++
		}
	}
}

// tableBlock encodes the inodes of the next inode table block into b.
func (m *metaSource) tableBlock(s *stream, b []byte) error {
	p := m.p
	first := m.itGrp*p.geo.ipg + uint32(m.itIdx)*inodesPerBlock + 1
	for i := range uint32(inodesPerBlock) {
		ino := first + i
		if ino > p.lastIno {
			break
		}
		if ino%4096 == 0 {
			if err := s.wr.ctx.Err(); err != nil {
				return err
			}
		}
		ib := b[i*InodeSize:][:InodeSize]
		n := p.nodeAt(ino)
		if n == nil {
			// Reserved inodes as mke2fs leaves them: zero (checksummed),
			// with times on the bad blocks inode.
			if ino == 1 {
				t, _ := encodeTime(p.opts.Time)
				binary.LittleEndian.PutUint32(ib[0x08:], t)
				binary.LittleEndian.PutUint32(ib[0x0C:], t)
				binary.LittleEndian.PutUint32(ib[0x10:], t)
			}
			if p.feat.modern {
				inodeCsum(ib, ino, p.fsSeed)
			}
			continue
		}
		exts, meta := m.pl.place(p, n)
		r := p.rawInode(n, p.iblock(n, exts, meta), len(meta))
		r.encode(ib, ino, p.fsSeed, p.feat.modern)
	}
	return nil
}
