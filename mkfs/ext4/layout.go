package ext4

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Laying out happens in two steps. prepare does everything that does not
// depend on the file system's size, once: it numbers the inodes, shapes
// and hashes the directories, encodes the xattrs and asks each regular
// file for its data runs. allocate then places every block for one size;
// it is cheap enough to run many times, which MinSize does.

// prepared is the size-independent part of a layout. Plans of the same
// tree at different sizes share it; it is never changed after prepare.
type prepared struct {
	opts    Options
	feat    *features
	fsSeed  uint32
	seed    [4]uint32 // directory hash seed
	nodes   []*node   // by inode number; nil for unused reserved numbers
	lastIno uint32
	xblocks []*xblock // distinct xattr blocks, in allocation order
	// content is the number of blocks the inodes need at the least
	// (data, directory and symlink blocks, indirect blocks, extent tree
	// blocks when no backup superblock splits an extent, xattr blocks).
	content uint64
	lbuf    []blockRange // scratch space of prepare
}

// Plan is a laid-out file system: every inode numbered, every block
// placed. It is ready to be written.
type Plan struct {
	*prepared
	size int64
	geo  geometry

	blockBitmap, inodeBitmap, inodeTable []uint64 // per group
	journal                              *node    // nil without journal
	// start holds, by inode number, the allocation cursor before the
	// inode's blocks were allocated: the blocks themselves are found
	// again by replaying the allocator from there (see place), which
	// keeps the plan at 8 bytes per inode.
	start []uint64
	xblk  []uint64     // by xblock index: its block
	end   uint64       // first block never allocated
	holes []blockRange // free blocks before end
}

// node is one inode of the plan. It is kept small: a tree can have
// millions. What only directories or inodes with xattrs need hangs off
// pointers.
type node struct {
	in    *Inode
	ino   uint32
	links uint32
	nblk  uint64 // data (or directory, symlink) blocks
	// meta is the number of indirect blocks (block maps) or of extent
	// tree blocks when no backup superblock splits the data (the least
	// it can be).
	meta uint32
	runs []Run    // regular files: the content's data runs
	x    *xattrs  // nil without xattrs
	d    *dirInfo // directories
	fast bool     // fast symlink
}

type xattrs struct {
	ibody []byte  // in-inode xattr area
	blk   *xblock // shared xattr block, if any
	own   bool    // allocates blk (the first of the inodes sharing it)
}

type dirInfo struct {
	parent    uint32
	lostFound bool
	ents      []dirent // while numbering: children in on-disk (linear) order
	shape     dirShape
}

func (n *node) isDir() bool { return n.d != nil }

// size is i_size.
func (n *node) size() uint64 {
	switch {
	case n.d != nil:
		return n.nblk * BlockSize
	case n.in.Kind == Symlink:
		return uint64(len(n.in.Target))
	}
	return uint64(n.in.Size)
}

func (n *node) xblk() *xblock {
	if n.x == nil {
		return nil
	}
	return n.x.blk
}

type xblock struct {
	data []byte
	refs uint32
	idx  int // in prepared.xblocks
}

// Layout numbers the inodes of the tree under root and allocates every
// block of the file system opts describes. It reads nothing but the data
// runs of regular files. Root's own metadata (mode, owner, times, xattrs)
// becomes inode 2's; unlike mke2fs -d, nothing is taken from elsewhere.
// A "lost+found" directory in root becomes inode 11 with its metadata and
// entries; without one, lost+found is made with mode 0700, owner 0:0 and
// Options.Time. Layout stops with ctx's error when ctx is cancelled.
func Layout(ctx context.Context, root *Inode, opts Options) (*Plan, error) {
	pr, err := prepare(ctx, root, opts)
	if err != nil {
		return nil, err
	}
	return pr.layout(ctx, opts.Size)
}

// Size is the size of the region the plan was laid out for (Options.Size),
// which the file system may end a little short of (Stats.Blocks).
func (p *Plan) Size() int64 { return p.size }

// Relayout lays out the same tree with the same options for a file
// system of size bytes. It does not repeat the work that does not depend
// on the size: in particular no Data.Runs is called again. p stays valid.
func (p *Plan) Relayout(ctx context.Context, size int64) (*Plan, error) {
	return p.prepared.layout(ctx, size)
}

// layout allocates the file system for size bytes.
func (pr *prepared) layout(ctx context.Context, size int64) (*Plan, error) {
	geo, err := pr.geometryAt(size)
	if err != nil {
		return nil, err
	}
	p := pr.newPlan(size, geo)
	p.start = make([]uint64, len(pr.nodes))
	p.xblk = make([]uint64, len(pr.xblocks))
	if err := p.allocate(ctx); err != nil {
		return nil, err
	}
	if p.end > geo.blocks {
		return nil, fmt.Errorf("%w: the tree needs %d blocks of 4096 bytes, the file system of %d bytes has %d", ErrNoSpace, p.end, size, geo.blocks)
	}
	return p, nil
}

func (pr *prepared) newPlan(size int64, geo geometry) *Plan {
	p := &Plan{prepared: pr, size: size, geo: geo}
	p.opts.Size = size
	return p
}

// geometryAt is the geometry of a file system of size bytes holding the
// tree.
func (pr *prepared) geometryAt(size int64) (geometry, error) {
	if size < 0 {
		return geometry{}, fmt.Errorf("negative size %d", size)
	}
	return newGeometry(size, pr.inodesWanted(uint64(size/BlockSize)), pr.feat)
}

// inodesWanted is the number of inodes asked for in a region of raw
// blocks.
func (pr *prepared) inodesWanted(raw uint64) uint64 {
	want := raw * BlockSize / uint64(pr.ratio())
	if pr.opts.Inodes > 0 {
		want = pr.opts.Inodes
	}
	return max(want, uint64(pr.lastIno))
}

func (pr *prepared) ratio() int64 {
	if pr.opts.InodeRatio == 0 {
		return DefaultInodeRatio
	}
	return pr.opts.InodeRatio
}

// Stats describes the plan.
func (p *Plan) Stats() Stats {
	s := Stats{
		Blocks:     p.geo.blocks,
		UsedBlocks: p.end,
		Groups:     p.geo.groups,
		Inodes:     uint64(p.geo.ipg) * uint64(p.geo.groups),
		UsedInodes: uint64(p.lastIno),
	}
	for g := uint32(0); g < p.geo.groups; g++ {
		if groupStart(g) >= p.end {
			s.UsedBlocks += p.geo.reserved(g)
		}
	}
	for _, h := range p.holes {
		s.UsedBlocks -= h.count
	}
	if p.journal != nil {
		s.JournalBlocks = p.journal.nblk
	}
	return s
}

// prepare validates the tree and does the size-independent work.
func prepare(ctx context.Context, root *Inode, opts Options) (*prepared, error) {
	feat, err := featuresOf(opts.Type)
	if err != nil {
		return nil, err
	}
	return prepareFeatures(ctx, root, opts, feat)
}

func prepareFeatures(ctx context.Context, root *Inode, opts Options, feat *features) (*prepared, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if root == nil || root.Kind != Dir {
		return nil, fmt.Errorf("root must be a directory")
	}
	pr := &prepared{opts: opts, feat: feat, seed: hashSeed(opts.HashSeed)}
	pr.fsSeed = crc32c(^uint32(0), opts.UUID[:])
	if err := pr.number(ctx, root); err != nil {
		return nil, err
	}
	shared := map[string]*xblock{}
	for i, n := range pr.nodes {
		if n == nil {
			continue
		}
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if err := pr.shape(n); err != nil {
			return nil, err
		}
		pr.content += n.nblk + uint64(n.meta)
		if xb := n.xblk(); xb != nil {
			key := xblockKey(xb.data)
			if x := shared[key]; x != nil && x.refs < xattrRefMax {
				n.x.blk = x
			} else {
				xb.idx = len(pr.xblocks)
				n.x.own = true
				shared[key] = xb
				pr.xblocks = append(pr.xblocks, xb)
				pr.content++
			}
			n.x.blk.refs++
		}
	}
	pr.lbuf = nil
	return pr, nil
}

// number validates the tree and assigns inode numbers depth-first.
func (pr *prepared) number(ctx context.Context, root *Inode) error {
	seen := map[*Inode]*node{}
	pr.nodes = make([]*node, firstIno+1)
	rootNode := &node{in: root, ino: rootIno, d: &dirInfo{parent: rootIno}}
	pr.nodes[rootIno] = rootNode
	seen[root] = rootNode

	var lf *Inode
	for _, e := range root.Entries {
		if e.Name == "lost+found" {
			if e.Inode == nil || e.Inode.Kind != Dir {
				return fmt.Errorf("/lost+found: must be a directory")
			}
			lf = e.Inode
		}
	}
	if lf == nil {
		t := pr.opts.Time
		lf = &Inode{Kind: Dir, Perm: 0o700, Atime: t, Mtime: t, Ctime: t, Crtime: t}
	}
	lfNode := &node{in: lf, ino: firstIno, d: &dirInfo{parent: rootIno, lostFound: true}}
	pr.nodes[firstIno] = lfNode
	seen[lf] = lfNode
	pr.lastIno = firstIno
	if err := pr.numberDir(ctx, rootNode, "", seen); err != nil {
		return err
	}
	if lfNode.d.ents == nil {
		// A lost+found of our own, not among root's entries.
		if err := pr.numberDir(ctx, lfNode, "/lost+found", seen); err != nil {
			return err
		}
		rootNode.links++
	}
	// lost+found is always right after ".." in root.
	ents := []dirent{{name: "lost+found", ino: firstIno, ftype: ftDir}}
	for _, e := range rootNode.d.ents {
		if e.name != "lost+found" {
			ents = append(ents, e)
		}
	}
	rootNode.d.ents = ents
	for _, n := range pr.nodes {
		if n == nil || n.links <= maxLinks {
			continue
		}
		if !n.isDir() {
			return fmt.Errorf("%s: %d hard links; %s allows %d", pr.path(n.ino), n.links, pr.feat.name, maxLinks)
		}
		if !pr.feat.modern {
			// Without dir_nlink a directory's link count (2 plus its
			// subdirectories) must be exact.
			return fmt.Errorf("%s: %d subdirectories; %s allows %d", pr.path(n.ino), n.links-2, pr.feat.name, maxLinks-2)
		}
	}
	return nil
}

func (pr *prepared) numberDir(ctx context.Context, d *node, path string, seen map[*Inode]*node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	es := make([]Entry, len(d.in.Entries))
	copy(es, d.in.Entries)
	sort.Slice(es, func(i, j int) bool { return es[i].Name < es[j].Name })
	d.links = 2
	d.d.ents = make([]dirent, 0, len(es))
	if err := pr.check(d, path); err != nil {
		return err
	}
	for i, e := range es {
		cpath := path + "/" + e.Name
		if err := checkName(e.Name); err != nil {
			return fmt.Errorf("%s: %w", cpath, err)
		}
		if i > 0 && es[i-1].Name == e.Name {
			return fmt.Errorf("%s: name given twice", cpath)
		}
		if e.Inode == nil {
			return fmt.Errorf("%s: no inode", cpath)
		}
		c, ok := seen[e.Inode]
		if ok && c.isDir() && !(c.d.lostFound && d.ino == rootIno && c.d.ents == nil) {
			return fmt.Errorf("%s: directory linked twice (directories cannot be hard links)", cpath)
		}
		if !ok {
			pr.lastIno++
			if pr.lastIno == 0 {
				return fmt.Errorf("too many inodes")
			}
			c = &node{in: e.Inode, ino: pr.lastIno}
			if e.Inode.Kind == Dir {
				c.d = &dirInfo{}
			}
			pr.nodes = append(pr.nodes, c)
			seen[e.Inode] = c
			if !c.isDir() {
				if err := pr.check(c, cpath); err != nil {
					return err
				}
			}
		}
		if c.isDir() {
			c.d.parent = d.ino
			d.links++
			if err := pr.numberDir(ctx, c, cpath, seen); err != nil {
				return err
			}
		} else {
			c.links++
		}
		d.d.ents = append(d.d.ents, dirent{name: e.Name, ino: c.ino, ftype: fileType(e.Inode.Kind)})
	}
	return nil
}

// path returns the path of inode ino in the file system: for a hard
// link, the name it was numbered at (the first in depth-first name
// order). It searches the directories, as it is only needed for error
// messages: no path is kept per inode.
func (pr *prepared) path(ino uint32) string {
	switch ino {
	case rootIno:
		return "/"
	case journalIno:
		return "the journal"
	}
	var walk func(d *node, prefix string) string
	walk = func(d *node, prefix string) string {
		var ents []*dirent
		d.eachEntry(func(e *dirent) bool {
			ents = append(ents, e)
			return true
		})
		sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
		for _, e := range ents {
			p := prefix + "/" + e.name
			if e.ino == ino {
				return p
			}
			if c := pr.nodes[e.ino]; e.ftype == ftDir && c != nil && c.isDir() && c.d.parent == d.ino {
				if r := walk(c, p); r != "" {
					return r
				}
			}
		}
		return ""
	}
	if p := walk(pr.nodes[rootIno], ""); p != "" {
		return p
	}
	return fmt.Sprintf("inode %d", ino)
}

// eachEntry calls f for every entry of directory d (in no particular
// order) until f returns false.
func (d *node) eachEntry(f func(*dirent) bool) {
	ents := d.d.ents
	if ents != nil {
		for i := range ents {
			if !f(&ents[i]) {
				return
			}
		}
		return
	}
	for _, l := range d.d.shape.leaves {
		for i := range l {
			if !f(&l[i]) {
				return
			}
		}
	}
}

func checkName(name string) error {
	switch {
	case name == "" || len(name) > 255:
		return fmt.Errorf("name length %d not in 1..255", len(name))
	case name == "." || name == "..":
		return fmt.Errorf("reserved name")
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("name contains '/' or NUL")
	}
	return nil
}

func fileType(k Kind) uint8 {
	switch k {
	case Regular:
		return ftRegular
	case Dir:
		return ftDir
	case Symlink:
		return ftSymlink
	case CharDev:
		return ftCharDev
	case BlockDev:
		return ftBlockDev
	case FIFO:
		return ftFIFO
	case Socket:
		return ftSocket
	}
	return 0
}

// check validates one inode's metadata and encodes its xattrs.
func (pr *prepared) check(n *node, path string) error {
	in := n.in
	if path == "" {
		path = "/"
	}
	if in.Perm&^0o7777 != 0 {
		return fmt.Errorf("%s: permission bits %#o out of range", path, in.Perm)
	}
	switch in.Kind {
	case Regular:
		if max := pr.feat.maxFileSize(); in.Size < 0 || in.Size > max {
			return fmt.Errorf("%s: size %d out of range (%s allows at most %d)", path, in.Size, pr.feat.name, max)
		}
		if in.Data != nil && in.Size > 0 {
			runs, err := in.Data.Runs(in.Size)
			if err != nil {
				return fmt.Errorf("%s: data runs: %w", path, err)
			}
			if n.runs, err = checkRuns(runs, in.Size); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
	case Symlink:
		if len(in.Target) == 0 || len(in.Target) >= BlockSize {
			return fmt.Errorf("%s: symlink target length %d not in 1..%d", path, len(in.Target), BlockSize-1)
		}
		if strings.IndexByte(in.Target, 0) >= 0 {
			return fmt.Errorf("%s: symlink target contains NUL", path)
		}
	case CharDev, BlockDev:
		if in.Major >= 1<<12 || in.Minor >= 1<<20 {
			return fmt.Errorf("%s: device number %d:%d out of range", path, in.Major, in.Minor)
		}
	case Dir, FIFO, Socket:
	default:
		return fmt.Errorf("%s: unknown kind %d", path, in.Kind)
	}
	xs, err := parseXattrs(in.Xattrs)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(xs) == 0 {
		return nil
	}
	ib, blk := splitXattrs(xs)
	n.x = &xattrs{ibody: encodeIbody(ib)}
	if len(blk) > 0 {
		if !blockFits(blk) {
			return fmt.Errorf("%s: extended attributes do not fit in the inode and one %d-byte block", path, BlockSize)
		}
		n.x.blk = &xblock{data: encodeXblock(blk)}
	}
	return nil
}

// shape decides the size-independent shape of n's blocks: how many data
// blocks it has and how its directory blocks are filled.
func (pr *prepared) shape(n *node) error {
	in := n.in
	switch in.Kind {
	case Dir:
		minBlocks := 1
		if n.d.lostFound {
			minBlocks = 4 // 16 KiB, as mke2fs makes it
		}
		s, err := shapeDir(n.d.ents, pr.seed, minBlocks, n.d.lostFound, pr.feat)
		if err != nil {
			return fmt.Errorf("%s: %w", pr.path(n.ino), err)
		}
		n.d.shape = s
		n.d.ents = nil // the leaves hold the entries now
		n.nblk = uint64(s.blocks)
	case Regular:
		pr.lbuf = n.logical(pr.lbuf)
		for _, r := range pr.lbuf {
			n.nblk += r.count
		}
	case Symlink:
		if len(in.Target) < 60 {
			n.fast = true
		} else {
			n.nblk = 1
		}
	}
	if n.nblk > 0 {
		pr.lbuf = n.logical(pr.lbuf)
		n.meta = uint32(pr.metaBlocks(pr.lbuf, []blockRange{{0, n.nblk}}))
	}
	return nil
}

// metaBlocks is the number of extent tree or indirect blocks mapping the
// logical ranges onto the physical ones.
func (pr *prepared) metaBlocks(logical, physical []blockRange) uint64 {
	if pr.feat.extents {
		return uint64(treeBlocks(countExtents(logical, physical)))
	}
	return indirectBlocks(logical)
}

// logical appends to buf the logical block ranges of n's data.
func (n *node) logical(buf []blockRange) []blockRange {
	buf = buf[:0]
	switch {
	case n.in.Kind == Regular:
		for _, r := range n.runs {
			first := uint64(r.Offset) / BlockSize
			last := uint64(r.Offset+r.Length-1) / BlockSize
			if k := len(buf); k > 0 && buf[k-1].start+buf[k-1].count >= first {
				buf[k-1].count = max(buf[k-1].start+buf[k-1].count, last+1) - buf[k-1].start
			} else {
				buf = append(buf, blockRange{first, last - first + 1})
			}
		}
	case n.nblk > 0:
		buf = append(buf, blockRange{0, n.nblk})
	}
	return buf
}

// checkRuns checks runs and drops the empty ones.
func checkRuns(runs []Run, size int64) ([]Run, error) {
	var out []Run
	var prevEnd int64
	for i, r := range runs {
		if r.Offset < prevEnd || r.Length < 0 || (i > 0 && r.Offset < runs[i-1].Offset) {
			return nil, fmt.Errorf("data runs not sorted or overlapping at %d+%d", r.Offset, r.Length)
		}
		if r.Offset+r.Length > size {
			return nil, fmt.Errorf("data run %d+%d beyond the size %d", r.Offset, r.Length, size)
		}
		prevEnd = r.Offset + r.Length
		if r.Length == 0 {
			continue
		}
		out = append(out, r)
	}
	if len(out) == len(runs) {
		return runs, nil
	}
	return out, nil
}

// allocator hands out blocks in increasing order, skipping the blocks
// reserved at the start of groups (backup superblocks and descriptor
// tables).
type allocator struct {
	geo   *geometry
	next  uint64
	holes []blockRange // blocks skipped by contig, left free
	buf   []blockRange // alloc's result, reused
}

func (a *allocator) skipReserved() {
	g := uint32(a.next / blocksPerGroup)
	if s := groupStart(g) + a.geo.reserved(g); a.next < s {
		a.next = s
	}
}

// alloc returns n blocks as ranges, as contiguous as the reserved areas
// allow. The result is valid until the next call.
func (a *allocator) alloc(n uint64) []blockRange {
	out := a.buf[:0]
	for n > 0 {
		a.skipReserved()
		g := uint32(a.next / blocksPerGroup)
		take := min(n, groupStart(g+1)-a.next)
		if k := len(out); k > 0 && out[k-1].start+out[k-1].count == a.next {
			out[k-1].count += take
		} else {
			out = append(out, blockRange{a.next, take})
		}
		a.next += take
		n -= take
	}
	a.buf = out
	return out
}

// contig returns n contiguous blocks (n at most a group's worth).
func (a *allocator) contig(n uint64) uint64 {
	a.skipReserved()
	g := uint32(a.next / blocksPerGroup)
	if a.next+n > groupStart(g+1) && hasSuper(g+1) {
		a.holes = append(a.holes, blockRange{a.next, groupStart(g+1) - a.next})
		a.next = groupStart(g + 1)
		a.skipReserved()
	}
	s := a.next
	a.next += n
	return s
}

// list returns n blocks one by one.
func (a *allocator) list(n uint64) []uint64 {
	out := make([]uint64, 0, n)
	for _, r := range a.alloc(n) {
		for i := range r.count {
			out = append(out, r.start+i)
		}
	}
	return out
}

// allocate places the metadata, the journal and every inode's blocks.
// Without p.start it only measures: p.end and p.holes come out right,
// nothing is recorded per inode.
func (p *Plan) allocate(ctx context.Context) error {
	g := &p.geo
	a := &allocator{geo: g, next: 1 + uint64(g.gdtBlocks)}
	p.blockBitmap = make([]uint64, 0, g.groups)
	p.inodeBitmap = make([]uint64, 0, g.groups)
	p.inodeTable = make([]uint64, 0, g.groups)
	if g.flex {
		for range g.groups {
			p.blockBitmap = append(p.blockBitmap, a.contig(1))
		}
		for range g.groups {
			p.inodeBitmap = append(p.inodeBitmap, a.contig(1))
		}
		for range g.groups {
			p.inodeTable = append(p.inodeTable, a.contig(uint64(g.itb)))
		}
	} else {
		for grp := range g.groups {
			b := groupStart(grp) + g.superBlocks(grp)
			p.blockBitmap = append(p.blockBitmap, b)
			p.inodeBitmap = append(p.inodeBitmap, b+1)
			p.inodeTable = append(p.inodeTable, b+2)
		}
	}
	if j := p.journalAt(g); j > 0 {
		t := p.opts.Time
		p.journal = &node{ino: journalIno, links: 1, nblk: j,
			runs: []Run{{Offset: 0, Length: int64(j) * BlockSize}},
			in:   &Inode{Kind: Regular, Perm: 0o600, Size: int64(j) * BlockSize, Atime: t, Mtime: t, Ctime: t, Crtime: t}}
		p.journal.meta = uint32(p.metaBlocks([]blockRange{{0, j}}, []blockRange{{0, j}}))
		p.allocNode(a, p.journal, nil)
	}
	var lbuf []blockRange
	for i, n := range p.nodes {
		if n == nil {
			continue
		}
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		lbuf = p.allocNode(a, n, lbuf)
	}
	p.end = a.next
	p.holes = a.holes
	return nil
}

// allocNode allocates n's data blocks, its extent tree or indirect
// blocks and its xattr block. lbuf is scratch space, returned for reuse.
func (p *Plan) allocNode(a *allocator, n *node, lbuf []blockRange) []blockRange {
	if p.start != nil {
		p.start[n.ino] = a.next
	}
	if n.nblk > 0 {
		phys := a.alloc(n.nblk)
		meta := uint64(n.meta)
		if p.feat.extents {
			lbuf = n.logical(lbuf)
			meta = uint64(treeBlocks(countExtents(lbuf, phys)))
		}
		a.alloc(meta)
	}
	if n.x != nil && n.x.own {
		b := a.alloc(1)[0].start
		if p.xblk != nil {
			p.xblk[n.x.blk.idx] = b
		}
	}
	return lbuf
}

// place replays the allocation of n's blocks: where its data is (as
// extents, also for block maps) and the blocks of its extent tree or its
// indirect blocks.
func (p *Plan) place(n *node) (exts []extent, meta []uint64) {
	var pl placer
	return pl.place(p, n)
}

// placer replays allocations reusing its buffers: its results are valid
// until the next call.
type placer struct {
	a    allocator
	lbuf []blockRange
	exts []extent
	meta []uint64
}

func (pl *placer) place(p *Plan, n *node) ([]extent, []uint64) {
	if n.nblk == 0 {
		return nil, nil
	}
	pl.a.geo, pl.a.next = &p.geo, p.start[n.ino]
	phys := pl.a.alloc(n.nblk)
	pl.lbuf = n.logical(pl.lbuf)
	pl.exts = appendExtents(pl.exts[:0], pl.lbuf, phys)
	nm := uint64(n.meta)
	if p.feat.extents {
		nm = uint64(treeBlocks(len(pl.exts)))
	}
	pl.meta = pl.meta[:0]
	for _, r := range pl.a.alloc(nm) {
		for i := range r.count {
			pl.meta = append(pl.meta, r.start+i)
		}
	}
	return pl.exts, pl.meta
}
