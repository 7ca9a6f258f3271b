package fuzz

import (
	"bytes"
	"encoding/binary"
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

// Fix-up modes of FuzzGPTRead. Random bytes almost never carry valid
// CRCs, so the fuzzer may ask for them to be recomputed (and for the
// backup table to be made a copy of the primary one) to reach the checks
// behind them.
const (
	modeRaw    = 0 // the bytes as they are
	modeCRC    = 1 // recompute entry and header CRCs of both headers
	modeMirror = 2 // copy the primary table to the backup position, then recompute CRCs
)

// fixCRCs recomputes the entries CRC and the header CRC of the header at
// lba, wherever its fields point, as far as they point into the disk.
func fixCRCs(img []byte, ss int, lba uint64) {
	n := uint64(len(img) / ss)
	if lba >= n {
		return
	}
	h := img[lba*uint64(ss) : (lba+1)*uint64(ss)]
	if el := binary.LittleEndian.Uint64(h[72:]); el < n && el*uint64(ss)+16384 <= uint64(len(img)) {
		off := el * uint64(ss)
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(img[off:off+16384]))
	}
	hs := uint64(binary.LittleEndian.Uint32(h[12:]))
	if hs < 92 || hs > uint64(ss) {
		hs = 92
	}
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:hs]))
}

// mirror makes the backup table a copy of the primary one, as libfdisk
// writes it: entries at N-1-E, header at N-1 with MyLBA and AlternateLBA
// swapped.
func mirror(img []byte, ss int) {
	n := uint64(len(img) / ss)
	e := uint64(16384 / ss)
	if n < e+4 {
		return
	}
	h := img[ss : 2*ss]
	backupEntries := n - 1 - e
	if el := binary.LittleEndian.Uint64(h[72:]); el < n && el*uint64(ss)+16384 <= uint64(len(img)) {
		copy(img[backupEntries*uint64(ss):], img[el*uint64(ss):el*uint64(ss)+16384])
	}
	b := img[(n-1)*uint64(ss) : n*uint64(ss)]
	copy(b, h)
	binary.LittleEndian.PutUint64(b[24:], n-1)
	binary.LittleEndian.PutUint64(b[32:], 1)
	binary.LittleEndian.PutUint64(b[72:], backupEntries)
}

// seedImage writes a table with Fresh and Write.
func seedImage(size uint64, ss int, entries []gpt.Entry) []byte {
	d, err := gpt.Fresh(size, ss, uuid.MustParse("ef7f7ee2-47b3-4251-b1a1-09ea8bf12d5d"))
	if err != nil {
		panic(err)
	}
	if entries == nil {
		f := d.FirstUsableLBA
		entries = []gpt.Entry{
			{Type: uuid.MustParse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b"), UUID: uuid.MustParse("34cf7fec-8be1-486f-8bd9-614094ea5c3d"), FirstLBA: f, LastLBA: f, Name: "esp"},
			{},
			{Type: uuid.MustParse("4f68bce3-e8cd-4db1-96e7-fbcaf984b709"), UUID: uuid.MustParse("ce9c76eb-a8f1-40ff-813c-11dca6c0a55b"), FirstLBA: f + 1, LastLBA: d.LastUsableLBA, Attributes: gpt.FlagGrowFS, Name: "Ünïcødé"},
		}
	}
	d.Entries = entries
	img := make(memDisk, size)
	if err := d.Write(img); err != nil {
		panic(err)
	}
	return img
}

// splitImage splits a seed image into the bytes up to the last non-zero
// sector of its first half, the bytes from the first non-zero sector of
// its second half, and the number of zero sectors in between.
func splitImage(img []byte) (head, tail []byte, zeros uint16) {
	half := len(img) / 2 &^ 511
	h := (len(bytes.TrimRight(img[:half], "\x00")) + 511) &^ 511
	t := len(img) - half
	if l := len(bytes.TrimLeft(img[half:], "\x00")); l > 0 {
		t = (l + 511) &^ 511
	} else {
		t = 0
	}
	return img[:h], img[len(img)-t:], uint16((len(img) - h - t) / 512)
}

// maxZeros bounds the zero sectors between head and tail (2 MiB).
const maxZeros = 4096

// FuzzGPTRead: Read never panics on any disk, and a table it returns
// satisfies what Read promises. The disk is head rounded up to 512 bytes,
// zeros%maxZeros zero sectors, and tail rounded up to 512 bytes and
// aligned to the end of the disk; it is read with 512- and with 4096-byte
// sectors, after the fix-up that mode selects.
func FuzzGPTRead(f *testing.F) {
	const small512 = 80 * 512 // the smallest disks Fresh accepts are 69 and 13 sectors
	const small4k = 16 * 4096
	// Seeds carry the primary table only (the tail is empty): the fix-up
	// modes rebuild the backup. Long inputs make the fuzzer spend its time
	// minimizing them.
	add := func(img []byte, mode byte) {
		head, tail, zeros := splitImage(img)
		f.Add(head, []byte{}, mode, zeros+uint16((len(tail)+511)/512))
	}
	good512 := seedImage(small512, 512, nil)
	good4k := seedImage(small4k, 4096, nil)
	for _, mode := range []byte{modeRaw, modeCRC, modeMirror} {
		add(good512, mode)
		add(good4k, mode)
	}
	generic := uuid.MustParse("0fc63daf-8483-4772-8e79-3d69d8477de4")
	// Tables Read must refuse (and Write refuses to make): overlapping,
	// outside the usable area, inverted. They start as valid tables whose
	// entry LBAs are then patched; modeMirror makes backup and CRCs agree.
	patched := func(size uint64, ss int, lbas [][2]uint64) []byte {
		first := uint64(16384/ss + 2)
		entries := make([]gpt.Entry, len(lbas))
		for i := range lbas {
			entries[i] = gpt.Entry{Type: generic, FirstLBA: first + uint64(i), LastLBA: first + uint64(i)}
		}
		img := seedImage(size, ss, entries)
		for i, l := range lbas {
			e := img[2*ss+i*gpt.EntrySize:]
			binary.LittleEndian.PutUint64(e[32:], l[0])
			binary.LittleEndian.PutUint64(e[40:], l[1])
		}
		return img
	}
	add(patched(small512, 512, [][2]uint64{{34, 40}, {40, 45}}), modeMirror)
	add(patched(small512, 512, [][2]uint64{{2, 40}}), modeMirror)
	add(patched(small4k, 4096, [][2]uint64{{7, 6}}), modeMirror)
	// Corrupted copies of a good table.
	corrupt := func(img []byte, fn func(b []byte)) []byte {
		b := bytes.Clone(img)
		fn(b)
		return b
	}
	add(corrupt(good512, func(b []byte) { b[512+16] ^= 0xff }), modeRaw)                      // header CRC
	add(corrupt(good512, func(b []byte) { b[2*512+56] = 'X' }), modeRaw)                      // entries CRC
	add(corrupt(good512, func(b []byte) { b[2*512+56] = 'X' }), modeCRC)                      // primary/backup differ
	add(corrupt(good512, func(b []byte) { b[512+84] = 0 }), modeMirror)                       // entry size
	add(corrupt(good512, func(b []byte) { clear(b[len(b)-512:]) }), modeRaw)                  // backup header wiped
	add(corrupt(good512, func(b []byte) { b[512+40] = 0 }), modeMirror)                       // first usable 0
	add(corrupt(good4k, func(b []byte) { b[4096+72] = 0xff; b[4096+79] = 0xff }), modeMirror) // entries LBA
	f.Add(good512[:1024], []byte{}, byte(modeCRC), uint16(0))
	f.Add([]byte{}, []byte{}, byte(modeRaw), uint16(0))

	f.Fuzz(func(t *testing.T, head, tail []byte, mode byte, zeros uint16) {
		size := (len(head)+511)&^511 + int(zeros%maxZeros)*512 + (len(tail)+511)&^511
		for _, ss := range []int{512, 4096} {
			img := make(memDisk, size)
			copy(img, head)
			copy(img[size-len(tail):], tail)
			switch mode % 3 {
			case modeCRC:
				fixCRCs(img, ss, 1)
				fixCRCs(img, ss, uint64(size/ss)-1)
			case modeMirror:
				mirror(img, ss)
				fixCRCs(img, ss, 1)
				fixCRCs(img, ss, uint64(size/ss)-1)
			}
			d, err := gpt.Read(img, int64(size), ss)
			if err != nil {
				if d != nil {
					t.Errorf("ss=%d: Read returned a table and an error", ss)
				}
				continue
			}
			checkDisk(t, d, int64(size), ss)
		}
	})
}

// checkDisk checks a table returned by Read.
func checkDisk(t *testing.T, d *gpt.Disk, size int64, ss int) {
	t.Helper()
	n := uint64(size) / uint64(ss)
	if d.SectorSize != ss || d.Sectors != n {
		t.Fatalf("geometry %d×%d, want %d×%d", d.Sectors, d.SectorSize, n, ss)
	}
	if len(d.Entries) > gpt.NumEntries {
		t.Fatalf("%d entries", len(d.Entries))
	}
	if d.FirstUsableLBA > d.LastUsableLBA || d.LastUsableLBA >= n {
		t.Fatalf("usable area %d-%d on a disk of %d sectors", d.FirstUsableLBA, d.LastUsableLBA, n)
	}
	// No partition may cover the protective MBR or a header.
	if d.FirstUsableLBA < 2 || d.LastUsableLBA > n-2 {
		t.Errorf("usable area %d-%d covers the MBR or a GPT header (disk of %d sectors)", d.FirstUsableLBA, d.LastUsableLBA, n)
	}
	for i, e := range d.Entries {
		if !e.Used() {
			if e != (gpt.Entry{}) {
				t.Errorf("unused entry %d is not zero: %+v", i, e)
			}
			continue
		}
		if e.FirstLBA < d.FirstUsableLBA || e.LastLBA > d.LastUsableLBA || e.FirstLBA > e.LastLBA {
			t.Errorf("entry %d (%d-%d) outside usable area %d-%d", i, e.FirstLBA, e.LastLBA, d.FirstUsableLBA, d.LastUsableLBA)
		}
		for j := i + 1; j < len(d.Entries); j++ {
			o := d.Entries[j]
			if o.Used() && e.FirstLBA <= o.LastLBA && o.FirstLBA <= e.LastLBA {
				t.Errorf("entries %d (%d-%d) and %d (%d-%d) overlap", i, e.FirstLBA, e.LastLBA, j, o.FirstLBA, o.LastLBA)
			}
		}
	}
	if len(d.Entries) > 0 && !d.Entries[len(d.Entries)-1].Used() {
		t.Errorf("trailing unused entry in %d entries", len(d.Entries))
	}
	// Tables with libfdisk's layout of the entry arrays (the only one
	// Write produces) survive being written again.
	e := uint64(16384 / ss)
	if d.FirstUsableLBA >= 2+e && d.LastUsableLBA <= n-2-e {
		names := true
		for _, x := range d.Entries {
			if _, err := gpt.EncodeName(x.Name); err != nil {
				names = false // names read from disk may be longer in UTF-8
			}
		}
		if !names {
			return
		}
		img := newSparseDisk(size)
		if err := d.Write(img); err != nil {
			t.Fatalf("Write of a table Read returned: %v", err)
		}
		back, err := gpt.Read(img, size, ss)
		if err != nil {
			t.Fatalf("Read after Write of a table Read returned: %v", err)
		}
		if !reflect.DeepEqual(back, d) {
			t.Errorf("Read(Write(d)) = %+v\nwant %+v", back, d)
		}
	}
}

var knownTypes = []uuid.UUID{
	uuid.MustParse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b"), // esp
	uuid.MustParse("4f68bce3-e8cd-4db1-96e7-fbcaf984b709"), // root-x86-64
	uuid.MustParse("933ac7e1-2eb4-4f13-b844-0e14e2aef915"), // home
	uuid.MustParse("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"), // swap
	uuid.MustParse("0fc63daf-8483-4772-8e79-3d69d8477de4"), // linux-generic
}

// recordSize is the length of one partition record in FuzzGPTRoundTrip's
// spec: skipped slots (1), gap (2), length (4), attributes (8), UUID (16),
// type selector (1).
const recordSize = 32

// FuzzGPTRoundTrip builds a valid table from fuzzed fields, writes it and
// reads it back: Read must return exactly what was written.
func FuzzGPTRoundTrip(f *testing.F) {
	rec := func(skip byte, gap uint16, length uint32, attrs uint64, id string, typ byte) []byte {
		b := make([]byte, recordSize)
		b[0] = skip
		binary.LittleEndian.PutUint16(b[1:], gap)
		binary.LittleEndian.PutUint32(b[3:], length)
		binary.LittleEndian.PutUint64(b[7:], attrs)
		u := uuid.MustParse(id)
		copy(b[15:31], u[:])
		b[31] = typ
		return b
	}
	diskGUID := uuid.MustParse("ef7f7ee2-47b3-4251-b1a1-09ea8bf12d5d")
	// Vector A of the spec (§15.2).
	vecA := bytes.Join([][]byte{
		rec(0, 0, 131072-1, 0, "34cf7fec-8be1-486f-8bd9-614094ea5c3d", 0),
		rec(0, 0, 204800-1, gpt.FlagGrowFS, "ce9c76eb-a8f1-40ff-813c-11dca6c0a55b", 1),
		rec(0, 0, 40960-1, gpt.FlagGrowFS, "a6005774-f558-4330-a8e5-d6d2c01c01d6", 2),
		rec(0, 0, 20480-1, gpt.FlagGrowFS, "9105c380-e2a3-4b25-8c3f-b7aab4f56826", 2),
		rec(0, 0, 16384-1, 0, "2aa78cdb-59c7-4173-af11-c7453737a5d1", 3),
	}, nil)
	f.Add(uint64(212881408), uint8(0), diskGUID[:], vecA, "esp\x1froot-x86-64\x1fhome\x1fhome-2\x1fswap")
	f.Add(uint64(64<<20), uint8(3), diskGUID[:], vecA[:2*recordSize], "esp\x1froot-x86-64")
	f.Add(uint64(4<<20), uint8(0), make([]byte, 16), rec(3, 7, 1, ^uint64(0), "00000000-0000-0000-0000-000000000000", 200), "Ünïcødé")
	f.Add(uint64(3<<40), uint8(1), diskGUID[:], rec(127, 0, 1<<30, 1<<48, "11111111-2222-3333-4444-555555555555", 4),
		"abcdefghijklmnopqrstuvwxyz0123456789")
	f.Add(uint64(8<<20), uint8(2), diskGUID[:], bytes.Repeat(rec(0, 1, 0, 0, "01234567-89ab-cdef-0123-456789abcdef", 9), 130),
		strings.Repeat("\U0001F600", 18))

	f.Fuzz(func(t *testing.T, size uint64, ssSel uint8, guid []byte, spec []byte, names string) {
		ss := []int{512, 1024, 2048, 4096}[ssSel%4]
		size %= 1 << 45 // up to 32 TiB, sparse
		d, err := gpt.Fresh(size, ss, uuid.UUID{})
		if err != nil {
			return
		}
		copy(d.GUID[:], guid)
		nameList := strings.Split(names, "\x1f")
		next := d.FirstUsableLBA
		for i := 0; len(spec) >= recordSize && len(d.Entries) < gpt.NumEntries+2; i++ {
			r := spec[:recordSize]
			spec = spec[recordSize:]
			for k := 0; k < int(r[0]%4); k++ {
				d.Entries = append(d.Entries, gpt.Entry{})
			}
			start := next + uint64(binary.LittleEndian.Uint16(r[1:]))
			if start > d.LastUsableLBA {
				break
			}
			last := min(start+uint64(binary.LittleEndian.Uint32(r[3:])), d.LastUsableLBA)
			e := gpt.Entry{
				FirstLBA:   start,
				LastLBA:    last,
				Attributes: binary.LittleEndian.Uint64(r[7:]),
			}
			copy(e.UUID[:], r[15:31])
			if int(r[31]) < len(knownTypes) {
				e.Type = knownTypes[r[31]]
			} else {
				// Some other type: the UUID with its bytes reversed.
				for j := range e.Type {
					e.Type[j] = e.UUID[15-j] ^ r[31]
				}
			}
			if i < len(nameList) {
				e.Name = nameList[i]
			}
			d.Entries = append(d.Entries, e)
			next = last + 1
			if next > d.LastUsableLBA {
				break
			}
		}
		img := newSparseDisk(int64(size))
		if err := d.Write(img); err != nil {
			return // invalid names, too many entries
		}
		// Write touches the GPT sectors only.
		n := d.Sectors
		e := uint64(16384 / ss)
		for _, blk := range img.Blocks(false) {
			lba := uint64(blk) * 512 / uint64(ss)
			if lba >= 2+e && lba < n-1-e {
				t.Fatalf("Write wrote LBA %d outside the GPT structures", lba)
			}
		}
		got, err := gpt.Read(img, int64(size), ss)
		if err != nil {
			t.Fatalf("Read of a written table: %v", err)
		}
		// What Read should return: unused slots zeroed, trailing ones cut.
		want := *d
		want.Entries = nil
		for _, x := range d.Entries {
			if !x.Used() {
				x = gpt.Entry{}
			}
			want.Entries = append(want.Entries, x)
		}
		for len(want.Entries) > 0 && !want.Entries[len(want.Entries)-1].Used() {
			want.Entries = want.Entries[:len(want.Entries)-1]
		}
		if len(got.Entries) == 0 && len(want.Entries) == 0 {
			got.Entries, want.Entries = nil, nil
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("Read = %+v\nwant %+v", got, &want)
			for i := range min(len(got.Entries), len(want.Entries)) {
				g, w := got.Entries[i], want.Entries[i]
				if g.Name != w.Name {
					t.Errorf("entry %d: name %q read back as %q", i, w.Name, g.Name)
				} else if g != w {
					t.Errorf("entry %d: got %+v, want %+v", i, g, w)
				}
			}
		}
	})
}
