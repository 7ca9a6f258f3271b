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

// CopyRange copies size bytes of src starting at off into dst at dstOff,
// skipping holes so that the destination stays sparse. Data runs are found
// with SEEK_DATA/SEEK_HOLE and moved with copy_file_range, which would
// otherwise fill holes with allocated zeros. It stops early when ctx is
// cancelled.
func CopyRange(ctx context.Context, dst *os.File, dstOff int64, src *os.File, off, size int64) error {
	end := off + size
	pos := off
	for pos < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := unix.Seek(int(src.Fd()), pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole remains
		}
		if err != nil {
			return copyPlain(dst, dstOff+(pos-off), src, pos, end-pos)
		}
		if data >= end {
			return nil
		}
		hole, err := unix.Seek(int(src.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("finding end of data in %s: %w", src.Name(), err)
		}
		// Bounded chunks keep cancellation prompt on large files.
		hole = min(hole, end, data+chunk)
		if err := copyData(dst, dstOff+(data-off), src, data, hole-data); err != nil {
			return err
		}
		pos = hole
	}
	return nil
}

const chunk = 64 << 20

func copyData(dst *os.File, dstOff int64, src *os.File, off, n int64) error {
	for n > 0 {
		roff, woff := off, dstOff
		c, err := unix.CopyFileRange(int(src.Fd()), &roff, int(dst.Fd()), &woff, int(min(n, 1<<30)), 0)
		if err != nil || c == 0 {
			if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) || c == 0 {
				return copyPlain(dst, dstOff, src, off, n)
			}
			return fmt.Errorf("copying %s: %w", src.Name(), err)
		}
		off += int64(c)
		dstOff += int64(c)
		n -= int64(c)
	}
	return nil
}

// copyPlain copies with read and pwrite, skipping all-zero blocks.
func copyPlain(dst io.WriterAt, dstOff int64, src io.ReaderAt, off, n int64) error {
	buf := make([]byte, 1<<20)
	for n > 0 {
		chunk := buf[:min(int64(len(buf)), n)]
		r, err := src.ReadAt(chunk, off)
		if r > 0 {
			if err := writeNonZero(dst, chunk[:r], dstOff); err != nil {
				return err
			}
		}
		if err == io.EOF && int64(r) < int64(len(chunk)) {
			return fmt.Errorf("source ended %d bytes early", n-int64(r))
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("reading source: %w", err)
		}
		off += int64(r)
		dstOff += int64(r)
		n -= int64(r)
	}
	return nil
}

func writeNonZero(dst io.WriterAt, p []byte, off int64) error {
	const block = 4096
	for i := 0; i < len(p); {
		j := min(i+block, len(p))
		if !allZero(p[i:j]) {
			// Extend the run over following non-zero blocks: one write per run.
			for j < len(p) && !allZero(p[j:min(j+block, len(p))]) {
				j = min(j+block, len(p))
			}
			if _, err := dst.WriteAt(p[i:j], off+int64(i)); err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
