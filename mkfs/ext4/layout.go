package ext4

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Plan is a laid-out file system: every inode numbered, every block
// placed. It is ready to be written.
type Plan struct {
	ctx    context.Context // of Layout, checked while laying out
	opts   Options
	geo    geometry
	fsSeed uint32
	seed   [4]uint32 // directory hash seed

	nodes   []*node // by inode number; nil for unused reserved numbers
	lastIno uint32

	blockBitmap, inodeBitmap, inodeTable []uint64 // per group
	journal                              *node    // nil without journal
	xblocks                              []*xblock
	end                                  uint64       // first block never allocated
	holes                                []blockRange // free blocks before end
}

// node is one inode of the plan.
type node struct {
	in        *Inode
	ino       uint32
	links     uint32
	parent    uint32   // directories
	ents      []dirent // directories: children, in on-disk (linear) order
	lostFound bool

	ibody []byte  // in-inode xattr area
	xblk  *xblock // shared xattr block, if any

	size  uint64
	runs  []Run    // regular files: the content's data runs
	exts  []extent // data (or directory, symlink) blocks
	tree  []uint64 // extent tree blocks, leaves first
	dir   dirShape
	nblk  uint64 // data blocks
	fast  bool   // fast symlink
	isDir bool
}

type xblock struct {
	data []byte
	refs uint32
	blk  uint64
}

// Layout numbers the inodes of the tree under root and allocates every
// block of the file system opts describes. It reads nothing but the data
// runs of regular files. Root's own metadata (mode, owner, times, xattrs)
// becomes inode 2's; unlike mke2fs -d, nothing is taken from elsewhere.
// A "lost+found" directory in root becomes inode 11 with its metadata and
// entries; without one, lost+found is made with mode 0700, owner 0:0 and
// Options.Time. Layout stops with ctx's error when ctx is cancelled.
func Layout(ctx context.Context, root *Inode, opts Options) (*Plan, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if root == nil || root.Kind != Dir {
		return nil, fmt.Errorf("root must be a directory")
	}
	p := &Plan{ctx: ctx, opts: opts, seed: hashSeed(opts.HashSeed)}
	p.fsSeed = crc32c(^uint32(0), opts.UUID[:])
	if err := p.number(root); err != nil {
		return nil, err
	}

	ratio := opts.InodeRatio
	if ratio == 0 {
		ratio = DefaultInodeRatio
	}
	want := uint64(opts.Size/BlockSize) * BlockSize / uint64(ratio)
	if opts.Inodes > 0 {
		want = opts.Inodes
	}
	want = max(want, uint64(p.lastIno))
	geo, err := newGeometry(opts.Size, want)
	if err != nil {
		return nil, err
	}
	p.geo = geo
	if err := p.allocate(); err != nil {
		return nil, err
	}
	return p, nil
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
			s.UsedBlocks += p.geo.superBlocks(g)
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

// number validates the tree and assigns inode numbers depth-first.
func (p *Plan) number(root *Inode) error {
	seen := map[*Inode]*node{}
	p.nodes = make([]*node, firstIno+1)
	rootNode := &node{in: root, ino: rootIno, parent: rootIno, isDir: true}
	p.nodes[rootIno] = rootNode
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
		t := p.opts.Time
		lf = &Inode{Kind: Dir, Perm: 0o700, Atime: t, Mtime: t, Ctime: t, Crtime: t}
	}
	lfNode := &node{in: lf, ino: firstIno, parent: rootIno, isDir: true, lostFound: true}
	p.nodes[firstIno] = lfNode
	seen[lf] = lfNode
	p.lastIno = firstIno
	if err := p.numberDir(rootNode, "", seen); err != nil {
		return err
	}
	if lfNode.ents == nil {
		// A lost+found of our own, not among root's entries.
		if err := p.numberDir(lfNode, "/lost+found", seen); err != nil {
			return err
		}
		rootNode.links++
	}
	// lost+found is always right after ".." in root.
	ents := []dirent{{name: "lost+found", ino: firstIno, ftype: ftDir}}
	for _, e := range rootNode.ents {
		if e.name != "lost+found" {
			ents = append(ents, e)
		}
	}
	rootNode.ents = ents
	for _, n := range p.nodes {
		if n != nil && !n.isDir && n.links > maxLinks {
			return fmt.Errorf("inode %d has %d hard links; ext4 allows %d", n.ino, n.links, maxLinks)
		}
	}
	return nil
}

func (p *Plan) numberDir(d *node, path string, seen map[*Inode]*node) error {
	if err := p.ctx.Err(); err != nil {
		return err
	}
	es := make([]Entry, len(d.in.Entries))
	copy(es, d.in.Entries)
	sort.Slice(es, func(i, j int) bool { return es[i].Name < es[j].Name })
	d.links = 2
	d.ents = make([]dirent, 0, len(es))
	if err := p.prepare(d, path); err != nil {
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
		if ok && c.isDir && !(c.lostFound && d.ino == rootIno && c.ents == nil) {
			return fmt.Errorf("%s: directory linked twice (directories cannot be hard links)", cpath)
		}
		if !ok {
			p.lastIno++
			if p.lastIno == 0 {
				return fmt.Errorf("too many inodes")
			}
			c = &node{in: e.Inode, ino: p.lastIno, isDir: e.Inode.Kind == Dir}
			p.nodes = append(p.nodes, c)
			seen[e.Inode] = c
			if !c.isDir {
				if err := p.prepare(c, cpath); err != nil {
					return err
				}
			}
		}
		if c.isDir {
			c.parent = d.ino
			d.links++
			if err := p.numberDir(c, cpath, seen); err != nil {
				return err
			}
		} else {
			c.links++
		}
		d.ents = append(d.ents, dirent{name: e.Name, ino: c.ino, ftype: fileType(e.Inode.Kind)})
	}
	return nil
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

// maxFileSize is the largest file an extent-mapped inode can hold with
// 4096-byte blocks (2^32 - 1 blocks).
const maxFileSize = (1<<32 - 1) * BlockSize

// prepare validates one inode's metadata and encodes its xattrs.
func (p *Plan) prepare(n *node, path string) error {
	in := n.in
	if path == "" {
		path = "/"
	}
	if in.Perm&^0o7777 != 0 {
		return fmt.Errorf("%s: permission bits %#o out of range", path, in.Perm)
	}
	switch in.Kind {
	case Regular:
		if in.Size < 0 || in.Size > maxFileSize {
			return fmt.Errorf("%s: size %d out of range (at most %d)", path, in.Size, int64(maxFileSize))
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
	ib, blk := splitXattrs(xs)
	n.ibody = encodeIbody(ib)
	if len(blk) > 0 {
		if !blockFits(blk) {
			return fmt.Errorf("%s: extended attributes do not fit in the inode and one %d-byte block", path, BlockSize)
		}
		n.xblk = &xblock{data: encodeXblock(blk)}
	}
	return nil
}

// allocator hands out blocks in increasing order, skipping the backup
// superblocks and descriptor tables.
type allocator struct {
	geo   *geometry
	next  uint64
	holes []blockRange // blocks skipped by contig, left free
}

func (a *allocator) skipReserved() {
	g := uint32(a.next / blocksPerGroup)
	if s := groupStart(g) + a.geo.superBlocks(g); a.next < s {
		a.next = s
	}
}

// alloc returns n blocks as ranges, as contiguous as the reserved areas
// allow.
func (a *allocator) alloc(n uint64) []blockRange {
	var out []blockRange
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

func (a *allocator) list(n int) []uint64 {
	var out []uint64
	for _, r := range a.alloc(uint64(n)) {
		for i := range r.count {
			out = append(out, r.start+i)
		}
	}
	return out
}

// allocate places the metadata, the journal and every inode's blocks.
func (p *Plan) allocate() error {
	g := &p.geo
	a := &allocator{geo: g, next: 1 + uint64(g.gdtBlocks)}
	for range g.groups {
		p.blockBitmap = append(p.blockBitmap, a.contig(1))
	}
	for range g.groups {
		p.inodeBitmap = append(p.inodeBitmap, a.contig(1))
	}
	for range g.groups {
		p.inodeTable = append(p.inodeTable, a.contig(uint64(g.itb)))
	}
	if j := journalBlocks(g.blocks); j > 0 && !p.opts.NoJournal {
		t := p.opts.Time
		jn := &node{ino: journalIno, links: 1, size: j * BlockSize, nblk: j,
			in: &Inode{Kind: Regular, Perm: 0o600, Atime: t, Mtime: t, Ctime: t, Crtime: t}}
		jn.exts = mapExtents([]blockRange{{0, j}}, a.alloc(j))
		jn.tree = a.list(treeBlocks(len(jn.exts)))
		p.journal = jn
	}
	shared := map[string]*xblock{}
	for i, n := range p.nodes {
		if n == nil {
			continue
		}
		if i%4096 == 0 {
			if err := p.ctx.Err(); err != nil {
				return err
			}
		}
		if err := p.allocNode(a, n); err != nil {
			return err
		}
		if n.xblk != nil {
			key := xblockKey(n.xblk.data)
			if x := shared[key]; x != nil && x.refs < xattrRefMax {
				n.xblk = x
			} else {
				n.xblk.blk = a.list(1)[0]
				shared[key] = n.xblk
				p.xblocks = append(p.xblocks, n.xblk)
			}
			n.xblk.refs++
		}
	}
	p.end = a.next
	p.holes = a.holes
	if p.end > g.blocks {
		return fmt.Errorf("%w: the tree needs %d blocks of 4096 bytes, the file system of %d bytes has %d", ErrNoSpace, p.end, p.opts.Size, g.blocks)
	}
	return nil
}

// allocNode places the data, directory or symlink blocks of n and its
// extent tree.
func (p *Plan) allocNode(a *allocator, n *node) error {
	in := n.in
	var logical []blockRange
	switch in.Kind {
	case Dir:
		minBlocks := 1
		if n.lostFound {
			minBlocks = 4 // 16 KiB, as mke2fs makes it
		}
		s, err := shapeDir(n.ents, p.seed, minBlocks, n.lostFound)
		if err != nil {
			return fmt.Errorf("directory inode %d: %w", n.ino, err)
		}
		n.dir = s
		n.nblk = uint64(s.blocks)
		n.size = n.nblk * BlockSize
		logical = []blockRange{{0, n.nblk}}
	case Regular:
		n.size = uint64(in.Size)
		if in.Data != nil && in.Size > 0 {
			runs, err := in.Data.Runs(in.Size)
			if err != nil {
				return fmt.Errorf("inode %d: data runs: %w", n.ino, err)
			}
			n.runs, logical, err = runBlocks(runs, in.Size)
			if err != nil {
				return fmt.Errorf("inode %d: %w", n.ino, err)
			}
		}
	case Symlink:
		n.size = uint64(len(in.Target))
		if len(in.Target) < 60 {
			n.fast = true
		} else {
			logical = []blockRange{{0, 1}}
		}
	}
	n.nblk = 0
	for _, r := range logical {
		n.nblk += r.count
	}
	if n.nblk > 0 {
		n.exts = mapExtents(logical, a.alloc(n.nblk))
		n.tree = a.list(treeBlocks(len(n.exts)))
	}
	return nil
}

// runBlocks checks runs and turns them into the logical block ranges
// they touch.
func runBlocks(runs []Run, size int64) ([]Run, []blockRange, error) {
	var out []Run
	var blocks []blockRange
	var prevEnd int64
	for i, r := range runs {
		if r.Offset < prevEnd || r.Length < 0 || (i > 0 && r.Offset < runs[i-1].Offset) {
			return nil, nil, fmt.Errorf("data runs not sorted or overlapping at %d+%d", r.Offset, r.Length)
		}
		if r.Offset+r.Length > size {
			return nil, nil, fmt.Errorf("data run %d+%d beyond the size %d", r.Offset, r.Length, size)
		}
		prevEnd = r.Offset + r.Length
		if r.Length == 0 {
			continue
		}
		out = append(out, r)
		first := uint64(r.Offset) / BlockSize
		last := uint64(r.Offset+r.Length-1) / BlockSize
		if k := len(blocks); k > 0 && blocks[k-1].start+blocks[k-1].count >= first {
			end := max(blocks[k-1].start+blocks[k-1].count, last+1)
			blocks[k-1].count = end - blocks[k-1].start
		} else {
			blocks = append(blocks, blockRange{first, last - first + 1})
		}
	}
	return out, blocks, nil
}
