package vfat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// mkfsImage runs mkfs.fat with fixed volume ID, label and time on a new
// sparse file of size bytes and returns its path.
func mkfsImage(t testing.TB, size int64, sectorSize int, typ Type, label string, extra ...string) string {
	t.Helper()
	bin := oracle.Require(t, "mkfs.fat")
	img := newImage(t, size)
	args := []string{"--invariant", "-i", fmt.Sprintf("%08x", testVolumeID), "-F", fmt.Sprint(uint8(typ)), "-S", fmt.Sprint(sectorSize)}
	if label != "" {
		args = append(args, "-n", label)
	}
	args = append(args, extra...)
	out, errOut, err := oracle.Run(t, bin, append(args, img)...)
	if err != nil {
		t.Fatalf("mkfs.fat %v: %v\n%s%s", args, err, out, errOut)
	}
	return img
}

// bpbClusters is the cluster count a boot sector describes.
func bpbClusters(b []byte) uint32 {
	le := binary.LittleEndian
	S := uint32(le.Uint16(b[11:]))
	spc := uint32(b[13])
	total := uint32(le.Uint16(b[19:]))
	if total == 0 {
		total = le.Uint32(b[32:])
	}
	fatLen := uint32(le.Uint16(b[22:]))
	if fatLen == 0 {
		fatLen = le.Uint32(b[36:])
	}
	rootSecs := (uint32(le.Uint16(b[17:]))*32 + S - 1) / S
	data := uint32(le.Uint16(b[14:])) + uint32(b[16])*fatLen + rootSecs
	return (total - data) / spc
}

// geometryCases are sizes around every boundary of mkfs.fat's geometry:
// track rounding, alignment, the FAT32 minimum, cluster-size and
// sectors-per-track switches, and sizes that are not sector multiples.
var geometryCases = []struct {
	size       int64
	sectorSize int
	want       Type
	mkfsArgs   []string // beyond -F, -S, -i, -n
}{
	{360 * kib, 512, FAT12, nil}, // floppy parameters
	{1440 * kib, 512, FAT12, nil},
	{2880 * kib, 512, FAT12, nil},
	{1 * mib, 512, FAT12, nil},
	{2*mib + 512, 512, FAT12, nil},
	{4 * mib, 512, FAT12, nil}, // 8192 sectors: not aligned
	{4*mib + 4*kib, 512, FAT12, nil},
	{8 * mib, 512, FAT12, nil}, // FAT16 would have fewer than 4087 clusters
	{9 * mib, 512, FAT16, nil},
	{16*mib + 1000, 512, FAT16, nil},
	{32 * mib, 512, FAT16, nil},
	{33 * mib, 512, FAT32, nil},
	{64 * mib, 512, FAT32, nil},
	{100*mib + 512, 512, FAT32, nil},
	{256 * mib, 512, FAT32, nil}, // 524288 sectors: 32 sectors per track
	{256*mib + 4*kib, 512, FAT32, nil},
	{260 * mib, 512, FAT32, nil}, // 512-byte clusters
	{260*mib + 4*kib, 512, FAT32, nil},
	{300 * mib, 512, FAT32, nil},
	{512 * mib, 512, FAT32, nil},
	{1024*mib + 3*kib, 512, FAT32, nil},
	{2048 * mib, 512, FAT32, nil},

	{1 * mib, 4096, FAT12, nil},
	// mkfs.fat's floppy parameters give 4 KiB-sector volumes Linux
	// refuses; the writer uses the ordinary ones there.
	{1440 * kib, 4096, FAT12, []string{"-r", "512", "-M", "0xf8", "-g", "2/16", "-s", "4"}},
	{2880 * kib, 4096, FAT12, []string{"-r", "512", "-M", "0xf8", "-g", "2/16", "-s", "4"}},
	{16 * mib, 4096, FAT12, nil},
	{32 * mib, 4096, FAT12, nil}, // 8192 sectors
	{32*mib + 4*kib, 4096, FAT12, nil},
	{64 * mib, 4096, FAT16, nil},
	{100 * mib, 4096, FAT16, nil},
	{256 * mib, 4096, FAT16, nil},
	{260 * mib, 4096, FAT32, nil},
	{300*mib + 1000, 4096, FAT32, nil},
	{512 * mib, 4096, FAT32, nil},
	{1024 * mib, 4096, FAT32, nil},
	{2048 * mib, 4096, FAT32, nil}, // 524288 sectors
	{2048*mib + 4*kib, 4096, FAT32, nil},
	{2080 * mib, 4096, FAT32, nil}, // 4 KiB clusters
	{2080*mib + 4*kib, 4096, FAT32, nil},

	// systemd-repart takes any power of two from 512 to 4096.
	{4 * mib, 1024, FAT12, nil},
	{16 * mib, 1024, FAT16, nil},
	{64 * mib, 1024, FAT16, nil},
	{100*mib + 1000, 1024, FAT32, nil},
	{512 * mib, 1024, FAT32, nil},
	{8 * mib, 2048, FAT12, nil},
	{32 * mib, 2048, FAT16, nil},
	{128 * mib, 2048, FAT16, nil},
	{200 * mib, 2048, FAT32, nil},
	{1024*mib + 4*kib, 2048, FAT32, nil},
}

// sectorSizes are the logical sector sizes the writer takes.
var sectorSizes = []int{512, 1024, 2048, 4096}

// TestGeometryMatchesMkfs lays out an empty tree and compares the whole
// image with what mkfs.fat writes for the same size, sector size, FAT
// type, volume ID, label and label time: boot sector and its backup,
// FSInfo and its backup, both FATs and the root directory.
func TestGeometryMatchesMkfs(t *testing.T) {
	for _, c := range geometryCases {
		t.Run(fmt.Sprintf("%d-%d", c.size, c.sectorSize), func(t *testing.T) {
			opts := testOptions(c.size, c.sectorSize)
			opts.Time = mkfsInvariantTime
			ours, p := writeImage(t, &Inode{Kind: Dir}, opts)
			if got := p.Stats().Type; got != c.want {
				t.Fatalf("type %v, want %v", got, c.want)
			}
			ref := mkfsImage(t, c.size, c.sectorSize, c.want, opts.Label, c.mkfsArgs...)
			g := p.geo
			// Everything mkfs.fat writes lies before the end of the root
			// directory (the first cluster on FAT32).
			n := int64(g.dataStart()) * int64(g.sectorSize)
			if g.typ == FAT32 {
				n += g.clusterBytes()
			}
			n4k := (n + 4095) &^ 4095 // holes are found in 4 KiB blocks
			if e := dataEnd(t, ref); e > n4k {
				t.Fatalf("mkfs.fat wrote up to %d, beyond %d", e, n)
			}
			if e := dataEnd(t, ours); e > n4k {
				t.Fatalf("we wrote up to %d, beyond %d", e, n)
			}
			a, b := readRange(t, ours, 0, n), readRange(t, ref, 0, n)
			if !bytes.Equal(a, b) {
				for i := range a {
					if a[i] != b[i] {
						t.Fatalf("first difference at byte %d (sector %d, +%d): ours %#02x, mkfs.fat %#02x\nours %x\nmkfs %x",
							i, i/int(g.sectorSize), i%int(g.sectorSize), a[i], b[i], a[i&^63:min(len(a), i&^63+64)], b[i&^63:min(len(b), i&^63+64)])
					}
				}
			}
			fsckClean(t, ours)
		})
	}
}

// TestFAT32Minimum checks MinFAT32Size against mkfs.fat -F 32 itself: at
// that size mkfs.fat makes at least 65525 clusters, 4 KiB less it makes
// fewer (and warns).
func TestFAT32Minimum(t *testing.T) {
	for _, S := range sectorSizes {
		m := MinFAT32Size(S)
		t.Logf("%d-byte sectors: FAT32 from %d bytes", S, m)
		for _, size := range []int64{m - 4096, m} {
			ref := mkfsImage(t, size, S, FAT32, "")
			n := bpbClusters(readRange(t, ref, 0, 512))
			if (n >= minClusters32) != (size == m) {
				t.Errorf("%d-byte sectors, %d bytes: mkfs.fat -F 32 makes %d clusters", S, size, n)
			}
			opts := testOptions(size, S)
			p, err := Layout(t.Context(), &Inode{Kind: Dir}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if (p.Stats().Type == FAT32) != (size == m) || (len(p.Warnings()) == 0) != (size == m) {
				t.Errorf("%d-byte sectors, %d bytes: %v, warnings %q", S, size, p.Stats().Type, p.Warnings())
			}
		}
	}
}

// TestGeometryRandomSizes compares boot sector and FSInfo with mkfs.fat's
// for random sizes between 1 MiB and 3 GiB, not only the chosen
// boundaries.
func TestGeometryRandomSizes(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := range 40 {
		S := sectorSizes[i%len(sectorSizes)]
		size := 1*mib + r.Int64N(3<<30)
		if i%3 == 0 {
			size &^= 4095
		}
		opts := testOptions(size, S)
		opts.Time = mkfsInvariantTime
		p, err := Layout(t.Context(), &Inode{Kind: Dir}, opts)
		if err != nil {
			t.Fatalf("%d bytes, %d-byte sectors: %v", size, S, err)
		}
		if floppy := size/1024 == 360 || size/1024 == 720 || size/1024 == 1200 || size/1024 == 1440 || size/1024 == 2880; floppy && S != 512 {
			continue
		}
		ref := mkfsImage(t, size, S, p.Stats().Type, opts.Label)
		sectors := int64(1)
		if p.Stats().Type == FAT32 {
			sectors = 2 // and FSInfo
		}
		got := make([]byte, sectors*int64(S))
		copy(got, p.bootSector())
		if sectors == 2 {
			copy(got[S:], p.fsInfo())
		}
		if want := readRange(t, ref, 0, sectors*int64(S)); !bytes.Equal(got, want) {
			t.Errorf("%d bytes, %d-byte sectors, %v: boot sector or FSInfo differs from mkfs.fat's\nours %x\nmkfs %x", size, S, p.Stats().Type, got[:64], want[:64])
		}
	}
}
