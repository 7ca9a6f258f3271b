package ext4

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
	"github.com/hermetic-repart/hermetic-repart/internal/prefix"
)

// Writing goes through a pool of workers. The goroutine that walks the
// plan produces two kinds of jobs:
//   - chunks: a buffer standing for up to chunkSize bytes of the region,
//     into which it encodes metadata blocks and for which it lists the
//     small files' data to copy in. A worker copies that data, then writes
//     the buffer's non-zero blocks in as few writes as they allow. Small
//     files and their metadata are laid out next to each other, so a
//     chunk replaces hundreds of small writes.
//   - copies of large files' data, straight to their place (with
//     copy_file_range where Data can use it).
// Every block belongs to one producer of one job, so jobs never overlap
// and the bytes do not depend on which worker runs what.
//
// The producer makes its jobs in increasing order of their place in the
// region (a chunk taking blocks in increasing order too), and a tracker
// follows them as the workers finish them, in whatever order: every
// byte below the oldest unfinished job is final (see package prefix).

const (
	chunkSize = 1 << 20
	// smallData is the most data a regular file may have to be copied
	// through a chunk.
	smallData = 128 << 10
	// maxJob bounds one copy of a large file, so that cancellation
	// stays prompt.
	maxJob = 64 << 20
)

// job is a chunk (buf != nil) or a copy.
type job struct {
	buf   []byte
	base  int64 // region offset of buf[0] or, for a copy, of the data
	fills []fill

	copy fill
	id   prefix.Job
}

// fill copies n bytes of data at src to region offset dst.
type fill struct {
	data   Data
	ino    uint32
	dst    int64
	src, n int64
}

type writer struct {
	ctx    context.Context
	cancel context.CancelFunc
	p      *Plan
	w      io.WriterAt
	off    int64

	jobs  chan job
	wg    sync.WaitGroup
	track *prefix.Tracker

	free      chan chunkBuf
	allocated int
	maxBufs   int

	mu  sync.Mutex
	err error
}

func newWriter(ctx context.Context, p *Plan, w io.WriterAt, off int64, final func(int64)) *writer {
	ctx, cancel := context.WithCancel(ctx)
	n := p.opts.workers()
	wr := &writer{ctx: ctx, cancel: cancel, p: p, w: w, off: off,
		jobs: make(chan job, 256), maxBufs: 2*n + 4, track: prefix.NewTracker(final)}
	wr.free = make(chan chunkBuf, wr.maxBufs)
	for range n {
		wr.wg.Add(1)
		go wr.work()
	}
	return wr
}

func (wr *writer) fail(err error) {
	wr.mu.Lock()
	if wr.err == nil {
		wr.err = err
		wr.track.Stop()
		wr.cancel()
	}
	wr.mu.Unlock()
}

// finish waits for the jobs sent and returns the first error.
func (wr *writer) finish() error {
	close(wr.jobs)
	wr.wg.Wait()
	wr.cancel()
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return wr.err
}

func (wr *writer) send(j job) error {
	select {
	case wr.jobs <- j:
		return nil
	case <-wr.ctx.Done():
		return wr.ctx.Err()
	}
}

// chunkBuf is a chunk's buffer and the list of its fills, reused.
type chunkBuf struct {
	buf   []byte
	fills []fill
}

// buffer returns a zeroed chunk buffer, waiting for one to come back
// when as many as allowed are in use.
func (wr *writer) buffer() (chunkBuf, error) {
	select {
	case b := <-wr.free:
		return b, nil
	default:
	}
	if wr.allocated < wr.maxBufs {
		wr.allocated++
		return chunkBuf{buf: make([]byte, chunkSize)}, nil
	}
	select {
	case b := <-wr.free:
		return b, nil
	case <-wr.ctx.Done():
		return chunkBuf{}, wr.ctx.Err()
	}
}

func (wr *writer) work() {
	defer wr.wg.Done()
	for j := range wr.jobs {
		if j.buf != nil {
			if wr.ctx.Err() == nil {
				if err := wr.writeChunk(j); err != nil {
					wr.fail(err)
				} else {
					wr.track.Done(j.id)
				}
			}
			clear(j.buf)
			clear(j.fills) // let go of the Data
			wr.free <- chunkBuf{j.buf[:chunkSize], j.fills[:0]}
			continue
		}
		if wr.ctx.Err() != nil {
			continue
		}
		c := j.copy
		if err := c.data.CopyTo(wr.ctx, wr.w, wr.off+c.dst, c.src, c.n); err != nil {
			wr.fail(wr.copyError(c, err))
		} else {
			wr.track.Done(j.id)
		}
	}
}

func (wr *writer) copyError(c fill, err error) error {
	return fmt.Errorf("copying data of %s: %w", wr.p.path(c.ino), err)
}

// writeChunk copies the chunk's file data into its buffer and writes
// the buffer's non-zero blocks.
func (wr *writer) writeChunk(j job) error {
	for _, f := range j.fills {
		if b, ok := f.data.(Bytes); ok {
			if f.src < 0 || f.src+f.n > int64(len(b)) {
				return wr.copyError(f, fmt.Errorf("range %d+%d outside %d bytes of content", f.src, f.n, len(b)))
			}
			copy(j.buf[f.dst-j.base:], b[f.src:f.src+f.n])
			continue
		}
		if err := f.data.CopyTo(wr.ctx, &bufWriter{j.buf, j.base}, f.dst, f.src, f.n); err != nil {
			return wr.copyError(f, err)
		}
	}
	if err := imagefile.WriteNonZero(wr.w, j.buf, wr.off+j.base); err != nil {
		return fmt.Errorf("writing the file system: %w", err)
	}
	return nil
}

// bufWriter is the io.WriterAt a small file's Data copies into: a chunk
// buffer standing for the region from base.
type bufWriter struct {
	buf  []byte
	base int64
}

func (b *bufWriter) WriteAt(p []byte, off int64) (int, error) {
	if off < b.base || off+int64(len(p)) > b.base+int64(len(b.buf)) {
		return 0, fmt.Errorf("write of %d bytes at %d outside its chunk", len(p), off)
	}
	return copy(b.buf[off-b.base:], p), nil
}

// stream collects blocks of the region into chunks, and hands out the
// copies of large files. Its blocks must come in increasing order, as
// must the starts of its copies: it puts the metadata (meta) before each
// of them, and the tracker refuses a job that would start below one
// already begun.
type stream struct {
	wr    *writer
	meta  *metaSource
	buf   []byte // nil: no chunk yet
	base  int64
	used  int64 // bytes of buf covered
	fills []fill
	id    prefix.Job
}

// cover makes [from, to) (region byte offsets, from block-aligned, at
// most chunkSize apart) part of the current chunk, starting a new one
// when it does not fit.
func (s *stream) cover(from, to int64) error {
	if s.buf == nil || from < s.base || to > s.base+chunkSize {
		if err := s.flush(); err != nil {
			return err
		}
		b, err := s.wr.buffer()
		if err != nil {
			return err
		}
		id, err := s.wr.track.Begin(from)
		if err != nil {
			s.wr.free <- b
			return err
		}
		s.buf, s.fills, s.base, s.used, s.id = b.buf, b.fills, from, 0, id
	}
	s.used = max(s.used, to-s.base)
	return nil
}

// raw returns the bytes of block blk, zero unless set before. It is for
// the metadata; the other blocks go through block.
func (s *stream) raw(blk uint64) ([]byte, error) {
	from := int64(blk) * BlockSize
	if err := s.cover(from, from+BlockSize); err != nil {
		return nil, err
	}
	return s.buf[from-s.base:][:BlockSize], nil
}

// block returns the bytes of block blk, zero unless set before, after
// the metadata before it.
func (s *stream) block(blk uint64) ([]byte, error) {
	if err := s.meta.upTo(s, blk); err != nil {
		return nil, err
	}
	return s.raw(blk)
}

// put writes b (at most a block) at the start of block blk.
func (s *stream) put(blk uint64, b []byte) error {
	d, err := s.block(blk)
	if err == nil {
		copy(d, b)
	}
	return err
}

// fill arranges for n bytes of data at src to be copied to region
// offset dst (within one extent) when the chunk is written.
func (s *stream) fill(data Data, ino uint32, dst, src, n int64) error {
	if err := s.meta.upTo(s, uint64(dst/BlockSize)); err != nil {
		return err
	}
	if err := s.cover(dst&^(BlockSize-1), dst+n); err != nil {
		return err
	}
	s.fills = append(s.fills, fill{data: data, ino: ino, dst: dst, src: src, n: n})
	return nil
}

// copy hands a large file's copy (within one extent) to the workers.
// The chunk before it goes first: held back, it would hold back the
// final prefix while the copies are made.
func (s *stream) copy(f fill) error {
	if err := s.meta.upTo(s, uint64(f.dst/BlockSize)); err != nil {
		return err
	}
	if err := s.flush(); err != nil {
		return err
	}
	id, err := s.wr.track.Begin(f.dst)
	if err != nil {
		return err
	}
	return s.wr.send(job{copy: f, id: id})
}

func (s *stream) flush() error {
	if s.buf == nil {
		return nil
	}
	j := job{buf: s.buf[:(s.used+BlockSize-1)&^(BlockSize-1)], base: s.base, fills: s.fills, id: s.id}
	s.buf, s.fills = nil, nil
	return s.wr.send(j)
}
