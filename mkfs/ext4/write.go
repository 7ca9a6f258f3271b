package ext4

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// Write writes the file system into w, whose region starts at off. The
// region must read as zeros: all-zero blocks are not written, and no byte
// is written twice. Metadata and small files go out in batches, large
// files are copied separately, all by a pool of Options.Workers
// goroutines (see stream.go).
func (p *Plan) Write(ctx context.Context, w io.WriterAt, off int64) error {
	wr := newWriter(ctx, p, w, off)
	if err := p.produce(wr); err != nil {
		wr.fail(err)
	}
	err := wr.finish()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// produce walks the plan in block order, handing chunks and copies to
// the workers.
func (p *Plan) produce(wr *writer) error {
	blocks := &stream{wr: wr} // journal, then every inode's blocks
	tables := &stream{wr: wr} // the inode tables
	var pl placer
	var jnlBlocks [17]uint32
	if j := p.journal; j != nil {
		exts, meta := pl.place(p, j)
		if err := blocks.put(physical(exts, 0), journalSuper(j.nblk, p.opts.UUID)); err != nil {
			return err
		}
		iblock, err := p.writeMap(blocks, j, exts, meta)
		if err != nil {
			return err
		}
		for i := range 15 {
			jnlBlocks[i] = binary.LittleEndian.Uint32(iblock[4*i:])
		}
		jnlBlocks[15] = uint32(j.size() >> 32)
		jnlBlocks[16] = uint32(j.size())
	}
	if err := p.writeInodes(blocks, tables, &pl); err != nil {
		return err
	}
	if err := blocks.flush(); err != nil {
		return err
	}
	if err := tables.flush(); err != nil {
		return err
	}
	return p.writeGroups(wr, jnlBlocks)
}

// physical returns the physical block of logical block lb in exts.
func physical(exts []extent, lb uint64) uint64 {
	for _, e := range exts {
		if lb >= uint64(e.logical) && lb < uint64(e.logical)+uint64(e.length) {
			return e.physical + lb - uint64(e.logical)
		}
	}
	panic("logical block not mapped")
}

// writeInodes writes the inode tables and, in the same walk, every
// inode's blocks: data, directory and symlink blocks, extent tree or
// indirect blocks, xattr block.
func (p *Plan) writeInodes(blocks, tables *stream, pl *placer) error {
	ipg := p.geo.ipg
	for ino := uint32(1); ino <= p.lastIno; ino++ {
		if ino%4096 == 0 {
			if err := blocks.wr.ctx.Err(); err != nil {
				return err
			}
		}
		g := (ino - 1) / ipg
		idx := (ino - 1) % ipg
		tb, err := tables.block(p.inodeTable[g] + uint64(idx/inodesPerBlock))
		if err != nil {
			return err
		}
		b := tb[(idx%inodesPerBlock)*InodeSize:][:InodeSize]
		n := p.nodeAt(ino)
		if n == nil {
			// Reserved inodes as mke2fs leaves them: zero (checksummed),
			// with times on the bad blocks inode.
			if ino == 1 {
				t, _ := encodeTime(p.opts.Time)
				binary.LittleEndian.PutUint32(b[0x08:], t)
				binary.LittleEndian.PutUint32(b[0x0C:], t)
				binary.LittleEndian.PutUint32(b[0x10:], t)
			}
			if p.feat.modern {
				inodeCsum(b, ino, p.fsSeed)
			}
			continue
		}
		var iblock [60]byte
		exts, meta := pl.place(p, n)
		if n == p.journal {
			// Written before the other inodes' blocks, as it comes
			// first on disk.
			if p.feat.extents {
				iblock, _ = encodeTree(exts, meta, inodeSeed(p.fsSeed, n.ino))
			} else {
				iblock, _ = encodeBlockMap(exts, meta, func(uint64, []byte) error { return nil })
			}
		} else if iblock, err = p.writeBlocks(blocks, n, exts, meta); err != nil {
			return err
		}
		r := p.rawInode(n, iblock, len(meta))
		r.encode(b, ino, p.fsSeed, p.feat.modern)
	}
	return nil
}

// writeBlocks writes the blocks of n (placed at exts and meta) and
// returns its i_block.
func (p *Plan) writeBlocks(s *stream, n *node, exts []extent, meta []uint64) ([60]byte, error) {
	var iblock [60]byte
	in := n.in
	switch {
	case in.Kind == Regular:
		if err := p.writeData(s, n, exts); err != nil {
			return iblock, err
		}
	case in.Kind == Dir:
		seed := inodeSeed(p.fsSeed, n.ino)
		err := encodeDir(&n.d.shape, n.ino, n.d.parent, seed, p.feat, func(i int) ([]byte, error) {
			return s.block(physical(exts, uint64(i)))
		})
		if err != nil {
			return iblock, err
		}
	case in.Kind == Symlink && n.fast:
		copy(iblock[:], in.Target)
	case in.Kind == Symlink:
		b, err := s.block(physical(exts, 0))
		if err != nil {
			return iblock, err
		}
		copy(b, in.Target)
	case in.Kind == CharDev || in.Kind == BlockDev:
		if in.Major < 256 && in.Minor < 256 {
			binary.LittleEndian.PutUint32(iblock[0:], in.Major<<8|in.Minor)
		} else {
			binary.LittleEndian.PutUint32(iblock[4:], in.Minor&0xff|in.Major<<8|(in.Minor&^0xff)<<12)
		}
	}
	if in.Kind == Regular || in.Kind == Dir || (in.Kind == Symlink && !n.fast) {
		var err error
		if iblock, err = p.writeMap(s, n, exts, meta); err != nil {
			return iblock, err
		}
	}
	if n.x != nil && n.x.own {
		x := n.x.blk
		b, err := s.block(p.xblk[x.idx])
		if err != nil {
			return iblock, err
		}
		copy(b, x.data)
		xblockFinish(b, x.refs, p.xblk[x.idx], p.fsSeed, p.feat.modern)
	}
	return iblock, nil
}

// writeMap writes n's extent tree or indirect blocks and returns its
// i_block.
func (p *Plan) writeMap(s *stream, n *node, exts []extent, meta []uint64) ([60]byte, error) {
	if !p.feat.extents {
		return encodeBlockMap(exts, meta, s.put)
	}
	iblock, blocks := encodeTree(exts, meta, inodeSeed(p.fsSeed, n.ino))
	for i, b := range blocks {
		if err := s.put(meta[i], b); err != nil {
			return iblock, err
		}
	}
	return iblock, nil
}

// writeData arranges the copy of a regular file's data: through the
// stream's chunks for small files, else as copies of at most maxJob
// bytes, split at extent boundaries (merged again where the blocks are
// contiguous).
func (p *Plan) writeData(s *stream, n *node, exts []extent) error {
	var total int64
	for _, r := range n.runs {
		total += r.Length
	}
	small := total <= smallData
	var pend fill
	flush := func() error {
		if pend.n == 0 {
			return nil
		}
		err := s.wr.send(job{copy: pend})
		pend = fill{}
		return err
	}
	ei := 0
	for _, r := range n.runs {
		pos, end := r.Offset, r.Offset+r.Length
		for pos < end {
			lb := uint64(pos / BlockSize)
			for uint64(exts[ei].logical)+uint64(exts[ei].length) <= lb {
				ei++
			}
			e := exts[ei]
			extEnd := int64(uint64(e.logical)+uint64(e.length)) * BlockSize
			cnt := min(end, extEnd) - pos
			dst := int64(e.physical+lb-uint64(e.logical))*BlockSize + pos%BlockSize
			switch {
			case small:
				if err := s.fill(n.in.Data, n.ino, dst, pos, cnt); err != nil {
					return err
				}
			case pend.n > 0 && pend.dst+pend.n == dst && pend.src+pend.n == pos && pend.n+cnt <= maxJob:
				pend.n += cnt
			default:
				for cnt > maxJob {
					if err := flush(); err != nil {
						return err
					}
					pend = fill{data: n.in.Data, ino: n.ino, dst: dst, src: pos, n: maxJob}
					dst, pos, cnt = dst+maxJob, pos+maxJob, cnt-maxJob
				}
				if err := flush(); err != nil {
					return err
				}
				pend = fill{data: n.in.Data, ino: n.ino, dst: dst, src: pos, n: cnt}
			}
			pos += cnt
		}
	}
	return flush()
}

// encodeBlockMap writes the indirect blocks (at the blocks in meta) that
// map exts and returns i_block.
func encodeBlockMap(exts []extent, meta []uint64, emit func(uint64, []byte) error) ([60]byte, error) {
	var iblock [60]byte
	m := blockMapper{emit: emit}
	m.meta = func() uint64 {
		b := meta[0]
		meta = meta[1:]
		return b
	}
	for _, e := range exts {
		if err := m.mapRange(uint64(e.logical), uint64(e.length), e.physical); err != nil {
			return iblock, err
		}
	}
	if err := m.finish(); err != nil {
		return iblock, err
	}
	for i, v := range m.iblock {
		binary.LittleEndian.PutUint32(iblock[4*i:], v)
	}
	return iblock, nil
}

var kindMode = map[Kind]uint16{
	Regular: sIFREG, Dir: sIFDIR, Symlink: sIFLNK, CharDev: sIFCHR,
	BlockDev: sIFBLK, FIFO: sIFIFO, Socket: sIFSOCK,
}

// rawInode builds the on-disk inode of n.
func (p *Plan) rawInode(n *node, iblock [60]byte, metaBlocks int) rawInode {
	in := n.in
	r := rawInode{
		mode: kindMode[in.Kind] | in.Perm,
		uid:  in.UID, gid: in.GID,
		size:  n.size(),
		atime: in.Atime, ctime: in.Ctime, mtime: in.Mtime, crtime: in.Crtime,
		links:  uint16(n.links),
		iblock: iblock,
	}
	if n.x != nil {
		r.ibody = n.x.ibody
	}
	if n.isDir() && n.links > maxLinks {
		r.links = 1 // dir_nlink (without it Layout refuses)
	}
	blocks := n.nblk + uint64(metaBlocks)
	if x := n.xblk(); x != nil {
		blocks++
		r.fileACL = p.xblk[x.idx]
	}
	r.blocks512 = blocks * (BlockSize / 512)
	switch {
	case !p.feat.extents:
	case in.Kind == Regular || in.Kind == Dir || (in.Kind == Symlink && !n.fast):
		r.flags |= flagExtents
	}
	if n.isDir() && n.d.shape.indexed {
		r.flags |= flagIndex
	}
	return r
}

func (p *Plan) nodeAt(ino uint32) *node {
	if ino == journalIno {
		return p.journal
	}
	if int(ino) < len(p.nodes) {
		return p.nodes[ino]
	}
	return nil
}

// writeGroups writes the bitmaps, the group descriptors and the
// superblock with all their backups.
func (p *Plan) writeGroups(wr *writer, jnlBlocks [17]uint32) error {
	// Block bitmaps, inode bitmaps and superblock copies each come in
	// increasing order: one stream each.
	bbs, ibs, sbs := &stream{wr: wr}, &stream{wr: wr}, &stream{wr: wr}
	g := &p.geo
	f := p.feat
	last := g.groups - 1
	dirs := make([]uint32, g.groups)
	for _, n := range p.nodes {
		if n != nil && n.isDir() {
			dirs[(n.ino-1)/g.ipg]++
		}
	}
	gdt := make([]byte, int(g.gdtBlocks)*BlockSize)
	var freeBlocks, overhead uint64
	bitmap := make([]byte, BlockSize)
	for grp := uint32(0); grp < g.groups; grp++ {
		gs, gb, res := groupStart(grp), g.groupBlocks(grp), g.reserved(grp)
		overhead += g.superBlocks(grp) + 2 + uint64(g.itb)
		var u uint64
		if p.end > gs {
			u = min(p.end-gs, gb)
		}
		d := groupDesc{
			blockBitmap: p.blockBitmap[grp],
			inodeBitmap: p.inodeBitmap[grp],
			inodeTable:  p.inodeTable[grp],
			usedDirs:    dirs[grp],
			flags:       bgItableZero,
		}
		used := res
		// Without checksums there are no *_UNINIT flags: every bitmap is
		// written.
		if f.modern && grp != last && u == 0 {
			d.flags |= bgBlockUninit
		} else {
			clear(bitmap)
			used = max(u, res)
			setBits(bitmap, 0, used)
			for _, h := range p.holes {
				if h.start >= gs && h.start < gs+gb {
					clearBits(bitmap, h.start-gs, h.start-gs+h.count)
					used -= h.count
				}
			}
			setBits(bitmap, gb, blocksPerGroup)
			d.blockBitmapCsum = crc32c(p.fsSeed, bitmap)
			if err := bbs.put(d.blockBitmap, bitmap); err != nil {
				return err
			}
		}
		d.freeBlocks = uint32(gb - used)
		freeBlocks += gb - used
		var ui uint64
		if first := uint64(grp) * uint64(g.ipg); uint64(p.lastIno) > first {
			ui = min(uint64(p.lastIno)-first, uint64(g.ipg))
		}
		d.freeInodes = g.ipg - uint32(ui)
		d.itableUnused = g.ipg - uint32(ui)
		if f.modern && ui == 0 {
			d.flags |= bgInodeUninit
		} else {
			clear(bitmap)
			setBits(bitmap, 0, ui)
			setBits(bitmap, uint64(g.ipg), blocksPerGroup)
			d.inodeBitmapCsum = crc32c(p.fsSeed, bitmap[:g.ipg/8])
			if err := ibs.put(d.inodeBitmap, bitmap); err != nil {
				return err
			}
		}
		d.encode(gdt[uint64(grp)*f.descSize:], grp, p.fsSeed, f)
	}
	if p.journal != nil {
		overhead += p.journal.nblk
	}
	sb := superblock{
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
	for grp := uint32(0); grp < g.groups; grp++ {
		if !hasSuper(grp) {
			continue
		}
		sb.backupGroup = grp
		if grp == 0 {
			// Bytes 0-1023 are not the file system's to write.
			if _, err := wr.w.WriteAt(sb.encode(), wr.off+1024); err != nil {
				return fmt.Errorf("writing the file system: %w", err)
			}
		} else if err := sbs.put(groupStart(grp), sb.encode()); err != nil {
			return err
		}
		for i := range uint64(g.gdtBlocks) {
			if err := sbs.put(groupStart(grp)+1+i, gdt[i*BlockSize:]); err != nil {
				return err
			}
		}
	}
	for _, s := range []*stream{bbs, ibs, sbs} {
		if err := s.flush(); err != nil {
			return err
		}
	}
	return nil
}

// setBits sets bits [from, to) of a bitmap.
func setBits(b []byte, from, to uint64) {
	for i := from; i < to; {
		if i%8 == 0 && i+8 <= to {
			b[i/8] = 0xFF
			i += 8
			continue
		}
		b[i/8] |= 1 << (i % 8)
		i++
	}
}

// clearBits clears bits [from, to) of a bitmap.
func clearBits(b []byte, from, to uint64) {
	for i := from; i < to; i++ {
		b[i/8] &^= 1 << (i % 8)
	}
}
