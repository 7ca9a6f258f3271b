// Package memdisk provides in-memory disks (io.ReaderAt and io.WriterAt)
// for tests and benchmarks of the on-disk writers: a fixed-size one and a
// sparse one for disks far larger than memory.
package memdisk

import (
	"bytes"
	"errors"
	"io"
	"slices"
)

// Disk is a fixed-size in-memory disk.
type Disk []byte

func (m Disk) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(m)) || int64(len(p)) > int64(len(m))-off {
		return 0, errors.New("Disk: write out of range")
	}
	return copy(m[off:], p), nil
}

func (m Disk) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(m).ReadAt(p, off)
}

// Sparse is a large disk kept as a map of written 512-byte blocks.
type Sparse struct {
	size   int64
	blocks map[int64]*[512]byte
}

func NewSparse(size int64) *Sparse {
	return &Sparse{size: size, blocks: map[int64]*[512]byte{}}
}

func (s *Sparse) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off > s.size || int64(len(p)) > s.size-off {
		return 0, errors.New("Sparse: write out of range")
	}
	for n := 0; n < len(p); {
		pos := off + int64(n)
		b := s.blocks[pos/512]
		if b == nil {
			b = new([512]byte)
			s.blocks[pos/512] = b
		}
		n += copy(b[pos%512:], p[n:])
	}
	return len(p), nil
}

func (s *Sparse) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("Sparse: negative offset")
	}
	n := 0
	for n < len(p) && off+int64(n) < s.size {
		pos := off + int64(n)
		var c int
		if b := s.blocks[pos/512]; b != nil {
			c = copy(p[n:], b[pos%512:])
		} else {
			c = copy(p[n:], make([]byte, 512-pos%512))
		}
		n += c
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Blocks returns the indices of the 512-byte blocks that were written, in
// order; nonZero limits them to blocks holding a non-zero byte.
func (s *Sparse) Blocks(nonZero bool) []int64 {
	var out []int64
	for i, b := range s.blocks {
		if !nonZero || *b != ([512]byte{}) {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// Size is the size of the disk in bytes.
func (s *Sparse) Size() int64 { return s.size }
