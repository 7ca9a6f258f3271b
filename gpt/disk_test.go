package gpt_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/hermetic-repart/hermetic-repart/gpt"
	"github.com/hermetic-repart/hermetic-repart/internal/memdisk"
)

// The in-memory disks are shared with the other on-disk tests.
type (
	memDisk    = memdisk.Disk
	sparseDisk = memdisk.Sparse
)

var newSparseDisk = memdisk.NewSparse

// nonZeroSectors lists the sectors (of size ss) holding a non-zero byte.
func nonZeroSectors(s *sparseDisk, ss int64) []int64 {
	var out []int64
	for _, b := range s.Blocks(true) {
		if l := b * 512 / ss; len(out) == 0 || out[len(out)-1] != l {
			out = append(out, l)
		}
	}
	return out
}

// sparseSHA256 hashes the whole disk, zeros included, reading only the
// written blocks.
func sparseSHA256(s *sparseDisk, size int64) string {
	h := sha256.New()
	zero := make([]byte, 1<<16)
	block := make([]byte, 512)
	var pos int64
	writeZeros := func(n int64) {
		for n > 0 {
			c := min(n, int64(len(zero)))
			h.Write(zero[:c])
			n -= c
		}
	}
	for _, k := range s.Blocks(false) {
		writeZeros(k*512 - pos)
		s.ReadAt(block, k*512)
		h.Write(block)
		pos = k*512 + 512
	}
	writeZeros(size - pos)
	return hex.EncodeToString(h.Sum(nil))
}

func sector(s *sparseDisk, lba uint64, ss int) []byte {
	b := make([]byte, ss)
	s.ReadAt(b, int64(lba)*int64(ss))
	return b
}

var (
	espType     = uuid.MustParse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
	rootX86_64  = uuid.MustParse("4f68bce3-e8cd-4db1-96e7-fbcaf984b709")
	homeType    = uuid.MustParse("933ac7e1-2eb4-4f13-b844-0e14e2aef915")
	swapType    = uuid.MustParse("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f")
	genericType = uuid.MustParse("0fc63daf-8483-4772-8e79-3d69d8477de4")
	testGUID    = uuid.MustParse("ef7f7ee2-47b3-4251-b1a1-09ea8bf12d5d")
)

func TestValidSectorSize(t *testing.T) {
	for ss, want := range map[int]bool{0: false, 256: false, 512: true, 1024: true, 2048: true, 4096: true, 8192: false, 513: false, -512: false} {
		if got := gpt.ValidSectorSize(ss); got != want {
			t.Errorf("ValidSectorSize(%d) = %v, want %v", ss, got, want)
		}
	}
}

func TestFresh(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name        string
		size        uint64
		ss          int
		n           uint64
		first, last uint64
	}{
		{"512 small 4MiB", 4 * mib, 512, 8192, 34, 8192 - 34},
		{"4096 small 4MiB", 4 * mib, 4096, 1024, 6, 1024 - 6},
		{"512 4MiB+4096", 4*mib + 4096, 512, 8200, 2048, 8200 - 34},
		{"4096 4MiB+4096", 4*mib + 4096, 4096, 1025, 256, 1025 - 6},
		{"512 4MiB+100 is still small", 4*mib + 100, 512, 8192, 34, 8192 - 34},
		{"512 4MiB+512", 4*mib + 512, 512, 8193, 2048, 8193 - 34},
		{"512 vector A", 212881408, 512, 415784, 2048, 415750},
		{"4096 vector C", 64 * mib, 4096, 16384, 256, 16378},
		{"1024 64MiB", 64 * mib, 1024, 65536, 1024, 65536 - 18},
		{"2048 64MiB", 64 * mib, 2048, 32768, 512, 32768 - 10},
		{"512 vector D", 2117632, 512, 4136, 34, 4136 - 34},
		{"512 smallest", 69 * 512, 512, 69, 34, 35},
		{"4096 smallest", 13 * 4096, 4096, 13, 6, 7},
		{"512 unaligned size", 10*mib + 511, 512, 20480, 2048, 20480 - 34},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := gpt.Fresh(tc.size, tc.ss, testGUID)
			if err != nil {
				t.Fatal(err)
			}
			want := &gpt.Disk{SectorSize: tc.ss, Sectors: tc.n, GUID: testGUID, FirstUsableLBA: tc.first, LastUsableLBA: tc.last}
			if !reflect.DeepEqual(d, want) {
				t.Errorf("Fresh(%d, %d) = %+v, want %+v", tc.size, tc.ss, d, want)
			}
		})
	}
}

func TestFreshErrors(t *testing.T) {
	tests := []struct {
		size uint64
		ss   int
	}{
		{1 << 20, 0},
		{1 << 20, 513},
		{1 << 20, 8192},
		{1 << 20, -512},
		{0, 512},
		{68 * 512, 512},
		{12 * 4096, 4096},
		{13*4096 - 1, 4096},
	}
	for _, tc := range tests {
		if d, err := gpt.Fresh(tc.size, tc.ss, testGUID); err == nil {
			t.Errorf("Fresh(%d, %d) = %+v, want error", tc.size, tc.ss, d)
		}
	}
}

// name36 needs exactly 36 UTF-16 code units.
const name36 = "abcdefghijklmnopqrstuvwxyz0123456789"

// emoji18 is 18 characters outside the BMP: 36 UTF-16 code units.
var emoji18 = strings.Repeat("\U0001F600", 18)

func TestWriteReadRoundTrip(t *testing.T) {
	for _, ss := range []int{512, 1024, 2048, 4096} {
		for _, size := range []uint64{4 << 20, 64 << 20} {
			d, err := gpt.Fresh(size, ss, uuid.MustParse("01234567-89ab-cdef-0123-456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			f, l := d.FirstUsableLBA, d.LastUsableLBA
			d.Entries = []gpt.Entry{
				{Type: espType, UUID: uuid.MustParse("34cf7fec-8be1-486f-8bd9-614094ea5c3d"), FirstLBA: f, LastLBA: f + 7, Name: "esp"},
				{Type: rootX86_64, UUID: uuid.MustParse("ce9c76eb-a8f1-40ff-813c-11dca6c0a55b"), FirstLBA: f + 8, LastLBA: f + 8, Attributes: gpt.FlagGrowFS, Name: "Ünïcødé"},
				{}, // an unused slot in between
				{Type: homeType, UUID: uuid.Nil, FirstLBA: f + 20, LastLBA: f + 29, Attributes: gpt.FlagNoAuto | gpt.FlagReadOnly | gpt.FlagGrowFS | 1<<48, Name: name36},
				{Type: uuid.MustParse("ffffffff-ffff-ffff-ffff-ffffffffffff"), UUID: uuid.MustParse("00000000-0000-0000-0000-000000000001"), FirstLBA: f + 30, LastLBA: f + 40, Attributes: ^uint64(0), Name: emoji18},
				{Type: genericType, UUID: uuid.MustParse("11111111-2222-3333-4444-555555555555"), FirstLBA: l, LastLBA: l, Name: ""},
			}
			// The backing buffer is bigger than the disk: nothing past
			// the disk may be touched.
			img := make(memDisk, size+uint64(ss))
			if err := d.Write(img); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(img[d.Sectors*uint64(ss):], make([]byte, ss)) {
				t.Errorf("ss=%d: Write wrote past the end of the disk", ss)
			}
			got, err := gpt.Read(img, int64(size), ss)
			if err != nil {
				t.Fatalf("ss=%d size=%d: %v", ss, size, err)
			}
			if !reflect.DeepEqual(got, d) {
				t.Errorf("ss=%d size=%d: Read = %+v\nwant %+v", ss, size, got, d)
			}
		}
	}
}

func TestReadTrimsUnusedEntries(t *testing.T) {
	d, _ := gpt.Fresh(8<<20, 512, testGUID)
	d.Entries = make([]gpt.Entry, gpt.NumEntries)
	d.Entries[3] = gpt.Entry{Type: genericType, FirstLBA: 4096, LastLBA: 4100}
	// Fields of an unused slot are not written.
	d.Entries[5] = gpt.Entry{UUID: testGUID, FirstLBA: 1, LastLBA: 2, Name: "ghost", Attributes: 7}
	img := make(memDisk, 8<<20)
	if err := d.Write(img); err != nil {
		t.Fatal(err)
	}
	got, err := gpt.Read(img, int64(len(img)), 512)
	if err != nil {
		t.Fatal(err)
	}
	want := []gpt.Entry{{}, {}, {}, d.Entries[3]}
	if !reflect.DeepEqual(got.Entries, want) {
		t.Errorf("Entries = %+v, want %+v", got.Entries, want)
	}
	// An empty table reads back with no entries.
	d.Entries = nil
	img = make(memDisk, 8<<20)
	d.Write(img)
	got, err = gpt.Read(img, int64(len(img)), 512)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 0 {
		t.Errorf("empty table read back with %d entries", len(got.Entries))
	}
}

func TestWriteErrors(t *testing.T) {
	base := func() *gpt.Disk {
		d, _ := gpt.Fresh(8<<20, 512, testGUID)
		return d
	}
	tests := []struct {
		name    string
		entries []gpt.Entry
	}{
		{"129 entries", make([]gpt.Entry, gpt.NumEntries+1)},
		{"37-unit name", []gpt.Entry{{Type: genericType, FirstLBA: 2048, LastLBA: 2048, Name: name36 + "x"}}},
		{"37-unit non-BMP name", []gpt.Entry{{Type: genericType, FirstLBA: 2048, LastLBA: 2048, Name: emoji18 + "x"}}},
		{"invalid UTF-8 name", []gpt.Entry{{Type: genericType, FirstLBA: 2048, LastLBA: 2048, Name: "a\xffb"}}},
	}
	for _, tc := range tests {
		d := base()
		d.Entries = tc.entries
		img := make(memDisk, 8<<20)
		if err := d.Write(img); err == nil {
			t.Errorf("%s: Write succeeded", tc.name)
		}
		if !bytes.Equal(img, make(memDisk, len(img))) {
			t.Errorf("%s: a failed Write touched the disk", tc.name)
		}
	}
	// 128 entries are fine.
	d := base()
	d.Entries = make([]gpt.Entry, gpt.NumEntries)
	if err := d.Write(make(memDisk, 8<<20)); err != nil {
		t.Errorf("128 entries: %v", err)
	}
}

func TestEncodeName(t *testing.T) {
	tests := []struct {
		name  string
		units []uint16
		ok    bool
	}{
		{"", nil, true},
		{"esp", []uint16{'e', 's', 'p'}, true},
		{"Ünï", []uint16{0xdc, 'n', 0xef}, true},
		{"\U0001F600", []uint16{0xd83d, 0xde00}, true},
		{name36, nil, true},
		{emoji18, nil, true},
		{name36 + "x", nil, false},
		{"\xc3", nil, false},
	}
	for _, tc := range tests {
		b, err := gpt.EncodeName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("EncodeName(%q) error = %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if !tc.ok {
			continue
		}
		if len(b) != 72 {
			t.Errorf("EncodeName(%q) is %d bytes, want 72", tc.name, len(b))
		}
		if tc.units != nil {
			want := make([]byte, 72)
			for i, u := range tc.units {
				binary.LittleEndian.PutUint16(want[2*i:], u)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("EncodeName(%q) = % x, want % x", tc.name, b, want)
			}
		}
	}
}

// vectorA is the table of spec §15.2 (systemd-repart 252, 512-byte sectors).
func vectorA(t *testing.T) (*gpt.Disk, *sparseDisk) {
	t.Helper()
	const size = 212881408
	d, err := gpt.Fresh(size, 512, uuid.MustParse("EF7F7EE2-47B3-4251-B1A1-09EA8BF12D5D"))
	if err != nil {
		t.Fatal(err)
	}
	part := func(typ uuid.UUID, id string, start, sectors uint64, attrs uint64, name string) gpt.Entry {
		return gpt.Entry{Type: typ, UUID: uuid.MustParse(id), FirstLBA: start, LastLBA: start + sectors - 1, Attributes: attrs, Name: name}
	}
	d.Entries = []gpt.Entry{
		part(espType, "34cf7fec-8be1-486f-8bd9-614094ea5c3d", 2048, 131072, 0, "esp"),
		part(rootX86_64, "ce9c76eb-a8f1-40ff-813c-11dca6c0a55b", 133120, 204800, gpt.FlagGrowFS, "root-x86-64"),
		part(homeType, "a6005774-f558-4330-a8e5-d6d2c01c01d6", 337920, 40960, gpt.FlagGrowFS, "home"),
		part(homeType, "9105c380-e2a3-4b25-8c3f-b7aab4f56826", 378880, 20480, gpt.FlagGrowFS, "home-2"),
		part(swapType, "2aa78cdb-59c7-4173-af11-c7453737a5d1", 399360, 16384, 0, "swap"),
	}
	img := newSparseDisk(size)
	if err := d.Write(img); err != nil {
		t.Fatal(err)
	}
	return d, img
}

// TestVectorA checks the bytes of spec §15.2: geometry, CRCs, the
// non-zero sectors and the SHA-256 of the whole image.
func TestVectorA(t *testing.T) {
	d, img := vectorA(t)
	if d.Sectors != 415784 || d.FirstUsableLBA != 2048 || d.LastUsableLBA != 415750 {
		t.Errorf("geometry N=%d first=%d last=%d, want 415784/2048/415750", d.Sectors, d.FirstUsableLBA, d.LastUsableLBA)
	}
	primary := sector(img, 1, 512)
	backup := sector(img, 415783, 512)
	for _, c := range []struct {
		what string
		got  uint32
		want uint32
	}{
		{"primary header CRC", binary.LittleEndian.Uint32(primary[16:]), 0x1f9f3fee},
		{"backup header CRC", binary.LittleEndian.Uint32(backup[16:]), 0xc03a251d},
		{"primary entries CRC", binary.LittleEndian.Uint32(primary[88:]), 0x76dbdbd5},
		{"backup entries CRC", binary.LittleEndian.Uint32(backup[88:]), 0x76dbdbd5},
		{"PMBR size", binary.LittleEndian.Uint32(sector(img, 0, 512)[0x1be+12:]), 415783},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#08x, want %#08x", c.what, c.got, c.want)
		}
	}
	if got, want := binary.LittleEndian.Uint64(backup[72:]), uint64(415751); got != want {
		t.Errorf("backup entries LBA = %d, want %d", got, want)
	}
	want := []int64{0, 1, 2, 3, 415751, 415752, 415783}
	if got := nonZeroSectors(img, 512); !reflect.DeepEqual(got, want) {
		t.Errorf("non-zero sectors %v, want %v", got, want)
	}
	if got, want := sparseSHA256(img, img.Size()), "67bb0b37cd19f806e49565cdd844e1bbb729021d113cea2215fb68ae4fa50c3c"; got != want {
		t.Errorf("image SHA-256 %s, want %s", got, want)
	}
	back, err := gpt.Read(img, img.Size(), 512)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, d) {
		t.Errorf("Read = %+v, want %+v", back, d)
	}
}

// TestVectorC checks spec §15.4 (4096-byte sectors, seed e2a40bf9-…).
func TestVectorC(t *testing.T) {
	const size = 64 << 20
	d, err := gpt.Fresh(size, 4096, testGUID)
	if err != nil {
		t.Fatal(err)
	}
	d.Entries = []gpt.Entry{
		{Type: espType, UUID: uuid.MustParse("34cf7fec-8be1-486f-8bd9-614094ea5c3d"), FirstLBA: 256, LastLBA: 256 + 2048 - 1, Name: "esp"},
		{Type: rootX86_64, UUID: uuid.MustParse("ce9c76eb-a8f1-40ff-813c-11dca6c0a55b"), FirstLBA: 2304, LastLBA: 2304 + 14075 - 1, Attributes: gpt.FlagGrowFS, Name: "root-x86-64"},
	}
	img := newSparseDisk(size)
	if err := d.Write(img); err != nil {
		t.Fatal(err)
	}
	primary, backup := sector(img, 1, 4096), sector(img, 16383, 4096)
	if got := binary.LittleEndian.Uint32(primary[16:]); got != 0x9d518d29 {
		t.Errorf("primary header CRC %08x, want 9d518d29", got)
	}
	if got := binary.LittleEndian.Uint32(backup[16:]); got != 0x7d75234e {
		t.Errorf("backup header CRC %08x, want 7d75234e", got)
	}
	if got := binary.LittleEndian.Uint32(primary[88:]); got != 0x0a2d1299 {
		t.Errorf("entries CRC %08x, want 0a2d1299", got)
	}
	if got := binary.LittleEndian.Uint64(backup[72:]); got != 16379 {
		t.Errorf("backup entries LBA %d, want 16379", got)
	}
	if got := binary.LittleEndian.Uint32(sector(img, 0, 4096)[0x1be+12:]); got != 16383 {
		t.Errorf("PMBR size %d, want 16383", got)
	}
	if got := nonZeroSectors(img, 4096); !reflect.DeepEqual(got, []int64{0, 1, 2, 16379, 16383}) {
		t.Errorf("non-zero sectors %v", got)
	}
	if got, want := sparseSHA256(img, img.Size()), "a4b363935eaea16da781f5667aee33074aa8849f73fc7645cfcdf9774b9448be"; got != want {
		t.Errorf("image SHA-256 %s, want %s", got, want)
	}
}

// TestGUIDEncoding checks the mixed-endian GUID encoding of spec §6 in
// the entry array and in the header.
func TestGUIDEncoding(t *testing.T) {
	_, img := vectorA(t)
	entry := sector(img, 2, 512)[:128]
	wantType := []byte{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}
	if !bytes.Equal(entry[0:16], wantType) {
		t.Errorf("ESP type GUID encoded as % x, want % x", entry[0:16], wantType)
	}
	// 34cf7fec-8be1-486f-8bd9-614094ea5c3d
	wantUUID := []byte{0xec, 0x7f, 0xcf, 0x34, 0xe1, 0x8b, 0x6f, 0x48, 0x8b, 0xd9, 0x61, 0x40, 0x94, 0xea, 0x5c, 0x3d}
	if !bytes.Equal(entry[16:32], wantUUID) {
		t.Errorf("partition UUID encoded as % x, want % x", entry[16:32], wantUUID)
	}
	// ef7f7ee2-47b3-4251-b1a1-09ea8bf12d5d
	wantDisk := []byte{0xe2, 0x7e, 0x7f, 0xef, 0xb3, 0x47, 0x51, 0x42, 0xb1, 0xa1, 0x09, 0xea, 0x8b, 0xf1, 0x2d, 0x5d}
	for _, lba := range []uint64{1, 415783} {
		if h := sector(img, lba, 512); !bytes.Equal(h[56:72], wantDisk) {
			t.Errorf("disk GUID at LBA %d encoded as % x, want % x", lba, h[56:72], wantDisk)
		}
	}
	// First/last LBA, attributes and the UTF-16LE name of entry 2.
	e := sector(img, 2, 512)[128:256]
	if binary.LittleEndian.Uint64(e[32:]) != 133120 || binary.LittleEndian.Uint64(e[40:]) != 133120+204800-1 {
		t.Errorf("entry 2 LBAs % x", e[32:48])
	}
	if !bytes.Equal(e[48:56], []byte{0, 0, 0, 0, 0, 0, 0, 0x08}) {
		t.Errorf("entry 2 attributes % x, want bit 59", e[48:56])
	}
	wantName := append([]byte("r\x00o\x00o\x00t\x00-\x00x\x008\x006\x00-\x006\x004\x00"), make([]byte, 72-22)...)
	if !bytes.Equal(e[56:128], wantName) {
		t.Errorf("entry 2 name % x", e[56:128])
	}
	// Unused entries are all zero.
	rest := make([]byte, 128*128)
	img.ReadAt(rest, 2*512)
	if !bytes.Equal(rest[5*128:], make([]byte, 123*128)) {
		t.Error("unused entries are not zero")
	}
}

func TestProtectiveMBR(t *testing.T) {
	tests := []struct {
		size uint64
		ss   int
		n    uint32
	}{
		{212881408, 512, 415783},
		{64 << 20, 4096, 16383},
		{4 << 20, 4096, 1023},
		// Disks of 2 TiB and more store 0xffffffff.
		{3 << 40, 512, 0xffffffff},
		{(1<<32 + 1) * 512, 512, 0xffffffff},
		{(1 << 32) * 512, 512, 0xffffffff},
		{(1<<32 - 1) * 512, 512, 0xfffffffe},
	}
	for _, tc := range tests {
		d, err := gpt.Fresh(tc.size, tc.ss, testGUID)
		if err != nil {
			t.Fatal(err)
		}
		img := newSparseDisk(int64(tc.size))
		if err := d.Write(img); err != nil {
			t.Fatal(err)
		}
		want := make([]byte, tc.ss)
		copy(want[0x1be:], []byte{0x00, 0x00, 0x02, 0x00, 0xee, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00})
		binary.LittleEndian.PutUint32(want[0x1be+12:], tc.n)
		want[0x1fe], want[0x1ff] = 0x55, 0xaa
		if got := sector(img, 0, tc.ss); !bytes.Equal(got, want) {
			t.Errorf("size=%d ss=%d: PMBR differs:\n got % x\nwant % x", tc.size, tc.ss, got[0x1b0:0x200], want[0x1b0:0x200])
		}
	}
}

func TestHeaderFields(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		size := uint64(32 << 20)
		d, _ := gpt.Fresh(size, ss, testGUID)
		d.Entries = []gpt.Entry{{Type: genericType, UUID: testGUID, FirstLBA: d.FirstUsableLBA, LastLBA: d.LastUsableLBA, Name: "x"}}
		img := newSparseDisk(int64(size))
		if err := d.Write(img); err != nil {
			t.Fatal(err)
		}
		n := size / uint64(ss)
		e := uint64(16384 / ss)
		entries := make([]byte, 16384)
		img.ReadAt(entries, 2*int64(ss))
		entriesCRC := crc32.ChecksumIEEE(entries)
		backupEntries := make([]byte, 16384)
		img.ReadAt(backupEntries, int64(n-1-e)*int64(ss))
		if !bytes.Equal(entries, backupEntries) {
			t.Errorf("ss=%d: backup entries differ from primary", ss)
		}
		for _, h := range []struct {
			lba, alt, entries uint64
		}{{1, n - 1, 2}, {n - 1, 1, n - 1 - e}} {
			b := sector(img, h.lba, ss)
			want := make([]byte, ss)
			copy(want, "EFI PART")
			copy(want[8:], []byte{0x00, 0x00, 0x01, 0x00})
			binary.LittleEndian.PutUint32(want[12:], 92)
			binary.LittleEndian.PutUint64(want[24:], h.lba)
			binary.LittleEndian.PutUint64(want[32:], h.alt)
			binary.LittleEndian.PutUint64(want[40:], 1<<20/uint64(ss))
			binary.LittleEndian.PutUint64(want[48:], n-2-e)
			copy(want[56:], []byte{0xe2, 0x7e, 0x7f, 0xef, 0xb3, 0x47, 0x51, 0x42, 0xb1, 0xa1, 0x09, 0xea, 0x8b, 0xf1, 0x2d, 0x5d})
			binary.LittleEndian.PutUint64(want[72:], h.entries)
			binary.LittleEndian.PutUint32(want[80:], 128)
			binary.LittleEndian.PutUint32(want[84:], 128)
			binary.LittleEndian.PutUint32(want[88:], entriesCRC)
			binary.LittleEndian.PutUint32(want[16:], crc32.ChecksumIEEE(want[:92]))
			if !bytes.Equal(b, want) {
				t.Errorf("ss=%d: header at LBA %d:\n got % x\nwant % x", ss, h.lba, b[:92], want[:92])
			}
		}
	}
}

// fixHeaderCRC recomputes the header CRC of the header at lba.
func fixHeaderCRC(img memDisk, ss int, lba uint64) {
	h := img[lba*uint64(ss) : (lba+1)*uint64(ss)]
	hs := binary.LittleEndian.Uint32(h[12:])
	if hs > uint32(ss) || hs < 20 {
		hs = 92
	}
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:hs]))
}

// fixCRCs recomputes the entries CRC and then the header CRC of the
// header at lba, as a tool would that rewrites a table consistently.
func fixCRCs(img memDisk, ss int, lba uint64) {
	h := img[lba*uint64(ss) : (lba+1)*uint64(ss)]
	el := binary.LittleEndian.Uint64(h[72:])
	if el < uint64(len(img))/uint64(ss) && el*uint64(ss)+16384 <= uint64(len(img)) {
		off := el * uint64(ss)
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(img[off:off+16384]))
	}
	fixHeaderCRC(img, ss, lba)
}

func TestReadRejects(t *testing.T) {
	const size = 8 << 20
	for _, ss := range []int{512, 4096} {
		n := uint64(size / ss)
		e := uint64(16384 / ss)
		hdr := func(img memDisk, lba uint64) []byte { return img[lba*uint64(ss) : (lba+1)*uint64(ss)] }
		both := func(img memDisk, f func(h []byte)) {
			for _, lba := range []uint64{1, n - 1} {
				f(hdr(img, lba))
				fixCRCs(img, ss, lba)
			}
		}
		tests := []struct {
			name    string
			entries []gpt.Entry // nil: one valid partition
			corrupt func(img memDisk)
			want    error
		}{
			{name: "all zero", corrupt: func(img memDisk) { clear(img) }, want: gpt.ErrNoGPT},
			{name: "primary signature", corrupt: func(img memDisk) { hdr(img, 1)[0] = 'e' }, want: gpt.ErrNoGPT},
			{name: "primary header CRC", corrupt: func(img memDisk) { hdr(img, 1)[40]++ }, want: gpt.ErrCorrupt},
			{name: "primary header CRC field", corrupt: func(img memDisk) { hdr(img, 1)[16]++ }, want: gpt.ErrCorrupt},
			// The primary table is intact: the disk has a label, a damaged one.
			{name: "backup header wiped", corrupt: func(img memDisk) { clear(hdr(img, n-1)) }, want: gpt.ErrCorrupt},
			{name: "backup header CRC", corrupt: func(img memDisk) { hdr(img, n-1)[60]++ }, want: gpt.ErrCorrupt},
			{name: "primary entries CRC", corrupt: func(img memDisk) { img[2*uint64(ss)+100]++ }, want: gpt.ErrCorrupt},
			{name: "unused primary entry changed", corrupt: func(img memDisk) { img[2*uint64(ss)+16383]++ }, want: gpt.ErrCorrupt},
			{name: "backup entries CRC", corrupt: func(img memDisk) { img[(n-1-e)*uint64(ss)+40]++ }, want: gpt.ErrCorrupt},
			{name: "no MBR signature", corrupt: func(img memDisk) { img[0x1fe] = 0 }, want: gpt.ErrCorrupt},
			{name: "MBR type not EE", corrupt: func(img memDisk) { img[0x1be+4] = 0x83 }, want: gpt.ErrCorrupt},
			{name: "backup disk GUID differs", corrupt: func(img memDisk) {
				hdr(img, n-1)[56] ^= 1
				fixHeaderCRC(img, ss, n-1)
			}, want: gpt.ErrCorrupt},
			{name: "backup entries differ", corrupt: func(img memDisk) {
				img[(n-1-e)*uint64(ss)+56] = 'X' // first letter of the name
				fixCRCs(img, ss, n-1)
			}, want: gpt.ErrCorrupt},
			{name: "backup usable area differs", corrupt: func(img memDisk) {
				h := hdr(img, n-1)
				binary.LittleEndian.PutUint64(h[48:], binary.LittleEndian.Uint64(h[48:])-1)
				fixHeaderCRC(img, ss, n-1)
			}, want: gpt.ErrCorrupt},
			{name: "entry size 256", corrupt: func(img memDisk) {
				both(img, func(h []byte) { binary.LittleEndian.PutUint32(h[84:], 256) })
			}, want: gpt.ErrCorrupt},
			{name: "entry size 64", corrupt: func(img memDisk) {
				both(img, func(h []byte) { binary.LittleEndian.PutUint32(h[84:], 64) })
			}, want: gpt.ErrCorrupt},
			{name: "entry count 64", corrupt: func(img memDisk) {
				both(img, func(h []byte) { binary.LittleEndian.PutUint32(h[80:], 64) })
			}, want: gpt.ErrCorrupt},
			{name: "header size 91", corrupt: func(img memDisk) {
				binary.LittleEndian.PutUint32(hdr(img, 1)[12:], 91)
				fixHeaderCRC(img, ss, 1)
			}, want: gpt.ErrCorrupt},
			{name: "header size larger than sector", corrupt: func(img memDisk) {
				binary.LittleEndian.PutUint32(hdr(img, 1)[12:], uint32(ss)+1)
				fixHeaderCRC(img, ss, 1)
			}, want: gpt.ErrCorrupt},
			{name: "primary MyLBA wrong", corrupt: func(img memDisk) {
				binary.LittleEndian.PutUint64(hdr(img, 1)[24:], 2)
				fixHeaderCRC(img, ss, 1)
			}, want: gpt.ErrCorrupt},
			{name: "backup AlternateLBA wrong", corrupt: func(img memDisk) {
				binary.LittleEndian.PutUint64(hdr(img, n-1)[32:], 7)
				fixHeaderCRC(img, ss, n-1)
			}, want: gpt.ErrCorrupt},
			{name: "last usable beyond disk", corrupt: func(img memDisk) {
				both(img, func(h []byte) { binary.LittleEndian.PutUint64(h[48:], n) })
			}, want: gpt.ErrCorrupt},
			{name: "first usable after last usable", corrupt: func(img memDisk) {
				both(img, func(h []byte) { binary.LittleEndian.PutUint64(h[40:], n-2-e+1) })
			}, want: gpt.ErrCorrupt},
			{name: "entries inside usable area", corrupt: func(img memDisk) {
				both(img, func(h []byte) { binary.LittleEndian.PutUint64(h[72:], binary.LittleEndian.Uint64(h[40:])) })
			}, want: gpt.ErrCorrupt},
			{name: "entries past end of disk", corrupt: func(img memDisk) {
				both(img, func(h []byte) { binary.LittleEndian.PutUint64(h[72:], n-e) })
			}, want: gpt.ErrCorrupt},
			{name: "entries LBA 1", corrupt: func(img memDisk) {
				both(img, func(h []byte) { binary.LittleEndian.PutUint64(h[72:], 1) })
			}, want: gpt.ErrCorrupt},
			{name: "entries LBA overflows", corrupt: func(img memDisk) {
				both(img, func(h []byte) { binary.LittleEndian.PutUint64(h[72:], ^uint64(0)) })
			}, want: gpt.ErrCorrupt},
			{name: "partition before first usable", entries: []gpt.Entry{
				{Type: genericType, FirstLBA: 1<<20/uint64(ss) - 1, LastLBA: 1 << 20 / uint64(ss)},
			}, want: gpt.ErrCorrupt},
			{name: "partition after last usable", entries: []gpt.Entry{
				{Type: genericType, FirstLBA: n - 2 - e, LastLBA: n - 1 - e},
			}, want: gpt.ErrCorrupt},
			{name: "partition covering backup header", entries: []gpt.Entry{
				{Type: genericType, FirstLBA: 1 << 20 / uint64(ss), LastLBA: n - 1},
			}, want: gpt.ErrCorrupt},
			{name: "first LBA after last LBA", entries: []gpt.Entry{
				{Type: genericType, FirstLBA: 1<<20/uint64(ss) + 10, LastLBA: 1<<20/uint64(ss) + 9},
			}, want: gpt.ErrCorrupt},
			{name: "overlapping partitions", entries: []gpt.Entry{
				{Type: genericType, FirstLBA: 1 << 20 / uint64(ss), LastLBA: 1<<20/uint64(ss) + 10},
				{Type: genericType, FirstLBA: 1<<20/uint64(ss) + 10, LastLBA: 1<<20/uint64(ss) + 20},
			}, want: gpt.ErrCorrupt},
			{name: "contained partition, not adjacent slots", entries: []gpt.Entry{
				{Type: genericType, FirstLBA: 1 << 20 / uint64(ss), LastLBA: 1<<20/uint64(ss) + 100},
				{},
				{Type: homeType, FirstLBA: 1<<20/uint64(ss) + 200, LastLBA: 1<<20/uint64(ss) + 300},
				{Type: genericType, FirstLBA: 1<<20/uint64(ss) + 50, LastLBA: 1<<20/uint64(ss) + 60},
			}, want: gpt.ErrCorrupt},
			{name: "overlap in the last slot", entries: func() []gpt.Entry {
				es := make([]gpt.Entry, gpt.NumEntries)
				es[0] = gpt.Entry{Type: genericType, FirstLBA: 1 << 20 / uint64(ss), LastLBA: 1<<20/uint64(ss) + 1}
				es[127] = gpt.Entry{Type: genericType, FirstLBA: 1<<20/uint64(ss) + 1, LastLBA: 1<<20/uint64(ss) + 1}
				return es
			}(), want: gpt.ErrCorrupt},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				d, _ := gpt.Fresh(size, ss, testGUID)
				d.Entries = tc.entries
				if d.Entries == nil {
					d.Entries = []gpt.Entry{{Type: genericType, UUID: testGUID, FirstLBA: d.FirstUsableLBA, LastLBA: d.FirstUsableLBA + 10, Name: "data"}}
				}
				img := make(memDisk, size)
				if err := d.Write(img); tc.entries != nil && err == nil {
					t.Errorf("ss=%d: Write accepted entries that Read must refuse", ss)
				}
				if err := gpt.WriteUnchecked(d, img); err != nil {
					t.Fatal(err)
				}
				if tc.corrupt != nil {
					tc.corrupt(img)
				}
				got, err := gpt.Read(img, size, ss)
				if err == nil {
					t.Fatalf("ss=%d: Read accepted the table: %+v", ss, got)
				}
				if !errors.Is(err, tc.want) {
					t.Errorf("ss=%d: Read error %q is not %q", ss, err, tc.want)
				}
				other := gpt.ErrCorrupt
				if tc.want == gpt.ErrCorrupt {
					other = gpt.ErrNoGPT
				}
				if errors.Is(err, other) {
					t.Errorf("ss=%d: Read error %q is also %q", ss, err, other)
				}
			})
		}
	}
}

func TestReadAcceptsAdjacentPartitions(t *testing.T) {
	d, _ := gpt.Fresh(8<<20, 512, testGUID)
	f, l := d.FirstUsableLBA, d.LastUsableLBA
	d.Entries = []gpt.Entry{
		{Type: genericType, FirstLBA: f + 1, LastLBA: l},
		{Type: genericType, FirstLBA: f, LastLBA: f},
	}
	img := make(memDisk, 8<<20)
	d.Write(img)
	if _, err := gpt.Read(img, int64(len(img)), 512); err != nil {
		t.Fatal(err)
	}
}

func TestReadSmallOrInvalid(t *testing.T) {
	if _, err := gpt.Read(make(memDisk, 1024), 1024, 512); !errors.Is(err, gpt.ErrNoGPT) {
		t.Errorf("2-sector disk: %v, want ErrNoGPT", err)
	}
	if _, err := gpt.Read(make(memDisk, 0), 0, 512); !errors.Is(err, gpt.ErrNoGPT) {
		t.Errorf("empty disk: %v, want ErrNoGPT", err)
	}
	for _, ss := range []int{0, 100, 8192} {
		_, err := gpt.Read(make(memDisk, 1<<20), 1<<20, ss)
		if err == nil || errors.Is(err, gpt.ErrNoGPT) || errors.Is(err, gpt.ErrCorrupt) {
			t.Errorf("sector size %d: %v, want a plain error", ss, err)
		}
	}
	// A 512-byte-sector table read with 4096-byte sectors is not found.
	d, _ := gpt.Fresh(8<<20, 512, testGUID)
	img := make(memDisk, 8<<20)
	d.Write(img)
	if _, err := gpt.Read(img, int64(len(img)), 4096); !errors.Is(err, gpt.ErrNoGPT) {
		t.Errorf("512-byte table read with 4096-byte sectors: %v, want ErrNoGPT", err)
	}
	// A short reader fails with an error, not a panic.
	if _, err := gpt.Read(img[:4096], int64(len(img)), 512); err == nil {
		t.Error("truncated reader: Read succeeded")
	}
}

// TestReadGrownImage: an image whose file was grown after partitioning
// (truncate -s +N) still has its primary table, but the backup header is
// no longer in the last sector. That is a damaged table, not a disk
// without a label: reporting ErrNoGPT makes callers treat the disk as
// empty and write a fresh label over the existing partitions.
func TestReadGrownImage(t *testing.T) {
	d, _ := gpt.Fresh(8<<20, 512, testGUID)
	d.Entries = []gpt.Entry{{Type: genericType, UUID: testGUID, FirstLBA: 2048, LastLBA: 4095, Name: "data"}}
	img := make(memDisk, 16<<20)
	if err := d.Write(img); err != nil {
		t.Fatal(err)
	}
	_, err := gpt.Read(img, int64(len(img)), 512)
	if err == nil {
		return // reading the primary table is fine too
	}
	if errors.Is(err, gpt.ErrNoGPT) {
		t.Errorf("valid primary table, backup missing: Read error %q is ErrNoGPT; want ErrCorrupt (or the primary table)", err)
	}
}

// TestReadUsableAreaOverlapsGPT: a table whose usable area covers the
// protective MBR, a header or an entry array is corrupt; partitions placed
// there would overwrite the table itself.
func TestReadUsableAreaOverlapsGPT(t *testing.T) {
	const size = 8 << 20
	const ss = 512
	n := uint64(size / ss)
	tests := []struct {
		name                          string
		first, last                   uint64
		primaryEntries, backupEntries uint64
	}{
		// Entry arrays after the usable area, which starts at LBA 0.
		{"usable area from LBA 0", 0, 100, 101, n - 33},
		{"usable area from LBA 1", 1, 100, 101, n - 33},
		// Both entry arrays in front, usable area up to the backup header.
		{"usable area up to LBA N-1", 34, n - 1, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := gpt.Fresh(size, ss, testGUID)
			img := make(memDisk, size)
			if err := d.Write(img); err != nil {
				t.Fatal(err)
			}
			for _, h := range []struct{ lba, entries uint64 }{{1, tc.primaryEntries}, {n - 1, tc.backupEntries}} {
				b := img[h.lba*ss : (h.lba+1)*ss]
				binary.LittleEndian.PutUint64(b[40:], tc.first)
				binary.LittleEndian.PutUint64(b[48:], tc.last)
				binary.LittleEndian.PutUint64(b[72:], h.entries)
				fixCRCs(img, ss, h.lba)
			}
			got, err := gpt.Read(img, size, ss)
			if err == nil {
				t.Errorf("Read accepted usable area %d-%d with entries at %d and %d on a %d-sector disk (%+v)",
					tc.first, tc.last, tc.primaryEntries, tc.backupEntries, n, got)
			} else if !errors.Is(err, gpt.ErrCorrupt) {
				t.Errorf("Read error %q is not ErrCorrupt", err)
			}
		})
	}
}
