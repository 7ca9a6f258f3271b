// Package vfat writes a FAT12, FAT16 or FAT32 file system holding a given
// tree into a region of an io.WriterAt, as `mkfs.vfat -F 32 -S <sector
// size>` followed by `mcopy -s -m` would (what systemd-repart runs for
// Format=vfat), without external programs and with the same bytes on
// every run.
//
// # Geometry
//
// The boot sector is the one mkfs.fat 4.2 (dosfstools) writes for a
// regular file of Options.Size bytes: its cluster size by volume size,
// reserved sectors (32 on FAT32), two FATs, FSInfo at sector 1, backup
// boot sector and FSInfo at 6 and 7, media 0xF8, heads and sectors per
// track derived from the size, hidden sectors 0, total sectors rounded
// down to whole tracks, structures aligned to the cluster size, OEM name
// "mkfs.fat" and its "This is not a bootable disk" boot code (marked
// public domain in dosfstools). With no tree, the output is byte for byte
// what `mkfs.fat --invariant -F 32 -S n -i id -n label` writes when
// Options.Time is 2015-03-14 09:26:53 UTC (its invariant time): the same
// FAT media and end-of-chain entries (0x0FFFFFF8), the same FSInfo (the
// next-free hint is the last cluster allocated, as mkfs.fat and Linux
// use it).
//
// A FAT32 needs at least 65525 clusters (UEFI firmware refuses fewer;
// mkfs.fat -F 32 merely warns). When Options.Size is too small for that,
// the writer makes the FAT16 `mkfs.fat -F 16` would, or failing that the
// FAT12 of `mkfs.fat -F 12`, and says so in Plan.Warnings. It never
// writes a volume whose FAT type disagrees with its cluster count. The
// one other departure from mkfs.fat: its floppy parameters for files of
// 360 KiB to 2880 KiB apply only to 512-byte sectors, because with 4096
// their root directory is not a whole number of sectors, which Linux
// refuses.
//
// # Names
//
// Entries are written in byte-wise name order. Each name gets an 8.3
// short name as Linux's vfat driver makes it (fs/fat/namei_vfat.c,
// vfat_create_shortname) with shortname=winnt: a valid 8.3 name with
// each part in one case is stored as a short entry alone (lower case in
// the NT case flags, as mtools does); any other name keeps a long name
// (UTF-16, with checksummed LFN entries) and gets the basis name with
// "~1".."~9", then Linux's 2-character-plus-4-hex-digits form. Where
// Linux takes those hex digits from the clock, this writer takes them
// from a hash of the long name. Names that are valid 8.3 names claim
// their short names before any tail is generated, so a literal
// "LONGNA~1.TXT" never collides with a generated alias (Linux would fail
// to create it). Characters outside printable ASCII become '_' in short
// names (Linux would use the mount's codepage).
//
// # Layout
//
// Layout decides everything from metadata alone: directories first (root
// at cluster 2 on FAT32, then depth-first in name order), then file data
// in the same order, every chain contiguous, no cluster left free before
// the last one used. Plan.Write writes each metadata sector once, leaves
// out all-zero ones, and copies file data straight to its final offset
// with a bounded pool of workers; the metadata goes out in increasing
// order (the FATs one after the other), the copies in cluster order, and
// Plan.WriteFinal reports how much of the region is final as they
// complete. The output region must read as zeros
// beforehand (a new sparse file, as imagefile.Create makes).
//
// Times are UTC: FAT stores local time without a zone, and
// systemd-repart runs mcopy with TZ=UTC.
package vfat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"
)

// Options describe the file system to write.
type Options struct {
	// Size is the size of the region in bytes. mkfs.fat's rounding to
	// whole tracks may leave a few sectors at the end unused.
	Size int64
	// SectorSize is the logical sector size: 512, 1024, 2048 or 4096 (0
	// means 512), as systemd-repart's --sector-size= allows.
	SectorSize int
	// VolumeID is the volume serial number (systemd-repart: the first four
	// bytes of the file system UUID, read big-endian).
	VolumeID uint32
	// Label is the volume label, already in FAT form: at most 11 ASCII
	// characters, no lower-case letters, none of *?.,;:/\|+=<>[]", no
	// control characters, not starting with a space. It goes into the boot
	// sector and, unless empty, into a volume-label entry in the root
	// directory; empty means "NO NAME" and no entry, as with mkfs.fat.
	Label string
	// Time is the time of the volume-label entry (the only time not taken
	// from the tree).
	Time time.Time
	// Workers bounds the goroutines copying file data (0: GOMAXPROCS,
	// at most 16). It never changes the bytes written.
	Workers int
}

// Stats summarise a laid-out file system.
type Stats struct {
	Type            Type
	SectorSize      int
	Sectors         uint32 // in the file system, as the boot sector says
	ReservedSectors uint32
	FATSectors      uint32 // per FAT; there are two
	RootEntries     uint32 // FAT12/16: size of the fixed root directory
	ClusterSize     int    // bytes
	Clusters        uint32 // data clusters
	UsedClusters    uint32 // directories (the FAT32 root included) and file data
	Dirs, Files     int    // not counting the root
}

// ErrNoSpace is wrapped by the error Layout returns when the tree does
// not fit in Options.Size.
var ErrNoSpace = errors.New("not enough space")

// Write lays out root with opts and writes it to w at offset off.
func Write(ctx context.Context, w io.WriterAt, off int64, root *Inode, opts Options) error {
	p, err := Layout(ctx, root, opts)
	if err != nil {
		return err
	}
	return p.Write(ctx, w, off)
}

func (o *Options) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return min(runtime.GOMAXPROCS(0), 16)
}

func (o *Options) sectorSize() uint32 {
	if o.SectorSize == 0 {
		return 512
	}
	return uint32(o.SectorSize)
}

// validate checks everything but Size, which MinSize does not use.
func (o *Options) validate() error {
	switch o.SectorSize { // the FAT specification's BPB_BytsPerSec values
	case 0, 512, 1024, 2048, 4096:
	default:
		return fmt.Errorf("sector size %d is not 512, 1024, 2048 or 4096", o.SectorSize)
	}
	if o.Workers < 0 {
		return fmt.Errorf("negative worker count %d", o.Workers)
	}
	return checkLabel(o.Label)
}

// checkLabel applies mkfs.fat's label rules, plus upper case: the caller
// maps labels to FAT form (systemd-repart upper-cases them), and a
// lower-case label is shown differently by different systems.
func checkLabel(l string) error {
	if len(l) > 11 {
		return fmt.Errorf("label %q is longer than 11 characters", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c < 0x20 || c > 0x7e:
			return fmt.Errorf("label %q holds byte %#02x: only printable ASCII is allowed", l, c)
		case 'a' <= c && c <= 'z':
			return fmt.Errorf("label %q holds lower-case letters", l)
		case i == 0 && c == ' ':
			return fmt.Errorf("label %q starts with a space", l)
		}
		for j := 0; j < len(badLabelChars); j++ {
			if c == badLabelChars[j] {
				return fmt.Errorf("label %q holds %q, which FAT labels cannot", l, c)
			}
		}
	}
	return nil
}

const badLabelChars = `*?.,;:/\|+=<>[]"`

// labelName is the label as the boot sector and root entry hold it, and
// whether there is a label entry: mkfs.fat writes none for an empty
// label, or one that reads "NO NAME".
func labelName(l string) (shortName, bool) {
	var n shortName
	copy(n[:], "NO NAME    ")
	if l == "" {
		return n, false
	}
	copy(n[:], l+"           ")
	return n, n != shortName([]byte("NO NAME    "))
}
