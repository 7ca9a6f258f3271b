// Package filedata is how the file-system writers (mkfs/ext4, mkfs/vfat)
// get the bytes of regular files: a Data source per file that reports
// where its content may be non-zero and copies pieces of it straight to
// their final place in the output. Both writers share it, so one adapter
// (repart's bridge from the content model) serves both.
package filedata

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
)

// Run is a byte range [Offset, Offset+Length) of a file's content.
type Run = imagefile.Run

// Data is the content of a regular file.
//
// A writer asks for Runs before any data moves (ext4 while it lays out
// the file system, to allocate blocks only for them; FAT, which has no
// holes, once per file before copying it): everything outside the runs
// reads as zeros. Later, possibly from several goroutines at once, it
// calls CopyTo for pieces of those runs.
type Data interface {
	// Runs returns where the content may be non-zero: byte ranges in
	// increasing order, not overlapping, within [0, size). Reporting
	// zeros inside a run is allowed (they are written, or allocated and
	// left zero).
	Runs(size int64) ([]Run, error)
	// CopyTo writes the n content bytes starting at off to dst at dstOff.
	// It must write exactly those bytes or fail; it may skip bytes that
	// are zero, since the output region reads as zeros. dst is the
	// io.WriterAt given to the writer: when it is an *os.File, or has an
	// OS() *os.File method (as imagefile.File does), implementations may
	// use copy_file_range.
	CopyTo(ctx context.Context, dst io.WriterAt, dstOff, off, n int64) error
}

// Bytes is file content held in memory. Runs reports it as one run
// (without the trailing zeros), so a Bytes file is never sparse inside.
type Bytes []byte

// Runs implements Data.
func (b Bytes) Runs(size int64) ([]Run, error) {
	n := min(int64(len(b)), size)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	if n == 0 {
		return nil, nil
	}
	return []Run{{Offset: 0, Length: n}}, nil
}

// CopyTo implements Data.
func (b Bytes) CopyTo(ctx context.Context, dst io.WriterAt, dstOff, off, n int64) error {
	if off < 0 || off+n > int64(len(b)) {
		return fmt.Errorf("range %d+%d outside %d bytes of content", off, n, len(b))
	}
	return imagefile.WriteNonZero(dst, b[off:off+n], dstOff)
}

// File is the content of a regular file on the host, read at write time.
// Runs are found with SEEK_DATA/SEEK_HOLE, so holes in the source stay
// holes; copies use copy_file_range when the destination is a file.
type File struct {
	Path string
}

// Runs implements Data.
func (f File) Runs(size int64) ([]Run, error) {
	fd, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	return imagefile.DataRuns(int(fd.Fd()), size)
}

// CopyTo implements Data.
func (f File) CopyTo(ctx context.Context, dst io.WriterAt, dstOff, off, n int64) error {
	src, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := imagefile.CopyData(ctx, dst, dstOff, src, off, n); err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	return nil
}
