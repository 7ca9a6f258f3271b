package repart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/definition"
	"github.com/hermetic-repart/hermetic-repart/fstree"
	"github.com/hermetic-repart/hermetic-repart/gpt"
	"github.com/hermetic-repart/hermetic-repart/imagefile"
	"github.com/hermetic-repart/hermetic-repart/layout"
	"github.com/hermetic-repart/hermetic-repart/mkfs/ext4"
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
	root *ext4.Inode
	opts ext4.Options
	// minimized is the file system size Minimize= chose; 0 means the
	// file system fills the partition.
	minimized uint64
	// plan is the file system laid out: at its smallest size after
	// minimize, at its final size after layoutContent.
	plan *ext4.Plan
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
		})
		if err != nil {
			return fmt.Errorf("%s: %w", p.Def.Path, err)
		}
		for _, w := range tree.Warnings {
			b.log(fmt.Sprintf("%s: %s", p.Def.Path, w))
		}
		c := &content{tree: tree, root: ext4Tree(tree)}
		c.opts = ext4.Options{
			Label:    mangleLabel(p.Label, 16),
			UUID:     p.FSUUID,
			HashSeed: seedrand.Ext4HashSeed(p.FSUUID),
			Time:     b.fsTime(),
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
// can lay the tree out in: every block and inode is then in use, which
// suits read-only use and images whose root grows at first boot
// (GrowFileSystem=). guess is repart's formula applied to that smallest
// layout: the blocks it uses (data, metadata and journal) × 1.5, on the
// grain, at least 32 MiB — where repart measures the blocks mke2fs
// allocated in a trial population of a 1 TiB sparse file.
func (b *build) minimize(ctx context.Context, p *Partition, c *content) error {
	plan, err := ext4.LayoutMin(ctx, c.root, c.opts)
	if err != nil {
		return fmt.Errorf("%s: Minimize=%s: %w", p.Def.Path, p.Def.Minimize, err)
	}
	best := plan.Stats().Blocks * ext4.BlockSize
	size := best
	if p.Def.Minimize == "guess" {
		used := plan.Stats().UsedBlocks * ext4.BlockSize
		size = max(roundGrain(used+used/2), fsMinSize(p.Def.Format), size)
	}
	// A configured minimum is filled by the file system, as repart's main
	// branch does, rather than left unused behind it.
	if p.Def.SizeMin != layout.Unset {
		size = max(size, roundGrain(p.Def.SizeMin))
	}
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
		var plan *ext4.Plan
		var err error
		if c.minimized > 0 {
			plan, err = c.plan.Relayout(ctx, int64(c.minimized))
		} else {
			o := c.opts
			o.Size = int64(p.Size)
			plan, err = ext4.Layout(ctx, c.root, o)
		}
		if errors.Is(err, ext4.ErrNoSpace) {
			if c.minimized > 0 {
				return fmt.Errorf("%s: Minimize=%s chose %s, which the content does not fit in: %w", p.Def.Path, p.Def.Minimize, FormatBytes(c.minimized), err)
			}
			need, merr := ext4.MinSize(ctx, c.root, c.opts)
			if merr != nil {
				return fmt.Errorf("%s: %w", p.Def.Path, merr)
			}
			return fmt.Errorf("%s: the content needs a file system of at least %s (%d bytes), but the partition is %s (%d bytes): raise SizeMinBytes= or set Minimize=guess", p.Def.Path, FormatBytes(uint64(need)), need, FormatBytes(p.Size), p.Size)
		}
		if err != nil {
			return fmt.Errorf("%s: Format=%s: %w", p.Def.Path, p.Def.Format, err)
		}
		c.plan = plan
	}
	return nil
}

// ext4Tree converts the content model into the ext4 writer's input.
// Hard links stay one *ext4.Inode under several names.
func ext4Tree(t *fstree.Tree) *ext4.Inode {
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
				out.Data = sourceData{in}
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

// sourceData is a regular file of the tree as the writer's Data: the runs
// come from the scan, and every copy reopens the source through
// fstree.Inode.Open, which refuses a file that changed since the scan.
type sourceData struct{ in *fstree.Inode }

func (d sourceData) Runs(size int64) ([]ext4.Run, error) {
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
	return nil
}
