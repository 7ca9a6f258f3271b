// Package imagefile writes output files so that they appear only when
// complete: data goes to a sparse temporary file next to the target, which
// is synced and renamed over the target at the end, and removed on error.
package imagefile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// File is an output file being written.
type File struct {
	f        *os.File
	target   string
	replace  bool
	finished bool
}

// Options control how the output is created.
type Options struct {
	// Replace allows the target to exist already (it is replaced at
	// Commit); without it Commit fails if the target appeared meanwhile.
	Replace bool
	// Mode is the permission of a new file, before the umask (0666 if 0).
	Mode os.FileMode
	// Allocate reserves the blocks of the whole file instead of leaving
	// it sparse (--discard=no).
	Allocate bool
}

// Create makes a temporary file of size bytes in the directory of target.
func Create(target string, size int64, opts Options) (*File, error) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	mode := opts.Mode
	if mode == 0 {
		mode = 0o666
	}
	var f *os.File
	for tries := 0; ; tries++ {
		var r [6]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, fmt.Errorf("creating temporary file for %s: %w", target, err)
		}
		name := filepath.Join(dir, "."+base+"."+hex.EncodeToString(r[:])+".tmp")
		var err error
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || tries > 10 {
			return nil, fmt.Errorf("creating temporary file for %s: %w", target, err)
		}
	}
	out := &File{f: f, target: target, replace: opts.Replace}
	if err := f.Truncate(size); err != nil {
		out.Abort()
		return nil, fmt.Errorf("sizing %s to %d bytes: %w", target, size, err)
	}
	if opts.Allocate && size > 0 {
		if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, size); err != nil {
			out.Abort()
			return nil, fmt.Errorf("allocating %d bytes for %s: %w", size, target, err)
		}
	}
	return out, nil
}

// Discard drops n bytes at off from the temporary file, which then reads
// them as zeros: their page cache goes at once, dirty or not, without
// being written back. For a file that will be removed (a raw image only
// wanted compressed) once its reader has passed them.
func (o *File) Discard(off, n int64) error {
	if n <= 0 {
		return nil
	}
	if err := unix.Fallocate(int(o.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n); err != nil {
		return fmt.Errorf("discarding %d bytes at %d of %s: %w", n, off, o.target, err)
	}
	return nil
}

// WriteAt writes into the temporary file.
func (o *File) WriteAt(p []byte, off int64) (int, error) {
	n, err := o.f.WriteAt(p, off)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", o.target, err)
	}
	return n, err
}

// ReadAt reads back from the temporary file.
func (o *File) ReadAt(p []byte, off int64) (int, error) { return o.f.ReadAt(p, off) }

// OS returns the underlying temporary file, for copy_file_range and
// SEEK_DATA-based copies.
func (o *File) OS() *os.File { return o.f }

// Name is the path the file will have after Commit.
func (o *File) Name() string { return o.target }

// Commit syncs the data and moves the file to its target name.
func (o *File) Commit() error {
	if o.finished {
		return errors.New("imagefile: commit after commit or abort")
	}
	if err := o.f.Sync(); err != nil {
		o.Abort()
		return fmt.Errorf("syncing %s: %w", o.target, err)
	}
	tmp := o.f.Name()
	if err := o.f.Close(); err != nil {
		o.Abort()
		return fmt.Errorf("closing %s: %w", o.target, err)
	}
	var err error
	if o.replace {
		err = os.Rename(tmp, o.target)
	} else {
		err = renameNoReplace(tmp, o.target)
	}
	if err != nil {
		os.Remove(tmp)
		o.finished = true
		return fmt.Errorf("moving %s into place: %w", o.target, err)
	}
	o.finished = true
	if d, err := os.Open(filepath.Dir(o.target)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Abort removes the temporary file. It is safe to call after Commit.
func (o *File) Abort() {
	if o.finished {
		return
	}
	o.finished = true
	o.f.Close()
	os.Remove(o.f.Name())
}

func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// File systems without RENAME_NOREPLACE: link fails if the target exists.
		if err = os.Link(from, to); err == nil {
			return os.Remove(from)
		}
		return err
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// Run is a range of a file that holds data; what lies between runs are
// holes, which read as zeros and occupy no blocks.
type Run struct {
	Offset, Length int64
}

// DataRuns lists the data runs of the open file fd within [0, size), found
// with SEEK_DATA/SEEK_HOLE; adjacent runs are merged. A file system
// without these calls reports the rest of the file as one run, as the
// kernel's generic fallback does.
func DataRuns(fd int, size int64) ([]Run, error) { return DataRunsIn(fd, 0, size) }

// DataRunsIn is DataRuns for [from, size): the runs of a part of a file,
// for callers that look at one piece at a time, such as a compressor
// reading a file while it is still being written elsewhere.
func DataRunsIn(fd int, from, size int64) ([]Run, error) {
	var runs []Run
	for pos := from; pos < size; {
		data, err := unix.Seek(fd, pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
			return append(runs, Run{pos, size - pos}), nil
		}
		if err != nil {
			return nil, fmt.Errorf("seeking data: %w", err)
		}
		if data >= size {
			break
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("seeking hole: %w", err)
		}
		hole = min(hole, size)
		if n := len(runs); n > 0 && runs[n-1].Offset+runs[n-1].Length == data {
			runs[n-1].Length += hole - data
		} else {
			runs = append(runs, Run{data, hole - data})
		}
		pos = hole
	}
	return runs, nil
}

// CopyRange copies size bytes of src starting at off into dst at dstOff,
// skipping holes so that the destination stays sparse: only the data runs
// are copied, because copy_file_range would fill holes with allocated
// zeros. It stops early when ctx is cancelled.
func CopyRange(ctx context.Context, dst *os.File, dstOff int64, src *os.File, off, size int64) error {
	runs, err := DataRuns(int(src.Fd()), off+size)
	if err != nil {
		return fmt.Errorf("%s: %w", src.Name(), err)
	}
	for _, r := range runs {
		start, end := max(r.Offset, off), r.Offset+r.Length
		if end <= off {
			continue
		}
		if err := CopyData(ctx, dst, dstOff+(start-off), src, start, end-start); err != nil {
			return err
		}
	}
	return nil
}

// chunk bounds one copy call, so that cancellation stays prompt on large
// files.
const chunk = 64 << 20

// osFile returns the file behind dst, if there is one: an *os.File, or a
// writer with an OS method such as *File.
func osFile(dst io.WriterAt) *os.File {
	switch d := dst.(type) {
	case *os.File:
		return d
	case interface{ OS() *os.File }:
		return d.OS()
	}
	return nil
}

// CopyData copies n bytes of src at off to dst at dstOff: with
// copy_file_range when dst is file-backed, else (or where the kernel
// refuses it) with read and pwrite, leaving out all-zero blocks. It fails
// if src ends early, which means the file changed during the build.
func CopyData(ctx context.Context, dst io.WriterAt, dstOff int64, src *os.File, off, n int64) error {
	if out := osFile(dst); out != nil {
		for n > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			roff, woff := off, dstOff
			c, err := unix.CopyFileRange(int(src.Fd()), &roff, int(out.Fd()), &woff, int(min(n, chunk)), 0)
			if err != nil {
				if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
					break // fall back to read and pwrite
				}
				return fmt.Errorf("copying %s: %w", src.Name(), err)
			}
			if c == 0 {
				return fmt.Errorf("%s ended %d bytes early (changed during the build?)", src.Name(), n)
			}
			off += int64(c)
			dstOff += int64(c)
			n -= int64(c)
		}
	}
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		part := buf[:min(int64(len(buf)), n)]
		r, err := src.ReadAt(part, off)
		if r < len(part) {
			if err == nil || err == io.EOF {
				return fmt.Errorf("%s ended %d bytes early (changed during the build?)", src.Name(), n-int64(r))
			}
			return fmt.Errorf("reading %s: %w", src.Name(), err)
		}
		if err := WriteNonZero(dst, part, dstOff); err != nil {
			return err
		}
		off += int64(r)
		dstOff += int64(r)
		n -= int64(r)
	}
	return nil
}

// BlockSize is the granularity at which WriteNonZero leaves out zeros.
const BlockSize = 4096

// WriteNonZero writes p at off, leaving out every BlockSize-byte block
// (aligned to p's start) that is all zeros: the destination already reads
// as zeros there, and not writing keeps it sparse. Runs of non-zero blocks
// go out in one write each.
func WriteNonZero(dst io.WriterAt, p []byte, off int64) error {
	for i := 0; i < len(p); {
		j := min(i+BlockSize, len(p))
		if IsZero(p[i:j]) {
			i = j
			continue
		}
		for j < len(p) && !IsZero(p[j:min(j+BlockSize, len(p))]) {
			j = min(j+BlockSize, len(p))
		}
		if _, err := dst.WriteAt(p[i:j], off+int64(i)); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// IsZero reports whether b holds only zero bytes.
func IsZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
