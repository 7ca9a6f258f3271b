package repart

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/hermetic-repart/hermetic-repart/compress"
	"github.com/hermetic-repart/hermetic-repart/gpt"
	"github.com/hermetic-repart/hermetic-repart/imagefile"
	"github.com/hermetic-repart/hermetic-repart/mkfs/swap"
	"github.com/hermetic-repart/hermetic-repart/progress"
)

// Artifact is a file the build left behind.
type Artifact struct {
	Path string
	// Size is the file's size; RawSize the uncompressed size, which
	// equals Size for a raw file.
	Size, RawSize int64
}

// write produces the image, the split files and their compressed
// forms. Everything appears at the end, together, or nothing does.
//
// The partition table goes first, then the partitions in the order of
// their offsets. The file system writers say which bytes of their
// partition are final as they go, and the rest of a partition is final
// once it is written, so the compressors follow the writers closely
// instead of waiting for the whole image.
func (b *build) write(ctx context.Context) error {
	// An existing image is replaced where it really lives: through a
	// symlink, not over it, as repart writes through it.
	target := b.o.Image
	mode := os.FileMode(0o666)
	if b.o.Empty != EmptyCreate {
		target = b.node
		if st, err := os.Stat(target); err == nil {
			mode = st.Mode().Perm()
		}
	}
	img, err := imagefile.Create(target, int64(b.size), imagefile.Options{
		Replace:  b.o.Empty != EmptyCreate,
		Mode:     mode,
		Allocate: b.o.NoDiscard,
	})
	if err != nil {
		return err
	}
	defer img.Abort()
	if b.cur == 0 {
		b.log(fmt.Sprintf("Sized '%s' to %s.", b.o.Image, FormatBytes(b.size)))
	} else if b.size > b.cur {
		b.log(fmt.Sprintf("File '%s' grown from %s to %s by truncation.", b.o.Image, FormatBytes(b.cur), FormatBytes(b.size)))
	} else if b.o.Size > 0 {
		b.log(fmt.Sprintf("File '%s' already is of requested size or larger, not growing. (%s >= %s)", b.o.Image, FormatBytes(b.cur), FormatBytes(b.o.Size)))
	}

	disk, err := b.table()
	if err != nil {
		return err
	}
	var parts []*Partition // to write, by offset
	for _, p := range b.parts {
		if p.Dropped || p.Deferred {
			continue
		}
		for len(disk.Entries) <= p.PartNo {
			disk.Entries = append(disk.Entries, gpt.Entry{})
		}
		ss := uint64(b.ss)
		disk.Entries[p.PartNo] = gpt.Entry{
			Type:       p.Type.UUID,
			UUID:       p.UUID,
			FirstLBA:   p.Offset / ss,
			LastLBA:    (p.Offset+p.Size)/ss - 1,
			Attributes: p.Flags,
			Name:       gpt.FdiskName(p.Label),
		}
		parts = append(parts, p)
	}
	slices.SortStableFunc(parts, func(x, y *Partition) int { return cmpUint(x.Offset, y.Offset) })
	if err := disk.Write(img); err != nil {
		return fmt.Errorf("%s: %w", b.o.Image, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mark := newWatermark()
	var outs outputs
	defer outs.abort()
	if b.o.Compress == nil {
		return b.writeParts(ctx, img, parts, mark, &outs)
	}
	comp := b.startCompression(ctx, cancel, img, parts, mark, &outs, mode)
	err = b.writeParts(ctx, img, parts, mark, &outs)
	if err != nil {
		mark.fail(err)
		cancel()
	}
	// However the writing ended, the compressors must be gone before
	// the files they read are removed; a compressor's failure cancels
	// the writing, and is the error to report then.
	cerr := comp.wait()
	switch {
	case err != nil && (cerr == nil || errors.Is(cerr, context.Canceled) || errors.Is(cerr, err)):
		return err
	case cerr != nil:
		return cerr
	}
	return b.commit(ctx, img, &outs)
}

// writeParts writes the partitions in order, advancing mark past each,
// and then the split files unless they are only wanted compressed.
func (b *build) writeParts(ctx context.Context, img *imagefile.File, parts []*Partition, mark *watermark, outs *outputs) error {
	if len(parts) > 0 {
		mark.advance(int64(parts[0].Offset))
	}
	for i, p := range parts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.writePartition(ctx, img, p, mark); err != nil {
			return err
		}
		next := int64(b.size)
		if i+1 < len(parts) {
			next = int64(parts[i+1].Offset)
		}
		mark.advance(next)
	}
	mark.advance(int64(b.size))

	if b.o.Compress == nil || b.o.KeepRaw {
		for _, p := range b.parts {
			if p.SplitPath == "" {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			s, err := imagefile.Create(p.SplitPath, int64(p.Size), imagefile.Options{})
			if err != nil {
				return err
			}
			outs.add(s, int64(p.Size))
			if err := imagefile.CopyRange(ctx, s.OS(), 0, img.OS(), int64(p.Offset), int64(p.Size)); err != nil {
				return fmt.Errorf("writing split file %s: %w", p.SplitPath, err)
			}
		}
	}
	if b.o.Compress == nil {
		return b.commit(ctx, img, outs)
	}
	return nil
}

// commit moves the outputs into place, the raw image too unless only
// its compressed form is wanted.
func (b *build) commit(ctx context.Context, img *imagefile.File, outs *outputs) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.o.Compress == nil || b.o.KeepRaw {
		outs.add(img, int64(b.size))
	}
	arts, err := outs.commit()
	if err != nil {
		return err
	}
	b.artifacts = arts
	return nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writePartition writes one partition's content: CopyBlocks=, a file
// system or a swap header. A file system's writer advances mark as the
// bytes of the partition become final, so that compression follows it
// within the partition.
func (b *build) writePartition(ctx context.Context, img *imagefile.File, p *Partition, mark *watermark) error {
	if f, ok := b.blocks[p]; ok {
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("%s: CopyBlocks=%s: %w", p.Def.Path, p.Def.CopyBlocks, err)
		}
		if err := imagefile.CopyRange(ctx, img.OS(), int64(p.Offset), f, 0, st.Size()); err != nil {
			return fmt.Errorf("%s: copying CopyBlocks=%s: %w", p.Def.Path, p.Def.CopyBlocks, err)
		}
	}
	if c := b.content[p]; c != nil {
		c.progress = b.o.Progress.Start(fmt.Sprintf("Writing %s (%s)", p.displayName(), p.Def.Format), progress.Bytes, c.dataBytes())
		// The writer gets the image file itself, not the section, so
		// that file data can go by copy_file_range; its plan was laid
		// out for the partition's size and stays inside it.
		err := c.plan.WriteFinal(ctx, img, int64(p.Offset), func(n int64) { mark.advance(int64(p.Offset) + n) })
		c.progress.End()
		if err != nil {
			return fmt.Errorf("%s: writing the %s file system: %w", p.Def.Path, p.Def.Format, err)
		}
	}
	if p.Def.Format == "swap" {
		region := &section{w: img, off: int64(p.Offset), size: int64(p.Size)}
		if err := swap.Write(region, swap.Header{Size: p.Size, UUID: p.FSUUID, Label: mangleLabel(p.Label, swap.MaxLabel-1)}); err != nil {
			return fmt.Errorf("%s: %w", p.Def.Path, err)
		}
	}
	return nil
}

// displayName names a partition in progress messages: its label, else
// its type.
func (p *Partition) displayName() string {
	if p.Label != "" {
		return p.Label
	}
	return p.Type.String()
}

// outputs are the files written so far, to be committed together.
type outputs struct {
	mu    sync.Mutex
	files []output
}

type output struct {
	f   *imagefile.File
	raw int64
}

func (o *outputs) add(f *imagefile.File, raw int64) {
	o.mu.Lock()
	o.files = append(o.files, output{f, raw})
	o.mu.Unlock()
}

// commit moves every file into place; if one fails, those already moved
// are removed again.
func (o *outputs) commit() ([]Artifact, error) {
	slices.SortFunc(o.files, func(x, y output) int { return strings.Compare(x.f.Name(), y.f.Name()) })
	var done []Artifact
	for _, out := range o.files {
		size := int64(0)
		if st, err := out.f.OS().Stat(); err == nil {
			size = st.Size()
		}
		if err := out.f.Commit(); err != nil {
			for _, a := range done {
				os.Remove(a.Path)
			}
			return nil, err
		}
		done = append(done, Artifact{Path: out.f.Name(), Size: size, RawSize: out.raw})
	}
	o.files = nil
	return done, nil
}

func (o *outputs) abort() {
	for _, out := range o.files {
		out.f.Abort()
	}
}

// watermark is how far from the start the image is final.
type watermark struct {
	mu      sync.Mutex
	at      int64
	err     error
	changed chan struct{} // closed and replaced at every change
}

func newWatermark() *watermark { return &watermark{changed: make(chan struct{})} }

func (w *watermark) advance(to int64) {
	w.mu.Lock()
	if to > w.at {
		w.at = to
		close(w.changed)
		w.changed = make(chan struct{})
	}
	w.mu.Unlock()
}

// fail releases the waiters with err: the bytes they wait for will never
// be final.
func (w *watermark) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
		close(w.changed)
		w.changed = make(chan struct{})
	}
	w.mu.Unlock()
}

// wait returns once the bytes below end are final.
func (w *watermark) wait(ctx context.Context, end int64) error {
	for {
		w.mu.Lock()
		at, err, ch := w.at, w.err, w.changed
		w.mu.Unlock()
		switch {
		case at >= end:
			return nil
		case err != nil:
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// compression runs the compressors: one for the image and one for the
// split files in turn, so that at most two hold chunk buffers at once.
type compression struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func (c *compression) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// wait returns the first error once every compressor has stopped.
func (c *compression) wait() error {
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// startCompression starts compressing the image and its split files as
// they become final; the first failure cancels the build. When the raw
// image is not kept, the compressors free it behind them.
func (b *build) startCompression(ctx context.Context, cancel context.CancelFunc, img *imagefile.File, parts []*Partition, mark *watermark, outs *outputs, mode os.FileMode) *compression {
	c := &compression{}
	opts := *b.o.Compress
	var splits []*Partition
	for _, p := range parts {
		if p.SplitPath != "" {
			splits = append(splits, p)
		}
	}
	// at(i) reports reader i's position to the reclaimer, if any.
	at := func(int, int64) {}
	imageReader, splitReader := 0, 1
	if !b.o.KeepRaw {
		rec := newReclaimer(func(off, n int64) error {
			if b.discarded != nil {
				b.discarded(off, n)
			}
			return img.Discard(off, n)
		})
		imageReader = rec.reader(0)
		if len(splits) > 0 {
			splitReader = rec.reader(int64(splits[0].Offset))
		}
		at = rec.advance
	}
	one := func(target string, off, size int64, reader int) error {
		out, err := imagefile.Create(target, 0, imagefile.Options{Replace: true, Mode: mode})
		if err != nil {
			return err
		}
		outs.add(out, size)
		task := b.o.Progress.Start("Compressing "+filepath.Base(target), progress.Bytes, size)
		defer task.End()
		done := off
		err = compress.CompressSource(ctx, out.OS(), compress.Source{
			File: img.OS(), Off: off, Size: size,
			Ready: mark.wait,
			Progress: func(n int64) {
				task.Add(n)
				done += n
				at(reader, done)
			},
		}, opts)
		if err != nil {
			return fmt.Errorf("compressing %s: %w", target, err)
		}
		return nil
	}
	suffix := opts.Format.Suffix()
	fail := func(err error) {
		c.fail(err)
		cancel()
	}
	c.wg.Go(func() {
		if err := one(b.node+suffix, 0, int64(b.size), imageReader); err != nil {
			fail(err)
			return
		}
		at(imageReader, math.MaxInt64)
	})
	if len(splits) > 0 {
		c.wg.Go(func() {
			for i, p := range splits {
				if err := one(p.SplitPath+suffix, int64(p.Offset), int64(p.Size), splitReader); err != nil {
					fail(err)
					return
				}
				next := int64(math.MaxInt64)
				if i+1 < len(splits) {
					next = int64(splits[i+1].Offset)
				}
				at(splitReader, next)
			}
		})
	}
	return c
}
