package gpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Fixed geometry of a fresh libfdisk label.
const (
	NumEntries   = 128
	EntrySize    = 128
	entriesBytes = NumEntries * EntrySize
	headerSize   = 92
	// NameUnits is the capacity of a partition name in UTF-16 code units.
	NameUnits = 36
	// smallDisk is libfdisk's threshold: disks of at most this size get
	// no 1 MiB alignment of the first usable LBA.
	smallDisk = 4 << 20
	alignment = 1 << 20
)

// Entry is one partition entry. The zero Entry is an unused slot.
type Entry struct {
	Type       uuid.UUID
	UUID       uuid.UUID
	FirstLBA   uint64
	LastLBA    uint64 // inclusive
	Attributes uint64
	Name       string
}

// Used reports whether the slot holds a partition.
func (e Entry) Used() bool { return e.Type != uuid.Nil }

// Disk is a whole GUID partition table with its geometry.
type Disk struct {
	SectorSize     int
	Sectors        uint64 // total logical sectors of the disk (N)
	GUID           uuid.UUID
	FirstUsableLBA uint64
	LastUsableLBA  uint64
	// Entries are indexed by partition number (0-based); at most NumEntries.
	Entries []Entry
}

// ValidSectorSize reports whether ss is a logical sector size repart accepts.
func ValidSectorSize(ss int) bool {
	return ss == 512 || ss == 1024 || ss == 2048 || ss == 4096
}

// Fresh returns the empty table libfdisk creates for a disk of size bytes:
// 128 entries, the first usable LBA aligned to 1 MiB unless the disk is
// 4 MiB or smaller, the backup structures at the end.
func Fresh(size uint64, sectorSize int, guid uuid.UUID) (*Disk, error) {
	if !ValidSectorSize(sectorSize) {
		return nil, fmt.Errorf("invalid sector size %d", sectorSize)
	}
	ss := uint64(sectorSize)
	n := size / ss
	e := entriesBytes / ss
	if n < 2*(2+e)+1 {
		return nil, fmt.Errorf("disk of %d bytes is too small for a GPT with %d-byte sectors", size, sectorSize)
	}
	first := 2 + e
	if n*ss > smallDisk {
		first = alignment / ss
	}
	last := n - 2 - e
	if first > last {
		return nil, fmt.Errorf("disk of %d bytes is too small for a GPT with %d-byte sectors", size, sectorSize)
	}
	return &Disk{SectorSize: sectorSize, Sectors: n, GUID: guid, FirstUsableLBA: first, LastUsableLBA: last}, nil
}

func (d *Disk) entrySectors() uint64 { return entriesBytes / uint64(d.SectorSize) }

// encodeEntries returns the 16 KiB entry array.
func (d *Disk) encodeEntries() ([]byte, error) {
	if len(d.Entries) > NumEntries {
		return nil, fmt.Errorf("%d partitions do not fit into %d GPT entries", len(d.Entries), NumEntries)
	}
	buf := make([]byte, entriesBytes)
	for i, e := range d.Entries {
		if !e.Used() {
			continue
		}
		b := buf[i*EntrySize : (i+1)*EntrySize]
		putGUID(b[0:16], e.Type)
		putGUID(b[16:32], e.UUID)
		binary.LittleEndian.PutUint64(b[32:40], e.FirstLBA)
		binary.LittleEndian.PutUint64(b[40:48], e.LastLBA)
		binary.LittleEndian.PutUint64(b[48:56], e.Attributes)
		name, err := EncodeName(e.Name)
		if err != nil {
			return nil, fmt.Errorf("partition %d: %w", i+1, err)
		}
		copy(b[56:128], name)
	}
	return buf, nil
}

// EncodeName returns the UTF-16LE form of a partition name, zero-padded to
// 72 bytes.
func EncodeName(name string) ([]byte, error) {
	if !utf8.ValidString(name) {
		return nil, fmt.Errorf("partition name %q is not valid UTF-8", name)
	}
	if strings.ContainsRune(name, 0) {
		// A NUL ends the name on disk: what follows would be lost.
		return nil, fmt.Errorf("partition name %q contains a NUL character", name)
	}
	units := utf16.Encode([]rune(name))
	if len(units) > NameUnits {
		return nil, fmt.Errorf("partition name %q needs %d UTF-16 code units, more than %d", name, len(units), NameUnits)
	}
	b := make([]byte, 2*NameUnits)
	for i, u := range units {
		binary.LittleEndian.PutUint16(b[2*i:], u)
	}
	return b, nil
}

func (d *Disk) header(myLBA, altLBA, entriesLBA uint64, entriesCRC uint32) []byte {
	h := make([]byte, d.SectorSize)
	copy(h[0:8], "EFI PART")
	binary.LittleEndian.PutUint32(h[8:12], 0x00010000)
	binary.LittleEndian.PutUint32(h[12:16], headerSize)
	binary.LittleEndian.PutUint64(h[24:32], myLBA)
	binary.LittleEndian.PutUint64(h[32:40], altLBA)
	binary.LittleEndian.PutUint64(h[40:48], d.FirstUsableLBA)
	binary.LittleEndian.PutUint64(h[48:56], d.LastUsableLBA)
	putGUID(h[56:72], d.GUID)
	binary.LittleEndian.PutUint64(h[72:80], entriesLBA)
	binary.LittleEndian.PutUint32(h[80:84], NumEntries)
	binary.LittleEndian.PutUint32(h[84:88], EntrySize)
	binary.LittleEndian.PutUint32(h[88:92], entriesCRC)
	binary.LittleEndian.PutUint32(h[16:20], crc32.ChecksumIEEE(h[:headerSize]))
	return h
}

func (d *Disk) protectiveMBR() []byte {
	m := make([]byte, d.SectorSize)
	p := m[0x1be:0x1ce]
	p[0] = 0x00
	p[1], p[2], p[3] = 0x00, 0x02, 0x00
	p[4] = 0xee
	p[5], p[6], p[7] = 0xff, 0xff, 0xff
	binary.LittleEndian.PutUint32(p[8:12], 1)
	size := d.Sectors - 1
	if size > 0xffffffff {
		size = 0xffffffff
	}
	binary.LittleEndian.PutUint32(p[12:16], uint32(size))
	m[0x1fe], m[0x1ff] = 0x55, 0xaa
	return m
}

// Write stores the protective MBR, both headers and both entry arrays.
// Nothing else on the disk is touched.
func (d *Disk) Write(w io.WriterAt) error {
	if err := d.validate(); err != nil {
		return err
	}
	return d.write(w)
}

func (d *Disk) write(w io.WriterAt) error {
	entries, err := d.encodeEntries()
	if err != nil {
		return err
	}
	crc := crc32.ChecksumIEEE(entries)
	ss := int64(d.SectorSize)
	backupEntriesLBA := d.Sectors - 1 - d.entrySectors()
	writes := []struct {
		lba  uint64
		data []byte
		what string
	}{
		{backupEntriesLBA, entries, "backup partition entries"},
		{d.Sectors - 1, d.header(d.Sectors-1, 1, backupEntriesLBA, crc), "backup GPT header"},
		{2, entries, "partition entries"},
		{1, d.header(1, d.Sectors-1, 2, crc), "GPT header"},
		{0, d.protectiveMBR(), "protective MBR"},
	}
	for _, x := range writes {
		if _, err := w.WriteAt(x.data, int64(x.lba)*ss); err != nil {
			return fmt.Errorf("writing %s: %w", x.what, err)
		}
	}
	return nil
}

// validate refuses a table that Read would refuse: a bad geometry, or
// partitions outside the usable area or overlapping each other.
func (d *Disk) validate() error {
	if !ValidSectorSize(d.SectorSize) {
		return fmt.Errorf("invalid sector size %d", d.SectorSize)
	}
	e := d.entrySectors()
	if d.Sectors < 2*(2+e)+1 || d.FirstUsableLBA < 2+e || d.FirstUsableLBA > d.LastUsableLBA || d.LastUsableLBA > d.Sectors-2-e {
		return fmt.Errorf("invalid GPT geometry: usable LBAs %d-%d on a disk of %d sectors", d.FirstUsableLBA, d.LastUsableLBA, d.Sectors)
	}
	for i, a := range d.Entries {
		if !a.Used() {
			continue
		}
		if a.FirstLBA < d.FirstUsableLBA || a.LastLBA > d.LastUsableLBA || a.FirstLBA > a.LastLBA {
			return fmt.Errorf("partition %d (LBA %d-%d) outside usable area %d-%d", i+1, a.FirstLBA, a.LastLBA, d.FirstUsableLBA, d.LastUsableLBA)
		}
		for j := i + 1; j < len(d.Entries); j++ {
			b := d.Entries[j]
			if b.Used() && a.FirstLBA <= b.LastLBA && b.FirstLBA <= a.LastLBA {
				return fmt.Errorf("partitions %d and %d overlap", i+1, j+1)
			}
		}
	}
	return nil
}

// Errors returned by Read.
var (
	ErrNoGPT   = errors.New("no GPT signature")
	ErrCorrupt = errors.New("corrupt GPT")
)

// Read decodes the table of a disk of size bytes. It checks the protective
// MBR, both headers, both entry arrays and their CRCs, and that every
// partition lies inside the usable area without overlapping another.
func Read(r io.ReaderAt, size int64, sectorSize int) (*Disk, error) {
	if !ValidSectorSize(sectorSize) {
		return nil, fmt.Errorf("invalid sector size %d", sectorSize)
	}
	ss := int64(sectorSize)
	n := uint64(size / ss)
	if n < 3 {
		return nil, fmt.Errorf("%w: disk of %d bytes", ErrNoGPT, size)
	}
	mbr := make([]byte, ss)
	if _, err := r.ReadAt(mbr, 0); err != nil {
		return nil, fmt.Errorf("reading protective MBR: %w", err)
	}
	d, entries, err := readHeader(r, ss, n, 1)
	if err != nil {
		return nil, err
	}
	if mbr[0x1fe] != 0x55 || mbr[0x1ff] != 0xaa || mbr[0x1be+4] != 0xee {
		return nil, fmt.Errorf("%w: no protective MBR", ErrCorrupt)
	}
	backup, backupEntries, err := readHeader(r, ss, n, n-1)
	if errors.Is(err, ErrNoGPT) {
		return nil, fmt.Errorf("%w: primary header without backup header", ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("backup header: %w", err)
	}
	if !bytes.Equal(entries, backupEntries) || backup.GUID != d.GUID ||
		backup.FirstUsableLBA != d.FirstUsableLBA || backup.LastUsableLBA != d.LastUsableLBA {
		return nil, fmt.Errorf("%w: primary and backup tables differ", ErrCorrupt)
	}
	d.Entries = make([]Entry, NumEntries)
	last := -1
	for i := range d.Entries {
		b := entries[i*EntrySize : (i+1)*EntrySize]
		e := Entry{
			Type:       getGUID(b[0:16]),
			UUID:       getGUID(b[16:32]),
			FirstLBA:   binary.LittleEndian.Uint64(b[32:40]),
			LastLBA:    binary.LittleEndian.Uint64(b[40:48]),
			Attributes: binary.LittleEndian.Uint64(b[48:56]),
		}
		units := make([]uint16, 0, NameUnits)
		for j := 0; j < NameUnits; j++ {
			u := binary.LittleEndian.Uint16(b[56+2*j:])
			if u == 0 {
				break
			}
			units = append(units, u)
		}
		e.Name = string(utf16.Decode(units))
		if !e.Used() {
			continue
		}
		if e.FirstLBA < d.FirstUsableLBA || e.LastLBA > d.LastUsableLBA || e.FirstLBA > e.LastLBA {
			return nil, fmt.Errorf("%w: partition %d (LBA %d-%d) outside usable area %d-%d",
				ErrCorrupt, i+1, e.FirstLBA, e.LastLBA, d.FirstUsableLBA, d.LastUsableLBA)
		}
		d.Entries[i] = e
		last = i
	}
	d.Entries = d.Entries[:last+1]
	for i, a := range d.Entries {
		for j := i + 1; j < len(d.Entries); j++ {
			b := d.Entries[j]
			if a.Used() && b.Used() && a.FirstLBA <= b.LastLBA && b.FirstLBA <= a.LastLBA {
				return nil, fmt.Errorf("%w: partitions %d and %d overlap", ErrCorrupt, i+1, j+1)
			}
		}
	}
	return d, nil
}

func readHeader(r io.ReaderAt, ss int64, n, lba uint64) (*Disk, []byte, error) {
	h := make([]byte, ss)
	if _, err := r.ReadAt(h, int64(lba)*ss); err != nil {
		return nil, nil, fmt.Errorf("reading GPT header at LBA %d: %w", lba, err)
	}
	if string(h[0:8]) != "EFI PART" {
		return nil, nil, fmt.Errorf("%w at LBA %d", ErrNoGPT, lba)
	}
	hs := binary.LittleEndian.Uint32(h[12:16])
	if hs < headerSize || int64(hs) > ss {
		return nil, nil, fmt.Errorf("%w: header size %d", ErrCorrupt, hs)
	}
	want := binary.LittleEndian.Uint32(h[16:20])
	c := make([]byte, hs)
	copy(c, h[:hs])
	binary.LittleEndian.PutUint32(c[16:20], 0)
	if got := crc32.ChecksumIEEE(c); got != want {
		return nil, nil, fmt.Errorf("%w: header CRC %08x, computed %08x", ErrCorrupt, want, got)
	}
	my := binary.LittleEndian.Uint64(h[24:32])
	alt := binary.LittleEndian.Uint64(h[32:40])
	if my != lba || (alt != 1 && alt != n-1) {
		return nil, nil, fmt.Errorf("%w: header at LBA %d claims LBA %d, alternate %d", ErrCorrupt, lba, my, alt)
	}
	d := &Disk{
		SectorSize:     int(ss),
		Sectors:        n,
		FirstUsableLBA: binary.LittleEndian.Uint64(h[40:48]),
		LastUsableLBA:  binary.LittleEndian.Uint64(h[48:56]),
		GUID:           getGUID(h[56:72]),
	}
	entriesLBA := binary.LittleEndian.Uint64(h[72:80])
	count := binary.LittleEndian.Uint32(h[80:84])
	esize := binary.LittleEndian.Uint32(h[84:88])
	if count != NumEntries || esize != EntrySize {
		return nil, nil, fmt.Errorf("%w: %d entries of %d bytes (only %d of %d are supported)", ErrCorrupt, count, esize, NumEntries, EntrySize)
	}
	esec := uint64(entriesBytes) / uint64(ss)
	// The usable area and the entry array must lie between the primary
	// header (LBA 1) and the backup header (LBA N-1) without overlapping;
	// the comparisons are arranged so that no sum can overflow.
	if d.FirstUsableLBA < 2 || d.FirstUsableLBA > d.LastUsableLBA || d.LastUsableLBA >= n-1 ||
		entriesLBA < 2 || entriesLBA >= n-1 || esec > n-1-entriesLBA ||
		(entriesLBA <= d.LastUsableLBA && entriesLBA+esec > d.FirstUsableLBA) {
		return nil, nil, fmt.Errorf("%w: bounds (usable %d-%d, entries at %d) do not fit a disk of %d sectors",
			ErrCorrupt, d.FirstUsableLBA, d.LastUsableLBA, entriesLBA, n)
	}
	entries := make([]byte, entriesBytes)
	if _, err := r.ReadAt(entries, int64(entriesLBA)*ss); err != nil {
		return nil, nil, fmt.Errorf("reading partition entries at LBA %d: %w", entriesLBA, err)
	}
	if got, want := crc32.ChecksumIEEE(entries), binary.LittleEndian.Uint32(h[88:92]); got != want {
		return nil, nil, fmt.Errorf("%w: entries CRC %08x, computed %08x", ErrCorrupt, want, got)
	}
	return d, entries, nil
}
