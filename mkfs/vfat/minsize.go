package vfat

import (
	"context"
	"fmt"
)

// sizeStep is the granularity of the sizes MinSize and MinFAT32Size
// return: partition sizes are multiples of 4096 (systemd-repart's grain).
const sizeStep = 4096

// floppySizes are the sizes at which mkfs.fat uses floppy parameters.
var floppySizes = []int64{360 << 10, 720 << 10, 1200 << 10, 1440 << 10, 2880 << 10}

// maxRegion is the largest size that still changes the geometry: beyond
// it mkfs.fat caps the sector count at 2^32−1.
func maxRegion(sectorSize uint32) int64 {
	return 0xffffffff * int64(sectorSize) &^ (sizeStep - 1)
}

// MinSize returns the smallest multiple of 4096 bytes at which Layout
// succeeds for root with opts (opts.Size is ignored): the smallest FAT32
// that holds the tree, or, when the tree fits in a FAT16 or FAT12 smaller
// than the smallest valid FAT32 (MinFAT32Size), that smaller file system
// (Layout then reports it in Plan.Warnings). MinSizeFAT32 insists on
// FAT32.
//
// Layout at the returned size succeeds and at 4096 bytes less fails. A
// larger size fits too as long as it keeps the FAT type and cluster size
// (Stats.Type, Stats.ClusterSize) of the returned size. Across the
// boundaries where mkfs.fat's geometry changes, it may not: going from
// FAT16 to FAT32 costs FAT space, and mkfs.fat's FAT32 clusters grow from
// 512 bytes to 4 KiB above 260 MiB (512-byte sectors) and from 4 KiB to
// 32 KiB above 2080 MiB (4096-byte sectors), which costs slack in every
// file. A caller that grows the file system beyond MinSize should lay it
// out again and handle ErrNoSpace.
func MinSize(ctx context.Context, root *Inode, opts Options) (int64, error) {
	return minSize(ctx, root, opts, sizeStep)
}

// MinSizeFAT32 is MinSize for a FAT32 only: the smallest multiple of 4096
// bytes, at least MinFAT32Size, at which Layout makes a FAT32 holding the
// tree. The same caveats about larger sizes apply.
func MinSizeFAT32(ctx context.Context, root *Inode, opts Options) (int64, error) {
	return minSize(ctx, root, opts, MinFAT32Size(opts.SectorSize))
}

func minSize(ctx context.Context, root *Inode, opts Options, from int64) (int64, error) {
	t, err := prepare(ctx, root, opts)
	if err != nil {
		return 0, err
	}
	return t.minSize(opts, from)
}

// minSize is MinSize from size from on.
func (t *tree) minSize(opts Options, from int64) (int64, error) {
	S := opts.sectorSize()
	fits := func(size int64, noFloppy bool) bool {
		g, ok := chooseGeometry(size, S, noFloppy)
		return ok && t.fits(&g) == nil
	}
	best := int64(-1)
	for start := from; best < 0; {
		s, ok := searchPieces(start, maxRegion(S), S, func(size int64) bool { return fits(size, true) })
		if !ok {
			break
		}
		// The search ignores floppy parameters; a floppy size needs
		// checking with them.
		if fits(s, false) {
			best = s
		} else {
			start = s + sizeStep
		}
	}
	for _, f := range floppySizes {
		if f >= from && (best < 0 || f < best) && fits(f, false) {
			best = f
			break
		}
	}
	if best < 0 {
		n := t.needAt(512)
		return 0, fmt.Errorf("%w: the tree needs more than %d bytes", ErrNoSpace, (n.root+n.other)*512)
	}
	return best, nil
}

// MinFAT32Size returns the smallest multiple of 4096 bytes at which
// Layout makes a FAT32 (mkfs.fat's -F 32 geometry with at least 65525
// clusters) for the given sector size (0 means 512): about 32.5 MiB for
// 512-byte sectors and 257 MiB for 4096-byte sectors.
func MinFAT32Size(sectorSize int) int64 {
	S := uint32(sectorSize)
	if S == 0 {
		S = 512
	}
	is32 := func(size int64) bool {
		g, ok := chooseGeometry(size, S, true)
		return ok && g.typ == FAT32
	}
	lo, hi := int64(0), maxRegion(S) // is32(lo) false, is32(hi) true
	for hi-lo > sizeStep {
		mid := (lo + hi) / 2 &^ (sizeStep - 1)
		if is32(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// pieceKey is what the fit of a tree depends on besides the cluster
// count. Along increasing sizes, it changes only a few times and never
// returns to an earlier value: FAT12, FAT16, FAT32 in turn; cluster
// sizes only growing within a type; sectors per track 16, 32, 63; the
// alignment switched on above 8192 sectors. Within a piece the cluster
// count never decreases with the size (mkfs.fat's FAT grows by at most
// one aligned step per track added, which costs fewer clusters than the
// track adds), so whether a tree fits is monotone there.
type pieceKey struct {
	ok         bool
	typ        Type
	secPerClus uint32
	reserved   uint32
	rootEnts   uint32
	spt        uint16
	aligned    bool
}

func keyAt(size int64, S uint32) pieceKey {
	g, ok := chooseGeometry(size, S, true)
	if !ok {
		return pieceKey{}
	}
	return pieceKey{true, g.typ, g.secPerClus, g.reserved, g.rootEnts, g.spt, g.sectors > 8192}
}

// searchPieces returns the smallest size in [from, limit], a multiple of
// sizeStep, for which fits holds, searching each piece (see pieceKey) by
// bisection.
func searchPieces(from, limit int64, S uint32, fits func(int64) bool) (int64, bool) {
	for s := from; s <= limit; {
		k := keyAt(s, S)
		// The last size of this piece: double the stride while the key
		// holds, then bisect.
		lo, hi := s, s+sizeStep // keyAt(lo) == k; hi is past the piece or limit
		for hi <= limit && keyAt(hi, S) == k {
			lo, hi = hi, hi+2*(hi-s)
		}
		hi = min(hi, limit+sizeStep)
		for hi-lo > sizeStep {
			mid := lo + (hi-lo)/2&^(sizeStep-1)
			if keyAt(mid, S) == k {
				lo = mid
			} else {
				hi = mid
			}
		}
		end := lo
		if k.ok && fits(end) {
			lo, hi := s-sizeStep, end // fits(hi) true, lo below the piece
			for hi-lo > sizeStep {
				mid := lo + (hi-lo)/2&^(sizeStep-1)
				if fits(mid) {
					hi = mid
				} else {
					lo = mid
				}
			}
			return hi, true
		}
		s = end + sizeStep
	}
	return 0, false
}
