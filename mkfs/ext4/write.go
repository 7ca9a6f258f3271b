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
	return p.WriteFinal(ctx, w, off, nil)
}

// WriteFinal is Write that also says how much of the region is done, so
// that it can be read (to compress it, say) while the rest is written:
// it calls final(n) when the first n bytes of the region are written and
// will not be written again, with n growing from call to call, and at
// last with p.Size() once Write would return nil. The blocks are written
// from the start of the region to its end, each group's metadata where
// it lies, so n follows the writing closely. final may be called from
// any goroutine, never concurrently with itself; it should return
// quickly, as the writing waits for it. A nil final is allowed.
func (p *Plan) WriteFinal(ctx context.Context, w io.WriterAt, off int64, final func(n int64)) error {
	wr := newWriter(ctx, p, w, off, final)
	if err := p.produce(wr); err != nil {
		wr.fail(err)
	}
	err := wr.finish()
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		wr.track.Finish(p.size)
	}
	return err
}

// produce walks the plan in block order, handing chunks and copies to
// the workers: the metadata is known beforehand (groups.go), so it goes
// out where it lies among the journal and every inode's blocks.
func (p *Plan) produce(wr *writer) error {
	var pl placer
	var jnlBlocks [17]uint32
	if j := p.journal; j != nil {
		exts, meta := pl.place(p, j)
		iblock := p.iblock(j, exts, meta)
		for i := range 15 {
			jnlBlocks[i] = binary.LittleEndian.Uint32(iblock[4*i:])
		}
		jnlBlocks[15] = uint32(j.size() >> 32)
		jnlBlocks[16] = uint32(j.size())
	}
	gdt, sb := p.groupMeta(jnlBlocks)
	// Bytes 0-1023 are not the file system's to write, so the primary
	// superblock does not go through the stream, which writes whole
	// blocks. It goes first, before anything can be reported final.
	sb.backupGroup = 0
	if _, err := wr.w.WriteAt(sb.encode(), wr.off+1024); err != nil {
		return fmt.Errorf("writing the file system: %w", err)
	}
	s := &stream{wr: wr, meta: newMetaSource(p, gdt, sb)}
	if j := p.journal; j != nil {
		exts, meta := pl.place(p, j)
		if err := s.put(physical(exts, 0), journalSuper(j.nblk, p.opts.UUID)); err != nil {
			return err
		}
		if _, err := p.writeMap(s, j, exts, meta); err != nil {
			return err
		}
	}
	for i, n := range p.nodes {
		if n == nil {
			continue
		}
		if i%4096 == 0 {
			if err := wr.ctx.Err(); err != nil {
				return err
			}
		}
		exts, meta := pl.place(p, n)
		if err := p.writeBlocks(s, n, exts, meta); err != nil {
			return err
		}
	}
	if err := s.meta.upTo(s, noBlock); err != nil {
		return err
	}
	return s.flush()
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

// iblock returns the i_block of n, placed at exts and meta.
func (p *Plan) iblock(n *node, exts []extent, meta []uint64) [60]byte {
	var iblock [60]byte
	in := n.in
	switch {
	case in.Kind == Regular || in.Kind == Dir || (in.Kind == Symlink && !n.fast):
		if p.feat.extents {
			iblock, _ = encodeTree(exts, meta, inodeSeed(p.fsSeed, n.ino))
		} else {
			iblock, _ = encodeBlockMap(exts, meta, func(uint64, []byte) error { return nil })
		}
	case in.Kind == Symlink:
		copy(iblock[:], in.Target)
	case in.Kind == CharDev || in.Kind == BlockDev:
		if in.Major < 256 && in.Minor < 256 {
			binary.LittleEndian.PutUint32(iblock[0:], in.Major<<8|in.Minor)
		} else {
			binary.LittleEndian.PutUint32(iblock[4:], in.Minor&0xff|in.Major<<8|(in.Minor&^0xff)<<12)
		}
	}
	return iblock
}

// writeBlocks writes the blocks of n (placed at exts and meta): data,
// directory and symlink blocks, extent tree or indirect blocks, xattr
// block, in this order, which is theirs on disk.
func (p *Plan) writeBlocks(s *stream, n *node, exts []extent, meta []uint64) error {
	in := n.in
	switch {
	case in.Kind == Regular:
		if err := p.writeData(s, n, exts); err != nil {
			return err
		}
	case in.Kind == Dir:
		seed := inodeSeed(p.fsSeed, n.ino)
		err := encodeDir(&n.d.shape, n.ino, n.d.parent, seed, p.feat, func(i int) ([]byte, error) {
			return s.block(physical(exts, uint64(i)))
		})
		if err != nil {
			return err
		}
	case in.Kind == Symlink && !n.fast:
		b, err := s.block(physical(exts, 0))
		if err != nil {
			return err
		}
		copy(b, in.Target)
	}
	if in.Kind == Regular || in.Kind == Dir || (in.Kind == Symlink && !n.fast) {
		if _, err := p.writeMap(s, n, exts, meta); err != nil {
			return err
		}
	}
	if n.x != nil && n.x.own {
		x := n.x.blk
		b, err := s.block(p.xblk[x.idx])
		if err != nil {
			return err
		}
		copy(b, x.data)
		xblockFinish(b, x.refs, p.xblk[x.idx], p.fsSeed, p.feat.modern)
	}
	return nil
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
		err := s.copy(pend)
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
