package vfat

import "fmt"

// Type is the FAT variant: the width of a FAT entry in bits.
type Type uint8

// The FAT variants.
const (
	FAT12 Type = 12
	FAT16 Type = 16
	FAT32 Type = 32
)

func (t Type) String() string { return fmt.Sprintf("FAT%d", uint8(t)) }

// Cluster-count limits. The FAT type of a volume is decided by its
// cluster count (fatgen103); dosfstools 4.2 additionally keeps FAT16
// away from 4085 and 4086 clusters, which Windows reads as FAT12.
const (
	maxClusters12 = 4084
	minClusters16 = 4087
	maxClusters16 = 65524
	minClusters32 = 65525 // UEFI (EDK2) rejects a FAT32 with fewer
	maxClusters32 = 268435446
)

// geometry is everything the boot sector says about the layout.
type geometry struct {
	typ        Type
	sectorSize uint32
	sectors    uint32 // total sectors, as the BPB records them
	secPerClus uint32
	reserved   uint32
	fatLen     uint32 // sectors per FAT (two FATs)
	rootEnts   uint32 // FAT12/16 root directory entries (0 on FAT32)
	clusters   uint32 // data clusters, numbered 2..clusters+1
	media      byte
	spt, heads uint16
}

const numFATs = 2

func (g *geometry) rootSectors() uint32 { return cdiv(g.rootEnts*32, g.sectorSize) }

// dataStart is the first sector of cluster 2.
func (g *geometry) dataStart() uint32 { return g.reserved + numFATs*g.fatLen + g.rootSectors() }

func (g *geometry) clusterBytes() int64 { return int64(g.secPerClus) * int64(g.sectorSize) }

// clusterOffset is the byte offset of cluster c in the region.
func (g *geometry) clusterOffset(c uint32) int64 {
	return (int64(g.dataStart()) + int64(c-2)*int64(g.secPerClus)) * int64(g.sectorSize)
}

func cdiv(a, b uint32) uint32 { return (a + b - 1) / b }

// mkfsGeometry returns the geometry `mkfs.fat -F bits -S sectorSize` of
// dosfstools 4.2 chooses for a regular file of size bytes (not a block
// device: no disk geometry, no partition offset, so hidden sectors are 0
// and no MBR is faked), or ok false where mkfs.fat would refuse
// ("Attempting to create a too small or a too large filesystem", "Too few
// blocks for viable filesystem"), and except that floppy parameters apply
// only to 512-byte sectors (see below). Like `mkfs.fat -F 32`, it returns a
// FAT32 with fewer than 65525 clusters if that is all that fits: the
// caller decides what is valid. noFloppy ignores the special parameters
// mkfs.fat uses for the five floppy sizes (for MinSize's search).
//
// The arithmetic follows mkfs.fat.c (establish_params, setup_tables),
// including its estimates, so that the boot sector matches mkfs.fat's
// byte for byte; the tests check this against mkfs.fat itself.
func mkfsGeometry(size int64, sectorSize uint32, bits Type, noFloppy bool) (g geometry, ok bool) {
	S := int64(sectorSize)
	g.typ = bits
	g.sectorSize = sectorSize
	g.media = 0xf8

	// Heads and sectors per track: for a file there is no disk geometry,
	// so mkfs.fat derives CHS values from the size (the SD card
	// recommendation below 256 MiB of 512-byte sectors, LBA-assist
	// translation above).
	total := size / S
	if total <= 524288 {
		switch {
		case total <= 32768:
			g.heads = 2
		case total <= 65536:
			g.heads = 4
		case total <= 262144:
			g.heads = 8
		default:
			g.heads = 16
		}
		g.spt = 32
		if total <= 4096 {
			g.spt = 16
		}
	} else {
		switch {
		case total <= 16*63*1024:
			g.heads = 16
		case total <= 32*63*1024:
			g.heads = 32
		case total <= 64*63*1024:
			g.heads = 64
		case total <= 128*63*1024:
			g.heads = 128
		default:
			g.heads = 255
		}
		g.spt = 63
	}

	clus := int64(4) // FAT12/16 start here and double until the count fits
	rootEnts := int64(512)
	if !noFloppy && sectorSize == 512 {
		// A file is not a fixed disk, so mkfs.fat applies floppy
		// parameters when the size (in KiB, rounded down) is one of these.
		// Not with larger sectors, where mkfs.fat's 112 or 224 root
		// entries are not a whole number of sectors: Linux refuses such a
		// volume ("bogus number of directory entries") and mtools
		// misreads it.
		switch size / 1024 {
		case 360:
			g.spt, g.heads, g.media, clus, rootEnts = 9, 2, 0xfd, 2, 112
		case 720:
			g.spt, g.heads, g.media, clus, rootEnts = 9, 2, 0xf9, 2, 112
		case 1200:
			g.spt, g.heads, g.media, clus, rootEnts = 15, 2, 0xf9, 1, 224
		case 1440:
			g.spt, g.heads, g.media, clus, rootEnts = 18, 2, 0xf0, 1, 224
		case 2880:
			g.spt, g.heads, g.media, clus, rootEnts = 36, 2, 0xf0, 2, 224
		}
	}
	reserved := int64(1)
	if bits == FAT32 {
		// Cluster size as Windows' format picks it, in sectors of the
		// chosen size (so 4096-byte sectors get 4 KiB clusters up to
		// 2080 MiB, then 32 KiB).
		secs := size / S
		switch {
		case secs > 32*1024*1024*2:
			clus = 64
		case secs > 16*1024*1024*2:
			clus = 32
		case secs > 8*1024*1024*2:
			clus = 16
		case secs > 260*1024*2:
			clus = 8
		default:
			clus = 1
		}
		rootEnts = 0
		reserved = 32
	}

	// Size in sectors: whole 1 KiB blocks plus the whole sectors of a
	// last partial block, capped at 2^32−1, then rounded down to whole
	// tracks ("needed by DOS and mtools").
	blocks := size / 1024
	num := blocks*1024/S + (size%1024)/S
	if num > 0xffffffff {
		num = 0xffffffff
		blocks = 0xffffffff * S / 1024
	}
	num = num / int64(g.spt) * int64(g.spt)
	align := num > 8192 // no alignment on floppy-sized file systems
	alignTo := func(n, c int64) int64 {
		if !align {
			return n
		}
		return (n + c - 1) &^ (c - 1)
	}
	ceil := func(a, b int64) int64 { return (a + b - 1) / b }
	rootSecs := ceil(rootEnts*32, S)

	var clusters, fatLen int64
	for ; clus <= 128; clus <<= 1 {
		fatdata32 := num - alignTo(reserved, clus)
		fatdata1216 := fatdata32 - alignTo(rootSecs, clus)
		switch bits {
		case FAT12:
			c := 2 * (fatdata1216*S + numFATs*3) / (2*clus*S + numFATs*3)
			fatLen = alignTo(ceil(((c+2)*3+1)>>1, S), clus)
			clusters = (fatdata1216 - numFATs*fatLen) / clus
			if clusters > min(fatLen*2*S/3, maxClusters12) {
				clusters = 0
			}
		case FAT16:
			c := (fatdata1216*S + numFATs*4) / (clus*S + numFATs*2)
			fatLen = alignTo(ceil((c+2)*2, S), clus)
			clusters = (fatdata1216 - numFATs*fatLen) / clus
			if clusters > min(fatLen*S/2, maxClusters16) || clusters < minClusters16 {
				clusters = 0
			}
		case FAT32:
			c := (fatdata32*S + numFATs*8) / (clus*S + numFATs*4)
			fatLen = alignTo(ceil((c+2)*4, S), clus)
			clusters = (fatdata32 - numFATs*fatLen) / clus
			if clusters > min(fatLen*S/4, maxClusters32) {
				clusters = 0
			}
		}
		if clusters < 0 {
			// mkfs.fat's unsigned arithmetic wraps here and the count
			// fails its limit check.
			clusters = 0
		}
		if clusters > 0 {
			break
		}
	}
	if clusters <= 0 {
		return g, false
	}
	reserved = alignTo(reserved, clus)
	if align && bits != FAT32 {
		rootEnts = alignTo(rootSecs, clus) * (S / 32)
	}
	g.sectors = uint32(num)
	g.secPerClus = uint32(clus)
	g.reserved = uint32(reserved)
	g.fatLen = uint32(fatLen)
	g.rootEnts = uint32(rootEnts)
	g.clusters = uint32(clusters)
	// mkfs.fat refuses a data area starting less than 32 KiB before the
	// end ("Too few blocks for viable filesystem").
	startBlock := (int64(g.dataStart())*S/512 + 1) / 2
	if blocks < startBlock+32 {
		return g, false
	}
	return g, true
}

// chooseGeometry picks the FAT type for a region of size bytes: FAT32
// with mkfs.fat's -F 32 geometry when that gives at least 65525 clusters,
// else FAT16 as -F 16 would make it, else FAT12 as -F 12 would.
func chooseGeometry(size int64, sectorSize uint32, noFloppy bool) (geometry, bool) {
	for _, t := range []Type{FAT32, FAT16, FAT12} {
		if g, ok := mkfsGeometry(size, sectorSize, t, noFloppy); ok && g.valid() {
			return g, true
		}
	}
	return geometry{}, false
}

// valid checks what readers require of a volume (fatgen103, Linux's
// fat_fill_super, EDK2's FatPkg): a cluster count in the range of the
// FAT type, a FAT long enough for it, and a root directory of whole
// sectors.
func (g *geometry) valid() bool {
	var lo, hi uint32
	switch g.typ {
	case FAT12:
		lo, hi = 1, maxClusters12
	case FAT16:
		lo, hi = minClusters16, maxClusters16
	case FAT32:
		// Cluster numbers stop below 0x0FFFFFF7, the bad-cluster mark
		// (mkfs.fat's own limit is one higher).
		lo, hi = minClusters32, 0x0ffffff5
	}
	return lo <= g.clusters && g.clusters <= hi &&
		uint64(g.fatLen)*uint64(g.sectorSize)*8/uint64(g.typ) >= uint64(g.clusters)+2 &&
		g.rootEnts*32%g.sectorSize == 0 &&
		g.dataStart()+g.clusters*g.secPerClus <= g.sectors
}
