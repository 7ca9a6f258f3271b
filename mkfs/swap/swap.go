// Package swap writes a Linux swap area header (version 1), as
// util-linux's mkswap writes it on a freshly wiped device.
package swap

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/google/uuid"
)

// PageSize is the page size the header is laid out for. mkswap uses the
// host's page size; repart's images are built on 4 KiB-page machines.
const PageSize = 4096

// MinPages is mkswap's smallest usable swap area.
const MinPages = 10

// MaxLabel is the capacity of the label field (including its NUL).
const MaxLabel = 16

// Header describes the swap area.
type Header struct {
	Size  uint64 // bytes of the partition
	UUID  uuid.UUID
	Label string // at most MaxLabel-1 bytes
}

// Write stores the header page at the start of w. Only the non-zero parts
// of the page are written: the area is expected to be zero already.
func Write(w io.WriterAt, h Header) error {
	pages := h.Size / PageSize
	if pages < MinPages {
		return fmt.Errorf("swap area of %d bytes is too small: mkswap needs at least %d bytes", h.Size, MinPages*PageSize)
	}
	if len(h.Label) >= MaxLabel {
		return fmt.Errorf("swap label %q is longer than %d bytes", h.Label, MaxLabel-1)
	}
	last := pages - 1
	if last > 0xffffffff {
		return fmt.Errorf("swap area of %d bytes is too large for a version 1 header", h.Size)
	}
	// Layout after the 1024 bytes of boot sector space: version, last page,
	// number of bad pages, UUID, label.
	info := make([]byte, 4+4+4+16+MaxLabel)
	binary.LittleEndian.PutUint32(info[0:4], 1)
	binary.LittleEndian.PutUint32(info[4:8], uint32(last))
	copy(info[12:28], h.UUID[:])
	copy(info[28:], h.Label)
	if _, err := w.WriteAt(info, 1024); err != nil {
		return fmt.Errorf("writing swap header: %w", err)
	}
	if _, err := w.WriteAt([]byte("SWAPSPACE2"), PageSize-10); err != nil {
		return fmt.Errorf("writing swap signature: %w", err)
	}
	return nil
}
