package repart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/definition"
	"github.com/hermetic-repart/hermetic-repart/fstree"
	"github.com/hermetic-repart/hermetic-repart/gpt"
	"github.com/hermetic-repart/hermetic-repart/imagefile"
	"github.com/hermetic-repart/hermetic-repart/layout"
	"github.com/hermetic-repart/hermetic-repart/mkfs/ext4"
	"github.com/hermetic-repart/hermetic-repart/mkfs/filedata"
	"github.com/hermetic-repart/hermetic-repart/mkfs/vfat"
	"github.com/hermetic-repart/hermetic-repart/progress"
	"github.com/hermetic-repart/hermetic-repart/seedrand"
)

// mountPoints are where the partitions of each designator are mounted
// (repart's gpt_partition_type_mountpoint_nulstr). A root partition's
// CopyFiles=/:/ leaves their contents out, since they live elsewhere.
var mountPoints = map[gpt.Designator][]string{
	gpt.Usr:      {"/usr"},
	gpt.Home:     {"/home"},
	gpt.Srv:      {"/srv"},
	gpt.ESP:      {"/efi", "/boot"},
	gpt.XBootLdr: {"/boot"},
	gpt.Var:      {"/var"},
	gpt.Tmp:      {"/var/tmp"},
}

// content is what a formatted partition holds and how its file system is
// made.
type content struct {
	tree *fstree.Tree
	fs   fileSystem
	// minimized is the file system size Minimize= chose; 0 means the
	// file system fills the partition.
	minimized uint64
	// plan is the file system laid out: at its smallest size after
	// minimize, at its final size after layoutContent.
	plan fsPlan
	// progress counts the file data copied while the plan is written.
	progress *progress.Task
}

// dataBytes is how much file data the tree holds: the data runs of each
// regular inode once, which is what writing it copies.
func (c *content) dataBytes() int64 {
	seen := map[*fstree.Inode]bool{}
	var n int64
	var walk func(*fstree.Inode)
	walk = func(in *fstree.Inode) {
		if seen[in] {
			return
		}
		seen[in] = true
		for _, r := range in.Data {
			n += r.Length
		}
		for _, e := range in.Entries {
			walk(e.Inode)
		}
	}
	walk(c.tree.Root)
	return n
}

// fileSystem is a writer's view of one partition's tree and options.
type fileSystem interface {
	// layout lays the tree out in size bytes.
	layout(ctx context.Context, size int64) (fsPlan, error)
	// smallest lays the tree out at the smallest size Minimize=best
	// gives it.
	smallest(ctx context.Context) (fsPlan, error)
	// guess is Minimize=guess from the smallest layout: repart's formula
	// (the bytes best uses × 1.5, on the grain, at least the type's
	// minimum) and at least atLeast. It returns the plan to lay out in
	// the returned size.
	guess(ctx context.Context, best fsPlan, atLeast uint64) (fsPlan, uint64, error)
	// minSize is the least size layout succeeds in.
	minSize(ctx context.Context) (uint64, error)
}

// fsPlan is a laid-out file system.
type fsPlan interface {
	relayout(ctx context.Context, size int64) (fsPlan, error)
	// WriteFinal writes the file system at off, calling final with
	// the length of its final prefix as it grows.
	WriteFinal(ctx context.Context, w io.WriterAt, off int64, final func(n int64)) error
	size() uint64 // bytes the file system spans
	used() uint64 // bytes in use, metadata included
	warnings() []string
}

// noSpace reports whether a layout failed for want of room.
func noSpace(err error) bool {
	return errors.Is(err, ext4.ErrNoSpace) || errors.Is(err, vfat.ErrNoSpace)
}

// fsTime is the time written for what has no source: SOURCE_DATE_EPOCH,
// or the epoch.
func (b *build) fsTime() time.Time {
	if b.o.SourceDateEpoch != nil {
		return time.Unix(*b.o.SourceDateEpoch, 0).UTC()
	}
	return time.Unix(0, 0).UTC()
}

// scanContent builds the tree of every partition whose file system we
// write. It runs after acquireIDs (labels and UUIDs are needed) and before
// the layout, which Minimize= feeds.
func (b *build) scanContent(ctx context.Context) error {
	task := b.o.Progress.Start("Scanning sources", progress.Entries, 0)
	defer task.End()
	for _, p := range b.parts {
		if !definition.WritesFS(p.Def.Format) || p.Deferred {
			continue
		}
		var others []string
		for _, q := range b.parts {
			if q != p {
				others = append(others, mountPoints[q.Type.Designator]...)
			}
		}
		tree, err := fstree.Build(ctx, fstree.SpecOf(p.Def), fstree.Options{
			SourceRoot:       b.o.CopySource,
			KeepOwnership:    b.o.KeepOwnership,
			SourceDateEpoch:  b.o.SourceDateEpoch,
			RootPartition:    p.Type.Designator == gpt.Root,
			OtherMountPoints: others,
			Progress:         task,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", p.Def.Path, err)
		}
		for _, w := range tree.Warnings {
			b.log(fmt.Sprintf("%s: %s", p.Def.Path, w))
		}
		c := &content{tree: tree}
		switch p.Def.Format {
		case "vfat":
			root, skipped := vfatTree(tree, c)
			for _, s := range skipped {
				b.log(fmt.Sprintf("%s: %s", p.Def.Path, s))
			}
			c.fs = &vfatFS{root: root, opts: vfat.Options{
				SectorSize: b.ss,
				VolumeID:   seedrand.VFATVolumeID(p.FSUUID),
				Label:      fatLabel(p.Label),
				Time:       b.fsTime(),
			}}
		default:
			c.fs = &ext4FS{root: ext4Tree(tree, c), opts: ext4.Options{
				Type:     p.Def.Format,
				Label:    mangleLabel(p.Label, 16),
				UUID:     p.FSUUID,
				HashSeed: seedrand.Ext4HashSeed(p.FSUUID),
				Time:     b.fsTime(),
			}}
		}
		if p.Def.Minimize != "off" {
			if err := b.minimize(ctx, p, c); err != nil {
				return err
			}
		}
		b.content[p] = c
	}
	return nil
}

// minimize sizes the file system of a Minimize= partition from its tree
// alone, without writing anything. best is the smallest size our writer
// can lay the tree out in (for vfat, the smallest valid FAT32): every
// block is then in use, which suits read-only use and images whose root
// grows at first boot (GrowFileSystem=). guess is repart's formula applied
// to that smallest layout: the bytes it uses (data, metadata and journal)
// × 1.5, on the grain, at least 32 MiB for ext2/3/4 — where repart
// measures what mkfs allocated in a trial population of a 1 TiB sparse
// file.
func (b *build) minimize(ctx context.Context, p *Partition, c *content) error {
	plan, err := c.fs.smallest(ctx)
	if err != nil {
		return fmt.Errorf("%s: Minimize=%s: %w", p.Def.Path, p.Def.Minimize, err)
	}
	best := plan.size()
	size := best
	// A configured minimum is filled by the file system, as repart's main
	// branch does, rather than left unused behind it.
	if p.Def.SizeMin != layout.Unset {
		size = max(size, roundGrain(p.Def.SizeMin))
	}
	if p.Def.Minimize == "guess" {
		if plan, size, err = c.fs.guess(ctx, plan, size); err != nil {
			return fmt.Errorf("%s: Minimize=%s: %w", p.Def.Path, p.Def.Minimize, err)
		}
	}
	plan, err = fitFrom(ctx, plan, size)
	if err != nil {
		return fmt.Errorf("%s: Minimize=%s: %w", p.Def.Path, p.Def.Minimize, err)
	}
	size = plan.size()
	if p.Def.SizeMax != layout.Unset && size > p.Def.SizeMax {
		err := fmt.Errorf("%s: Minimize=%s: the content needs a file system of %s (%d bytes), more than SizeMaxBytes=%s (%d bytes) allows", p.Def.Path, p.Def.Minimize, FormatBytes(size), size, FormatBytes(p.Def.SizeMax), p.Def.SizeMax)
		if size > best && best <= p.Def.SizeMax {
			err = fmt.Errorf("%w; the smallest file system that holds it (Minimize=best) is %s", err, FormatBytes(best))
		}
		return err
	}
	c.minimized, c.plan = size, plan
	return nil
}

// fitFrom lays plan's tree out in size bytes or, when that fails, in the
// smallest size above it that holds the tree. A larger size can hold less:
// above 128 MiB the journal grows from 4 to 16 MiB (mke2fs's steps), and
// FAT's geometry steps to larger clusters. Past such a step, fitting is
// monotonic again up to the next step, which is far enough away that
// doubling the size is always room enough, so a binary search between
// size and twice it finds the least size that fits.
func fitFrom(ctx context.Context, plan fsPlan, size uint64) (fsPlan, error) {
	if plan.size() == size {
		return plan, nil // Minimize=best: already laid out there
	}
	q, err := plan.relayout(ctx, int64(size))
	if !noSpace(err) {
		return q, err
	}
	lo, hi := size, 2*size
	best, err := plan.relayout(ctx, int64(hi))
	if err != nil {
		return nil, err
	}
	for hi-lo > layout.Grain {
		mid := max(((lo+hi)/2)&^(layout.Grain-1), lo+layout.Grain)
		q, err := plan.relayout(ctx, int64(mid))
		switch {
		case err == nil:
			hi, best = mid, q
		case noSpace(err):
			lo = mid
		default:
			return nil, err
		}
	}
	return best, nil
}

func roundGrain(x uint64) uint64 { return (x + layout.Grain - 1) &^ (layout.Grain - 1) }

// layoutContent lays out every file system in its final size, before
// anything is written, so that content that does not fit is refused even
// in a dry run and the image file is never created for it.
func (b *build) layoutContent(ctx context.Context) error {
	for _, p := range b.parts {
		c := b.content[p]
		if c == nil || p.Dropped {
			continue
		}
		var plan fsPlan
		var err error
		if c.minimized > 0 {
			plan = c.plan // laid out in its final size by minimize
		} else {
			plan, err = c.fs.layout(ctx, int64(p.Size))
		}
		if noSpace(err) {
			need, merr := c.fs.minSize(ctx)
			if merr != nil {
				return fmt.Errorf("%s: Format=%s: %w", p.Def.Path, p.Def.Format, merr)
			}
			hint := "raise SizeMinBytes= or set Minimize=guess"
			if p.Def.SizeMax != layout.Unset && p.Size >= p.Def.SizeMax&^(layout.Grain-1) {
				hint = "raise SizeMaxBytes="
			} else if !b.o.SizeAuto {
				hint = "raise SizeMinBytes= (and --size=) or set Minimize=guess"
			}
			return fmt.Errorf("%s: the content needs a file system of at least %s (%d bytes), but the partition is %s (%d bytes): %s", p.Def.Path, FormatBytes(need), need, FormatBytes(p.Size), p.Size, hint)
		}
		if err != nil {
			return fmt.Errorf("%s: Format=%s: %w", p.Def.Path, p.Def.Format, err)
		}
		for _, w := range plan.warnings() {
			b.log(fmt.Sprintf("%s: %s", p.Def.Path, w))
		}
		c.plan = plan
	}
	return nil
}

// ext4FS makes ext2, ext3 and ext4 file systems.
type ext4FS struct {
	root *ext4.Inode
	opts ext4.Options
}

type ext4Plan struct{ *ext4.Plan }

func (f *ext4FS) layout(ctx context.Context, size int64) (fsPlan, error) {
	o := f.opts
	o.Size = size
	p, err := ext4.Layout(ctx, f.root, o)
	if err != nil {
		return nil, err
	}
	return ext4Plan{p}, nil
}

func (f *ext4FS) smallest(ctx context.Context) (fsPlan, error) {
	p, err := ext4.LayoutMin(ctx, f.root, f.opts)
	if err != nil {
		return nil, err
	}
	return ext4Plan{p}, nil
}

// guess gives inodes the same headroom as blocks: a tree of many small
// files would otherwise get the inode ratio's count, all but used up, in
// a file system with free blocks.
func (f *ext4FS) guess(ctx context.Context, best fsPlan, atLeast uint64) (fsPlan, uint64, error) {
	used := best.used()
	size := max(roundGrain(used+used/2), fsMinSize(f.opts.Type), atLeast)
	inodes := best.(ext4Plan).Stats().UsedInodes
	if want := inodes + inodes/2; want > size/ext4.DefaultInodeRatio {
		f.opts.Inodes = want
		plan, err := f.smallest(ctx)
		if err != nil {
			return nil, 0, err
		}
		return plan, max(size, plan.size()), nil
	}
	return best, size, nil
}

func (f *ext4FS) minSize(ctx context.Context) (uint64, error) {
	n, err := ext4.MinSize(ctx, f.root, f.opts)
	return uint64(n), err
}

func (p ext4Plan) relayout(ctx context.Context, size int64) (fsPlan, error) {
	q, err := p.Relayout(ctx, size)
	if err != nil {
		return nil, err
	}
	return ext4Plan{q}, nil
}

func (p ext4Plan) size() uint64       { return uint64(p.Size()) }
func (p ext4Plan) used() uint64       { return p.Stats().UsedBlocks * ext4.BlockSize }
func (p ext4Plan) warnings() []string { return nil }

// vfatFS makes FAT file systems; repart formats them as FAT32.
type vfatFS struct {
	root *vfat.Inode
	opts vfat.Options
}

type vfatPlan struct{ *vfat.Plan }

func (f *vfatFS) layout(ctx context.Context, size int64) (fsPlan, error) {
	o := f.opts
	o.Size = size
	p, err := vfat.Layout(ctx, f.root, o)
	if err != nil {
		return nil, err
	}
	return vfatPlan{p}, nil
}

// smallest is the smallest FAT32, not the smallest FAT: repart asks
// mkfs.vfat for FAT32, and UEFI firmware reads ESPs as FAT32 first.
func (f *vfatFS) smallest(ctx context.Context) (fsPlan, error) {
	size, err := vfat.MinSizeFAT32(ctx, f.root, f.opts)
	if err != nil {
		return nil, err
	}
	return f.layout(ctx, size)
}

// guess has no floor: repart knows no minimum for vfat.
func (f *vfatFS) guess(ctx context.Context, best fsPlan, atLeast uint64) (fsPlan, uint64, error) {
	used := best.used()
	return best, max(roundGrain(used+used/2), atLeast), nil
}

// minSize is the least size of any FAT type, which is what a partition
// without Minimize= is formatted with when it is too small for FAT32.
func (f *vfatFS) minSize(ctx context.Context) (uint64, error) {
	n, err := vfat.MinSize(ctx, f.root, f.opts)
	return uint64(n), err
}

func (p vfatPlan) relayout(ctx context.Context, size int64) (fsPlan, error) {
	q, err := p.Relayout(ctx, size)
	if err != nil {
		return nil, err
	}
	return vfatPlan{q}, nil
}

func (p vfatPlan) size() uint64 { return uint64(p.Size()) }

func (p vfatPlan) used() uint64 {
	s := p.Stats()
	meta := uint64(s.ReservedSectors+2*s.FATSectors)*uint64(s.SectorSize) + uint64(s.RootEntries)*32
	return meta + uint64(s.UsedClusters)*uint64(s.ClusterSize)
}

func (p vfatPlan) warnings() []string { return p.Warnings() }

// ext4Tree converts the content model into the ext4 writer's input.
// Hard links stay one *ext4.Inode under several names.
func ext4Tree(t *fstree.Tree, c *content) *ext4.Inode {
	conv := make(map[*fstree.Inode]*ext4.Inode, len(t.Inodes))
	var walk func(in *fstree.Inode) *ext4.Inode
	walk = func(in *fstree.Inode) *ext4.Inode {
		if out := conv[in]; out != nil {
			return out
		}
		tm := time.Unix(in.Mtime.Sec, int64(in.Mtime.Nsec))
		out := &ext4.Inode{
			Perm: uint16(in.Mode & 0o7777),
			UID:  in.UID, GID: in.GID,
			Atime: tm, Mtime: tm, Ctime: tm, Crtime: tm,
		}
		conv[in] = out
		for _, x := range in.Xattrs {
			out.Xattrs = append(out.Xattrs, ext4.Xattr{Name: x.Name, Value: x.Value})
		}
		switch in.Kind {
		case fstree.KindRegular:
			out.Kind = ext4.Regular
			out.Size = in.Size
			if len(in.Data) > 0 {
				out.Data = sourceData{in, c}
			}
		case fstree.KindDir:
			out.Kind = ext4.Dir
			out.Entries = make([]ext4.Entry, len(in.Entries))
			for i, e := range in.Entries {
				out.Entries[i] = ext4.Entry{Name: e.Name, Inode: walk(e.Inode)}
			}
		case fstree.KindSymlink:
			out.Kind = ext4.Symlink
			out.Target = in.Target
		case fstree.KindFIFO:
			out.Kind = ext4.FIFO
		case fstree.KindSocket:
			out.Kind = ext4.Socket
		case fstree.KindCharDev, fstree.KindBlockDev:
			out.Kind = ext4.CharDev
			if in.Kind == fstree.KindBlockDev {
				out.Kind = ext4.BlockDev
			}
			out.Major, out.Minor = unix.Major(in.Rdev), unix.Minor(in.Rdev)
		}
		return out
	}
	return walk(t.Root)
}

// vfatTree converts the content model into the FAT writer's input. FAT
// holds only directories and regular files: other kinds are left out,
// and each is named in the returned notices (repart's mcopy skips them
// too). Hard links become copies.
func vfatTree(t *fstree.Tree, c *content) (*vfat.Inode, []string) {
	var skipped []string
	conv := map[*fstree.Inode]*vfat.Inode{}
	var walk func(path string, in *fstree.Inode) *vfat.Inode
	walk = func(path string, in *fstree.Inode) *vfat.Inode {
		if out := conv[in]; out != nil {
			return out
		}
		out := &vfat.Inode{Mtime: time.Unix(in.Mtime.Sec, int64(in.Mtime.Nsec))}
		conv[in] = out
		if in.Kind == fstree.KindDir {
			out.Kind = vfat.Dir
			for _, e := range in.Entries {
				p := path + "/" + e.Name
				if k := e.Inode.Kind; k != fstree.KindDir && k != fstree.KindRegular {
					skipped = append(skipped, fmt.Sprintf("%s: a %s cannot be stored on FAT, leaving it out", p, k))
					continue
				}
				out.Entries = append(out.Entries, vfat.Entry{Name: e.Name, Inode: walk(p, e.Inode)})
			}
		} else {
			out.Kind = vfat.Regular
			out.Size = in.Size
			if len(in.Data) > 0 {
				out.Data = sourceData{in, c}
			}
		}
		out.Attr = vfat.AttrFromPerm(out.Kind, in.Mode)
		return out
	}
	return walk("", t.Root), skipped
}

// fatLabel is repart's FAT label: non-ASCII characters become "_", the
// result is cut to 11 characters and upper-cased, and the characters
// mkfs.vfat refuses (and control characters) become "_".
func fatLabel(s string) string {
	var b []byte
	for _, r := range s {
		if r >= 0x80 {
			r = '_'
		}
		b = append(b, byte(r))
	}
	if len(b) > 11 {
		b = b[:11]
	}
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c < 0x20 || c == 0x7f || strings.IndexByte("*?.,;:/\\|+=<>[]\"", c) >= 0:
			b[i] = '_'
		}
	}
	return string(b)
}

// sourceData is a regular file of the tree as the writers' filedata.Data:
// the runs come from the scan, and every copy reopens the source through
// fstree.Inode.Open, which refuses a file that changed since the scan.
type sourceData struct {
	in *fstree.Inode
	c  *content // for the progress
}

func (d sourceData) Runs(size int64) ([]filedata.Run, error) {
	if size != d.in.Size {
		return nil, fmt.Errorf("%s: size %d, scanned as %d", d.in.Source, size, d.in.Size)
	}
	return d.in.Data, nil
}

func (d sourceData) CopyTo(ctx context.Context, dst io.WriterAt, dstOff, off, n int64) error {
	f, err := d.in.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	if err := imagefile.CopyData(ctx, dst, dstOff, f, off, n); err != nil {
		return fmt.Errorf("copying %s: %w", d.in.Source, err)
	}
	d.c.progress.Add(n)
	return nil
}
