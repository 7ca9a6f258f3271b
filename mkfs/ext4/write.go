package ext4

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
)

// Write writes the file system into w, whose region starts at off. The
// region must read as zeros: all-zero blocks are not written. File data
// is copied by a pool of Options.Workers goroutines while the metadata is
// written; every metadata block is written once.
func (p *Plan) Write(ctx context.Context, w io.WriterAt, off int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
		mu.Unlock()
	}

	jobs := make(chan copyJob, 64)
	var wg sync.WaitGroup
	for range p.opts.workers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if err := j.data.CopyTo(ctx, w, off+j.dst, j.src, j.n); err != nil {
					fail(fmt.Errorf("copying data of %s: %w", j.name, err))
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		p.copyJobs(ctx, jobs)
	}()

	mw := &metaWriter{w: w, off: off}
	if err := p.writeMeta(mw); err != nil {
		fail(err)
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// copyJob copies n bytes of data at src to the file system at dst.
type copyJob struct {
	data   Data
	name   string
	dst    int64
	src, n int64
}

const maxJob = 64 << 20

// copyJobs sends the copies of every regular file's data runs, split at
// extent boundaries (merged again where the blocks are contiguous) and
// into pieces of at most 64 MiB.
func (p *Plan) copyJobs(ctx context.Context, jobs chan<- copyJob) {
	for _, n := range p.nodes {
		if n == nil || len(n.runs) == 0 {
			continue
		}
		name := fmt.Sprintf("inode %d", n.ino)
		exts, _ := p.place(n)
		var pend copyJob
		flush := func() bool {
			if pend.n == 0 {
				return true
			}
			select {
			case jobs <- pend:
			case <-ctx.Done():
				return false
			}
			pend = copyJob{}
			return true
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
				if pend.n > 0 && pend.dst+pend.n == dst && pend.src+pend.n == pos && pend.n+cnt <= maxJob {
					pend.n += cnt
				} else {
					for cnt > maxJob {
						if !flush() {
							return
						}
						pend = copyJob{data: n.in.Data, name: name, dst: dst, src: pos, n: maxJob}
						dst, pos, cnt = dst+maxJob, pos+maxJob, cnt-maxJob
					}
					if !flush() {
						return
					}
					pend = copyJob{data: n.in.Data, name: name, dst: dst, src: pos, n: cnt}
				}
				pos += cnt
			}
		}
		if !flush() {
			return
		}
	}
}

// metaWriter writes metadata blocks, leaving out all-zero ones.
type metaWriter struct {
	w   io.WriterAt
	off int64
}

func (m *metaWriter) block(blk uint64, b []byte) error {
	return m.at(int64(blk)*BlockSize, b)
}

func (m *metaWriter) at(pos int64, b []byte) error {
	if imagefile.IsZero(b) {
		return nil
	}
	if _, err := m.w.WriteAt(b, m.off+pos); err != nil {
		return fmt.Errorf("writing file system metadata: %w", err)
	}
	return nil
}

// physical returns the physical block of logical block lb in exts.
func physical(exts []extent, lb uint64) uint64 {
	for _, e := range exts {
		if lb >= uint64(e.logical) && lb < uint64(e.logical)+uint64(e.length) {
			return e.physical + lb - uint64(e.logical)
		}
	}
	panic(fmt.Sprintf("logical block %d not mapped", lb))
}

func (p *Plan) writeMeta(m *metaWriter) error {
	var jnlBlocks [17]uint32
	if j := p.journal; j != nil {
		iblock, _, err := p.writeBlocks(m, j)
		if err != nil {
			return err
		}
		exts, _ := p.place(j)
		for i := range 15 {
			jnlBlocks[i] = binary.LittleEndian.Uint32(iblock[4*i:])
		}
		jnlBlocks[15] = uint32(j.size >> 32)
		jnlBlocks[16] = uint32(j.size)
		if err := m.block(physical(exts, 0), journalSuper(j.nblk, p.opts.UUID)); err != nil {
			return err
		}
	}
	if err := p.writeInodes(m); err != nil {
		return err
	}
	for _, x := range p.xblocks {
		b := make([]byte, BlockSize)
		copy(b, x.data)
		xblockFinish(b, x.refs, p.xblk[x.idx], p.fsSeed, p.feat.modern)
		if err := m.block(p.xblk[x.idx], b); err != nil {
			return err
		}
	}
	return p.writeGroups(m, jnlBlocks)
}

// writeBlocks writes the directory or symlink blocks and the extent tree
// or indirect blocks of n and returns its i_block and the number of tree
// or indirect blocks.
func (p *Plan) writeBlocks(m *metaWriter, n *node) ([60]byte, int, error) {
	var iblock [60]byte
	in := n.in
	seed := inodeSeed(p.fsSeed, n.ino)
	exts, tree := p.place(n)
	switch {
	case in.Kind == Dir:
		for i, b := range encodeDir(&n.dir, n.ino, n.parent, seed, p.feat) {
			if err := m.block(physical(exts, uint64(i)), b); err != nil {
				return iblock, 0, err
			}
		}
	case in.Kind == Symlink && n.fast:
		copy(iblock[:], in.Target)
		return iblock, 0, nil
	case in.Kind == Symlink:
		b := make([]byte, BlockSize)
		copy(b, in.Target)
		if err := m.block(physical(exts, 0), b); err != nil {
			return iblock, 0, err
		}
	case in.Kind == CharDev || in.Kind == BlockDev:
		if in.Major < 256 && in.Minor < 256 {
			binary.LittleEndian.PutUint32(iblock[0:], in.Major<<8|in.Minor)
		} else {
			binary.LittleEndian.PutUint32(iblock[4:], in.Minor&0xff|in.Major<<8|(in.Minor&^0xff)<<12)
		}
		return iblock, 0, nil
	case in.Kind == FIFO || in.Kind == Socket:
		return iblock, 0, nil
	}
	if !p.feat.extents {
		iblock, err := encodeBlockMap(exts, tree, m.block)
		return iblock, len(tree), err
	}
	iblock, blocks := encodeTree(exts, tree, seed)
	for i, b := range blocks {
		if err := m.block(tree[i], b); err != nil {
			return iblock, 0, err
		}
	}
	return iblock, len(tree), nil
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

// journalMap returns the journal's i_block, without writing its
// indirect blocks again.
func (p *Plan) journalMap(exts []extent) [60]byte {
	_, meta := p.place(p.journal)
	iblock, _ := encodeBlockMap(exts, meta, func(uint64, []byte) error { return nil })
	return iblock
}

var kindMode = map[Kind]uint16{
	Regular: sIFREG, Dir: sIFDIR, Symlink: sIFLNK, CharDev: sIFCHR,
	BlockDev: sIFBLK, FIFO: sIFIFO, Socket: sIFSOCK,
}

// rawInode builds the on-disk inode of n.
func (p *Plan) rawInode(n *node, iblock [60]byte, treeBlocks int) rawInode {
	in := n.in
	r := rawInode{
		mode: kindMode[in.Kind] | in.Perm,
		uid:  in.UID, gid: in.GID,
		size:  n.size,
		atime: in.Atime, ctime: in.Ctime, mtime: in.Mtime, crtime: in.Crtime,
		links:  uint16(n.links),
		iblock: iblock,
		ibody:  n.ibody,
	}
	if n.isDir && n.links > maxLinks {
		r.links = 1 // dir_nlink (without it Layout refuses)
	}
	blocks := n.nblk + uint64(treeBlocks)
	if n.xblk != nil {
		blocks++
		r.fileACL = p.xblk[n.xblk.idx]
	}
	r.blocks512 = blocks * (BlockSize / 512)
	switch {
	case !p.feat.extents:
	case in.Kind == Regular || in.Kind == Dir || (in.Kind == Symlink && !n.fast):
		r.flags |= flagExtents
	}
	if n.dir.indexed {
		r.flags |= flagIndex
	}
	return r
}

// writeInodes writes the inode tables (only blocks holding used inodes)
// together with every inode's directory, symlink and extent tree blocks.
func (p *Plan) writeInodes(m *metaWriter) error {
	ipg := p.geo.ipg
	buf := make([]byte, BlockSize)
	cur := uint64(0) // inode table block in buf, as a physical block
	flush := func() error {
		if cur == 0 {
			return nil
		}
		err := m.block(cur, buf)
		clear(buf)
		cur = 0
		return err
	}
	for ino := uint32(1); ino <= p.lastIno; ino++ {
		g := (ino - 1) / ipg
		idx := (ino - 1) % ipg
		blk := p.inodeTable[g] + uint64(idx/inodesPerBlock)
		if blk != cur {
			if err := flush(); err != nil {
				return err
			}
			cur = blk
		}
		b := buf[(idx%inodesPerBlock)*InodeSize:][:InodeSize]
		n := p.nodeAt(ino)
		if n == nil {
			// Reserved inodes as mke2fs leaves them: zero, checksummed,
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
		var nt int
		var err error
		if n == p.journal {
			exts, tree := p.place(n)
			if p.feat.extents {
				iblock, _ = encodeTree(exts, tree, inodeSeed(p.fsSeed, n.ino))
			} else {
				iblock = p.journalMap(exts)
			}
			nt = len(tree)
		} else if iblock, nt, err = p.writeBlocks(m, n); err != nil {
			return err
		}
		r := p.rawInode(n, iblock, nt)
		r.encode(b, ino, p.fsSeed, p.feat.modern)
	}
	return flush()
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
func (p *Plan) writeGroups(m *metaWriter, jnlBlocks [17]uint32) error {
	g := &p.geo
	f := p.feat
	last := g.groups - 1
	dirs := make([]uint32, g.groups)
	for _, n := range p.nodes {
		if n != nil && n.isDir {
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
			if err := m.block(d.blockBitmap, bitmap); err != nil {
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
			if err := m.block(d.inodeBitmap, bitmap); err != nil {
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
		pos := int64(groupStart(grp)) * BlockSize
		if grp == 0 {
			pos = 1024
		}
		if err := m.at(pos, sb.encode()); err != nil {
			return err
		}
		if err := m.block(groupStart(grp)+1, gdt); err != nil {
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
