// Package compress compresses a finished image file (or a region of one)
// the way NixOS image.repart does after systemd-repart, with zstd,
// seekable zstd or xz, but deterministically and in parallel: the output
// is a pure function of the input bytes, the format and the level. The
// number of threads only changes how fast it is produced.
//
// The input is cut into chunks of a fixed size that depends only on the
// format (and for xz the level). Each chunk is compressed independently
// and the results are written in order: a sequence of zstd frames, or the
// blocks of one .xz stream with its index. Holes in the input, found with
// SEEK_DATA/SEEK_HOLE, are not read from disk.
package compress

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
)

// Format selects the compressed container.
type Format int

const (
	// Zstd writes a sequence of independent zstd frames of ZstdChunkSize
	// input bytes each; zstd -d concatenates them.
	Zstd Format = iota
	// ZstdSeekable writes frames of SeekableFrameSize input bytes followed
	// by the seek table of the zstd seekable format (as zeekstd
	// --frame-size 2M does for image.repart).
	ZstdSeekable
	// XZ writes one .xz stream of independent LZMA2 blocks with sizes in
	// the block headers, so multi-threaded decoders can split it.
	XZ
)

// ParseFormat accepts the names of NixOS image.repart.compression.algorithm.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "zstd":
		return Zstd, nil
	case "zstd-seekable":
		return ZstdSeekable, nil
	case "xz":
		return XZ, nil
	}
	return 0, fmt.Errorf("unknown compression algorithm %q (want zstd, zstd-seekable or xz)", s)
}

func (f Format) String() string {
	switch f {
	case Zstd:
		return "zstd"
	case ZstdSeekable:
		return "zstd-seekable"
	case XZ:
		return "xz"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Suffix is the file name suffix image.repart appends: ".zst" or ".xz".
func (f Format) Suffix() string {
	if f == XZ {
		return ".xz"
	}
	return ".zst"
}

// DefaultLevel is image.repart's compression.level default, for all formats.
const DefaultLevel = 3

// Options control the compression.
type Options struct {
	Format Format
	// Level is the zstd level (1-22, mapped onto klauspost's four
	// encoder speeds) or the xz preset (1-9; xz -0 is not reachable,
	// since 0 means DefaultLevel as it does for zstd).
	Level int
	// Threads is the number of chunks compressed at once; 0 means
	// GOMAXPROCS. It does not change the output.
	Threads int
}

// Validate checks the level against the format's range (0 is the
// default): zstd 1-22, xz 1-9.
func (o Options) Validate() error {
	top := 22
	if o.Format == XZ {
		top = 9
	}
	if o.Level < 0 || o.Level > top {
		return fmt.Errorf("%s levels are 1 to %d", o.Format, top)
	}
	if o.Threads < 0 {
		return fmt.Errorf("negative thread count %d", o.Threads)
	}
	return nil
}

// chunkSize is the uncompressed size of each independent unit. It must
// not depend on anything but the format and level, or the output would.
func (o Options) chunkSize() int64 {
	switch o.Format {
	case ZstdSeekable:
		return SeekableFrameSize
	case XZ:
		return xzBlockSize(o.level())
	}
	return ZstdChunkSize
}

func (o Options) level() int {
	if o.Level == 0 {
		return DefaultLevel
	}
	return o.Level
}

// Compress reads size bytes of src starting at off and writes them,
// compressed as opts says, to dst.
func Compress(ctx context.Context, dst io.Writer, src *os.File, off, size int64, opts Options) error {
	return CompressSource(ctx, dst, Source{File: src, Off: off, Size: size}, opts)
}

// Source is the region of a file to compress, which may still be being
// written: the image is compressed while its later partitions are built.
type Source struct {
	File      *os.File
	Off, Size int64
	// Ready, when set, returns once the file's bytes below end (a file
	// offset) are final, or fails; no byte of a chunk is read before
	// Ready has said so for the chunk's end. Chunks are asked for in
	// increasing order, but several may wait at once.
	Ready func(ctx context.Context, end int64) error
	// Progress, when set, is called with the number of input bytes of
	// each chunk once its output is written, from one goroutine.
	Progress func(n int64)
}

// CompressSource compresses src into dst as opts says.
func CompressSource(ctx context.Context, dst io.Writer, src Source, opts Options) error {
	f, off, size := src.File, src.Off, src.Size
	if off < 0 || size < 0 {
		return fmt.Errorf("compressing %s: negative region %d+%d", f.Name(), off, size)
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	var c codec
	var err error
	switch opts.Format {
	case Zstd:
		c, err = newZstdCodec(opts.level(), false)
	case ZstdSeekable:
		c, err = newZstdCodec(opts.level(), true)
	case XZ:
		c, err = newXZCodec(opts.level())
	default:
		err = fmt.Errorf("unknown format %v", opts.Format)
	}
	if err != nil {
		return fmt.Errorf("compressing %s: %w", f.Name(), err)
	}
	return compressWith(ctx, dst, src, c, opts.chunkSize(), threads)
}

// compressWith is CompressSource with the codec and chunk size chosen.
func compressWith(ctx context.Context, dst io.Writer, src Source, c codec, chunk int64, threads int) error {
	f, off, size := src.File, src.Off, src.Size
	if fi, err := f.Stat(); err != nil {
		return fmt.Errorf("compressing %s: %w", f.Name(), err)
	} else if fi.Mode().IsRegular() && off+size > fi.Size() {
		// SEEK_DATA reports no data past the end, so this would
		// silently compress zeros.
		return fmt.Errorf("compressing %s: region %d+%d ends past the file's %d bytes", f.Name(), off, size, fi.Size())
	}
	in := &input{f: f, off: off, size: size, ready: src.Ready}
	if err := c.begin(dst); err != nil {
		return fmt.Errorf("compressing %s: writing header: %w", f.Name(), err)
	}
	err := pipeline(ctx, in, chunk, threads, c, func(r result) error {
		if err := writePieces(dst, r.data); err != nil {
			return fmt.Errorf("writing compressed data: %w", err)
		}
		c.record(r)
		if src.Progress != nil {
			src.Progress(r.n)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("compressing %s: %w", f.Name(), err)
	}
	if err := c.end(dst); err != nil {
		return fmt.Errorf("compressing %s: writing trailer: %w", f.Name(), err)
	}
	return nil
}

// codec is one output format: a header, independently encoded chunks,
// and a trailer built from what the chunks recorded.
type codec interface {
	begin(w io.Writer) error
	// newEncoder returns an encoder owned by one worker goroutine.
	newEncoder() (encoder, error)
	record(r result)
	end(w io.Writer) error
}

type encoder interface {
	// encode compresses one chunk, appending to dst[:0] (which may be
	// nil) so that buffers are reused; zero reports that p is all
	// zeros, so a cached encoding may be returned instead.
	encode(dst, p []byte, zero bool) (result, error)
	// bound is the most that encode may write for n input bytes, so
	// that a dst of this capacity is never outgrown.
	bound(n int) int
}

// result is one encoded chunk as it appears in the output.
type result struct {
	data []byte
	// shared marks data that is not the worker's to recycle (the
	// cached encoding of a zero chunk).
	shared bool
	// unpadded is the size an index records (xz: without block padding).
	unpadded int64
	// n is the uncompressed size.
	n int64
}

// zeroCache remembers the encoding of one full all-zero chunk. Because
// the encoders are deterministic, reusing it gives the same bytes as
// encoding the chunk again, only without the work.
type zeroCache struct {
	once sync.Once
	r    result
	err  error
}

func (z *zeroCache) get(size int, enc func([]byte) (result, error)) (result, error) {
	z.once.Do(func() {
		z.r, z.err = enc(make([]byte, size))
		z.r.shared = true
	})
	return z.r, z.err
}

// input is the region to compress.
type input struct {
	f         *os.File
	off, size int64
	ready     func(ctx context.Context, end int64) error
}

// read fills p with the bytes at [start, start+len(p)) of the region,
// reading only data runs, and reports whether p is all zeros. The runs
// are looked up per chunk, once the chunk is final: a file still being
// written has no useful map of holes before that. Only the holes are
// cleared, and not even those when the caller knows p to be zero
// already (clean): on a VM a pass over a chunk that misses the caches
// costs about as much as the copy out of the page cache, and an image
// is mostly data or mostly holes.
func (in *input) read(ctx context.Context, p []byte, start int64, clean bool) (zero bool, err error) {
	lo, hi := in.off+start, in.off+start+int64(len(p))
	if in.ready != nil {
		if err := in.ready(ctx, hi); err != nil {
			return false, err
		}
	}
	runs, err := imagefile.DataRunsIn(int(in.f.Fd()), lo, hi)
	if err != nil {
		return false, fmt.Errorf("%s: %w", in.f.Name(), err)
	}
	if len(runs) == 0 {
		if !clean {
			clear(p)
		}
		return true, nil
	}
	zero = true
	at := lo
	for _, r := range runs {
		clear(p[at-lo : r.Offset-lo])
		b := p[r.Offset-lo : r.Offset-lo+r.Length]
		if err := readPieces(in.f, b, r.Offset); err != nil {
			return false, fmt.Errorf("reading %s at %d: %w", in.f.Name(), r.Offset, err)
		}
		if zero && !imagefile.IsZero(b) {
			zero = false
		}
		at = r.Offset + r.Length
	}
	clear(p[at-lo:])
	return zero, nil
}

type job struct {
	start, n int64
	out      chan jobResult
}

type jobResult struct {
	r   result
	err error
}

// pipeline encodes the chunks of in on threads workers and hands the
// results to emit in input order. At most 2×threads chunks are in flight,
// which bounds memory. Output buffers go back to the workers once
// emitted: a fresh one per chunk would make the heap grow and shrink by
// the size of the output, and every page the runtime returns to the
// kernel costs a fault and a zeroing when it is taken again.
func pipeline(ctx context.Context, in *input, chunk int64, threads int, c codec, emit func(result) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var bufs buffers
	// Cancel first so that a producer or worker blocked on a channel
	// returns, then wait, so no goroutine outlives the call; only then
	// is no buffer in use.
	defer func() {
		cancel()
		wg.Wait()
		bufs.release()
	}()

	order := make(chan *job, 2*threads)
	jobs := make(chan *job)
	free := make(chan []byte, 2*threads+1)
	wg.Go(func() {
		defer close(order)
		defer close(jobs)
		for start := int64(0); start < in.size; start += chunk {
			j := &job{start: start, n: min(chunk, in.size-start), out: make(chan jobResult, 1)}
			select {
			case order <- j:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
	})
	for range min(int64(threads), max(1, (in.size+chunk-1)/chunk)) {
		enc, err := c.newEncoder()
		if err != nil {
			return err
		}
		wg.Go(func() {
			var buf []byte
			cleanLen := 0 // buf[:cleanLen] is known to be zero
			for j := range jobs {
				if err := ctx.Err(); err != nil {
					j.out <- jobResult{err: err}
					continue
				}
				if buf == nil {
					buf = bufs.get(int(chunk))
				}
				p := buf[:j.n]
				zero, err := in.read(ctx, p, j.start, len(p) <= cleanLen)
				cleanLen = 0
				if zero { // never with an error
					cleanLen = len(p)
				}
				var r result
				if err == nil {
					var dst []byte
					select {
					case dst = <-free:
					default:
						dst = bufs.get(enc.bound(int(chunk)))
					}
					r, err = enc.encode(dst, p, zero)
				}
				j.out <- jobResult{r, err}
			}
		})
	}
	for j := range order {
		var jr jobResult
		select {
		case jr = <-j.out:
		case <-ctx.Done():
			return ctx.Err()
		}
		if jr.err != nil {
			return jr.err
		}
		if err := emit(jr.r); err != nil {
			return err
		}
		if !jr.r.shared {
			select {
			case free <- jr.r.data:
			default:
			}
		}
	}
	// The producer stops early only when ctx is done; then order is
	// closed short and the output is incomplete.
	if err := ctx.Err(); err != nil {
		return err
	}
	if in.size == 0 {
		return emitEmpty(c, emit)
	}
	return nil
}

// emitEmpty lets a codec write a chunk for empty input: zstd needs one
// empty frame, or zstd -d rejects the file.
func emitEmpty(c codec, emit func(result) error) error {
	e, ok := c.(interface{ empty() (result, bool, error) })
	if !ok {
		return nil
	}
	r, has, err := e.empty()
	if err != nil || !has {
		return err
	}
	return emit(r)
}

// CompressFile compresses the whole file src into dst (usually src plus
// opts.Format.Suffix()). dst appears only when complete, replacing any
// file of that name; src is left alone, as zstd and xz --keep do.
func CompressFile(ctx context.Context, dst, src string, opts Options) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("compressing: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return fmt.Errorf("compressing: %w", err)
	}
	out, err := imagefile.Create(dst, 0, imagefile.Options{Replace: true, Mode: fi.Mode().Perm()})
	if err != nil {
		return err
	}
	if err := Compress(ctx, out.OS(), in, 0, fi.Size(), opts); err != nil {
		out.Abort()
		return err
	}
	return out.Commit()
}
