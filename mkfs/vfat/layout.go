package vfat

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// maxDirEntries is the most 32-byte entries a directory may hold
// (Linux's FAT_MAX_DIR_ENTRIES: 2 MiB of directory).
const maxDirEntries = 65536

// maxFileSize is the largest file FAT can hold.
const maxFileSize = 1<<32 - 1

// Plan is a laid-out file system: every name chosen, every cluster
// placed. It is ready to be written.
type Plan struct {
	opts Options
	geo  geometry
	tree *tree

	// The clusters of tree.dirs[i] and tree.files[i]: the plan's own,
	// so that plans for several sizes can share one tree.
	dirClus, fileClus []chain
	end               uint32 // first cluster not allocated
	warns             []string
}

// chain is a run of clusters; first is 0 when count is.
type chain struct{ first, count uint32 }

// tree is the validated, named input, independent of the size: what
// Layout, Relayout and MinSize share.
type tree struct {
	label    shortName
	hasLabel bool
	root     *dirNode
	dirs     []*dirNode  // depth-first, root first: the allocation order
	files    []*fileNode // depth-first, each directory's files in name order
	need     map[int64]clusterNeed
}

type dirNode struct {
	in     *Inode
	path   string
	idx    int // in tree.dirs
	parent *dirNode
	ents   []dirEnt // in on-disk (byte-wise name) order
	slots  int64    // 32-byte entries, dot entries and volume label included
}

type dirEnt struct {
	orig string // the name as given
	name entryName
	in   *Inode
	dir  *dirNode  // for a directory
	file *fileNode // for a regular file
}

type fileNode struct {
	in   *Inode
	path string
	idx  int // in tree.files
}

// clusterNeed counts the clusters a tree takes at one cluster size.
type clusterNeed struct {
	root  int64 // the root directory, if it lives in clusters (FAT32)
	other int64 // everything else
}

// Layout validates the tree under root, names its entries and allocates
// every cluster of the file system opts describes. It reads no file
// data. Root's own Attr and Mtime are not stored (FAT has no entry for
// the root directory).
//
// Names must be valid UTF-8, 1 to 255 UTF-16 units, without control
// characters or any of "*/:<>?\|, not ending in a space or a dot, and not
// "." or "..". Two names in one directory that differ only in case (under
// Unicode simple case folding) are an error naming both, because FAT
// lookups ignore case. Errors name the path of the offending entry.
func Layout(ctx context.Context, root *Inode, opts Options) (*Plan, error) {
	t, err := prepare(ctx, root, opts)
	if err != nil {
		return nil, err
	}
	return t.layout(opts)
}

// LayoutMin is Layout at MinSize: the plan of the smallest file system
// that holds the tree.
func LayoutMin(ctx context.Context, root *Inode, opts Options) (*Plan, error) {
	t, err := prepare(ctx, root, opts)
	if err != nil {
		return nil, err
	}
	opts.Size, err = t.minSize(opts, sizeStep)
	if err != nil {
		return nil, err
	}
	return t.layout(opts)
}

// Size is the size of the region the plan was laid out for (Options.Size),
// which the file system may end a little short of (Stats.Sectors).
func (p *Plan) Size() int64 { return p.opts.Size }

// Relayout lays out the same tree with the same options for a file
// system of size bytes, without validating and naming the tree again.
// p stays valid.
func (p *Plan) Relayout(ctx context.Context, size int64) (*Plan, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts := p.opts
	opts.Size = size
	return p.tree.layout(opts)
}

// prepare validates opts (but Size) and names the tree.
func prepare(ctx context.Context, root *Inode, opts Options) (*tree, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	label, hasLabel := labelName(opts.Label)
	t, err := buildTree(ctx, root, hasLabel)
	if err != nil {
		return nil, err
	}
	t.label = label
	return t, nil
}

// layout chooses the geometry for opts.Size and allocates the tree.
func (t *tree) layout(opts Options) (*Plan, error) {
	if opts.Size < 0 {
		return nil, fmt.Errorf("negative size %d", opts.Size)
	}
	geo, ok := chooseGeometry(opts.Size, opts.sectorSize(), false)
	if !ok {
		return nil, fmt.Errorf("%w: %d bytes is too small for a FAT file system", ErrNoSpace, opts.Size)
	}
	p := &Plan{opts: opts, geo: geo, tree: t}
	if err := p.allocate(); err != nil {
		return nil, err
	}
	if geo.typ != FAT32 {
		p.warns = append(p.warns, fmt.Sprintf("%d bytes is too small for FAT32 with %d-byte sectors (%d clusters needed, at least %d bytes); made %v instead",
			opts.Size, geo.sectorSize, minClusters32, MinFAT32Size(int(geo.sectorSize)), geo.typ))
	}
	return p, nil
}

// Warnings returns what the caller should tell the user about the plan:
// that it had to use FAT16 or FAT12 because the size does not allow a
// valid FAT32.
func (p *Plan) Warnings() []string { return slices.Clone(p.warns) }

// Stats describes the plan.
func (p *Plan) Stats() Stats {
	g := &p.geo
	return Stats{
		Type:            g.typ,
		SectorSize:      int(g.sectorSize),
		Sectors:         g.sectors,
		ReservedSectors: g.reserved,
		FATSectors:      g.fatLen,
		RootEntries:     g.rootEnts,
		ClusterSize:     int(g.clusterBytes()),
		Clusters:        g.clusters,
		UsedClusters:    p.end - 2,
		Dirs:            len(p.tree.dirs) - 1,
		Files:           len(p.tree.files),
	}
}

// buildTree validates and names the tree.
func buildTree(ctx context.Context, root *Inode, hasLabel bool) (*tree, error) {
	if root == nil || root.Kind != Dir {
		return nil, fmt.Errorf("root must be a directory")
	}
	t := &tree{hasLabel: hasLabel, need: map[int64]clusterNeed{}}
	seen := map[*Inode]bool{}
	var visit func(d *dirNode) error
	visit = func(d *dirNode) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		d.idx = len(t.dirs)
		t.dirs = append(t.dirs, d)
		if err := nameDir(d); err != nil {
			return err
		}
		if d.parent != nil {
			d.slots += 2 // "." and ".."
		} else if hasLabel {
			d.slots++
		}
		if d.slots > maxDirEntries {
			return fmt.Errorf("%s: directory needs %d entries, FAT allows %d", d.path, d.slots, maxDirEntries)
		}
		for i := range d.ents {
			e := &d.ents[i]
			path := strings.TrimSuffix(d.path, "/") + "/" + e.orig
			if e.in.Attr&^attrMask != 0 {
				return fmt.Errorf("%s: attributes %#02x hold bits other than read-only, hidden, system and archive", path, uint8(e.in.Attr))
			}
			switch e.in.Kind {
			case Regular:
				if e.in.Size < 0 || e.in.Size > maxFileSize {
					return fmt.Errorf("%s: size %d is outside FAT's 0 to 4 GiB − 1", path, e.in.Size)
				}
				e.file = &fileNode{in: e.in, path: path, idx: len(t.files)}
				t.files = append(t.files, e.file)
			case Dir:
				if seen[e.in] {
					return fmt.Errorf("%s: directory is reachable under more than one name", path)
				}
				seen[e.in] = true
				e.dir = &dirNode{in: e.in, path: path, parent: d}
			default:
				return fmt.Errorf("%s: a %v cannot be stored in FAT", path, e.in.Kind)
			}
		}
		for i := range d.ents {
			if e := &d.ents[i]; e.dir != nil {
				if err := visit(e.dir); err != nil {
					return err
				}
			}
		}
		return nil
	}
	t.root = &dirNode{in: root, path: "/"}
	seen[root] = true
	if err := visit(t.root); err != nil {
		return nil, err
	}
	return t, nil
}

// nameDir sorts d's entries and gives each its on-disk name.
func nameDir(d *dirNode) error {
	in := slices.Clone(d.in.Entries)
	slices.SortFunc(in, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	d.ents = make([]dirEnt, len(in))
	long := make([][]uint16, len(in))
	bases := make([]basis, len(in))
	byKey := make(map[string]string, len(in))
	prefix := strings.TrimSuffix(d.path, "/") + "/"
	for i, e := range in {
		path := prefix + e.Name
		if e.Inode == nil {
			return fmt.Errorf("%s: no inode", path)
		}
		u, err := validateName(e.Name)
		if err != nil {
			return fmt.Errorf("%q: %w", path, err)
		}
		k := foldKey(e.Name)
		if other, dup := byKey[k]; dup {
			if other == e.Name {
				return fmt.Errorf("%s: name appears twice", path)
			}
			return fmt.Errorf("%s and %s differ only in case, which FAT cannot hold apart", prefix+other, path)
		}
		byKey[k] = e.Name
		long[i] = u
		bases[i] = makeBasis(u)
		d.ents[i].in = e.Inode
		d.ents[i].orig = e.Name
	}
	// Names that are valid 8.3 names keep them; then the rest get tails,
	// in name order, avoiding every short name already given.
	taken := make(map[shortName]bool, len(in))
	done := make([]bool, len(in))
	for i := range in {
		if n, ok := bases[i].direct(long[i]); ok {
			if taken[n.sfn] {
				return fmt.Errorf("%s%s: short name %q is taken", prefix, in[i].Name, n.sfn[:])
			}
			taken[n.sfn] = true
			d.ents[i].name = n
			done[i] = true
		}
	}
	for i := range in {
		if done[i] {
			continue
		}
		sfn, err := bases[i].withTail(long[i], func(s shortName) bool { return taken[s] })
		if err != nil {
			return fmt.Errorf("%s%s: %w", prefix, in[i].Name, err)
		}
		taken[sfn] = true
		d.ents[i].name = entryName{sfn: sfn, lfn: long[i]}
	}
	for i := range d.ents {
		d.slots += int64(d.ents[i].name.slots())
	}
	return nil
}

// needAt counts the clusters the tree takes with clusters of cb bytes.
func (t *tree) needAt(cb int64) clusterNeed {
	if n, ok := t.need[cb]; ok {
		return n
	}
	dirClusters := func(d *dirNode) int64 { return max(1, (d.slots*32+cb-1)/cb) }
	var n clusterNeed
	n.root = dirClusters(t.root)
	for _, d := range t.dirs[1:] {
		n.other += dirClusters(d)
	}
	for _, f := range t.files {
		n.other += (f.in.Size + cb - 1) / cb
	}
	t.need[cb] = n
	return n
}

// fits reports whether the tree fits in g, and if not, why.
func (t *tree) fits(g *geometry) error {
	n := t.needAt(g.clusterBytes())
	total := n.other
	if g.typ == FAT32 {
		total += n.root
	} else if t.root.slots > int64(g.rootEnts) {
		return fmt.Errorf("%w: the root directory needs %d entries, %v at this size holds %d", ErrNoSpace, t.root.slots, g.typ, g.rootEnts)
	}
	if total > int64(g.clusters) {
		return fmt.Errorf("%w: the tree needs %d clusters of %d bytes, %v at this size has %d", ErrNoSpace, total, g.clusterBytes(), g.typ, g.clusters)
	}
	return nil
}

// allocate places every directory, then every file, in one run of
// clusters from cluster 2.
func (p *Plan) allocate() error {
	if err := p.tree.fits(&p.geo); err != nil {
		return fmt.Errorf("%d bytes: %w", p.opts.Size, err)
	}
	cb := p.geo.clusterBytes()
	next := uint32(2)
	p.dirClus = make([]chain, len(p.tree.dirs))
	for i, d := range p.tree.dirs {
		if d.parent == nil && p.geo.typ != FAT32 {
			continue // the fixed root directory area
		}
		n := uint32(max(1, (d.slots*32+cb-1)/cb))
		p.dirClus[i] = chain{next, n}
		next += n
	}
	p.fileClus = make([]chain, len(p.tree.files))
	for i, f := range p.tree.files {
		if n := uint32((f.in.Size + cb - 1) / cb); n > 0 {
			p.fileClus[i] = chain{next, n}
			next += n
		}
	}
	p.end = next
	return nil
}
