package vfat

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
	"github.com/hermetic-repart/hermetic-repart/internal/prefix"
)

// Write writes the file system into w, whose region starts at off. The
// region must read as zeros: all-zero sectors are not written. File data
// is copied by a pool of Options.Workers goroutines while the metadata is
// written; Data.Runs is called once per non-empty file, from the
// goroutine that schedules the copies.
func (p *Plan) Write(ctx context.Context, w io.WriterAt, off int64) error {
	return p.WriteFinal(ctx, w, off, nil)
}

// WriteFinal is Write that also says how much of the region is done, so
// that it can be read (to compress it, say) while the rest is written:
// it calls final(n) when the first n bytes of the region are written and
// will not be written again, with n growing from call to call, and at
// last with p.Size() once Write would return nil. The metadata is
// written from the boot sector to the last directory, and the file data
// after it in cluster order, so n follows the writing closely. final may
// be called from any goroutine, never concurrently with itself; it
// should return quickly, as the writing waits for it. A nil final is
// allowed.
func (p *Plan) WriteFinal(ctx context.Context, w io.WriterAt, off int64, final func(n int64)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	track := prefix.NewTracker(final)
	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
			track.Stop()
			cancel()
		}
		mu.Unlock()
	}

	// The metadata lies below all file data: it is the first job, and
	// rises as it is written.
	meta, err := track.Begin(0)
	if err != nil {
		return err
	}
	jobs := make(chan copyJob, 64)
	var wg sync.WaitGroup
	for range p.opts.workers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if err := j.f.in.Data.CopyTo(ctx, w, off+j.dst, j.src, j.n); err != nil {
					fail(fmt.Errorf("copying data of %s: %w", j.f.path, err))
				} else {
					track.Done(j.id)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		if err := p.copyJobs(ctx, jobs, track); err != nil {
			fail(err)
		}
	}()

	if err := p.writeMeta(&metaWriter{w: w, off: off, track: track, job: meta}); err != nil {
		fail(err)
	} else {
		track.Done(meta)
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr == nil {
		track.Finish(p.Size())
	}
	return firstErr
}

// copyJob copies n bytes of a file's data at src to the region at dst.
type copyJob struct {
	f      *fileNode
	dst    int64
	src, n int64
	id     prefix.Job
}

const maxJob = 64 << 20

// copyJobs sends the copies of every file's data runs, in pieces of at
// most 64 MiB, in increasing order of their place in the region. A
// file's clusters are contiguous, so its byte i lands at the offset of
// its first cluster plus i.
func (p *Plan) copyJobs(ctx context.Context, jobs chan<- copyJob, track *prefix.Tracker) error {
	for _, f := range p.tree.files {
		if f.in.Data == nil || f.in.Size == 0 {
			continue
		}
		runs, err := f.in.Data.Runs(f.in.Size)
		if err != nil {
			return fmt.Errorf("finding data of %s: %w", f.path, err)
		}
		base := p.geo.clusterOffset(p.fileClus[f.idx].first)
		var prev int64
		for _, r := range runs {
			if r.Offset < prev || r.Length < 0 || r.Offset+r.Length > f.in.Size {
				return fmt.Errorf("%s: data run %d+%d out of order or outside its %d bytes", f.path, r.Offset, r.Length, f.in.Size)
			}
			prev = r.Offset + r.Length
			for pos := r.Offset; pos < prev; pos += maxJob {
				j := copyJob{f: f, dst: base + pos, src: pos, n: min(maxJob, prev-pos)}
				if j.id, err = track.Begin(j.dst); err != nil {
					return err
				}
				select {
				case jobs <- j:
				case <-ctx.Done():
					return nil
				}
			}
		}
	}
	return nil
}

// metaWriter writes metadata, leaving out all-zero parts. The writes
// must come in increasing order: each one raises the metadata job's
// start in the tracker.
type metaWriter struct {
	w     io.WriterAt
	off   int64
	track *prefix.Tracker
	job   prefix.Job
	next  int64 // end of the write before
}

func (m *metaWriter) at(pos int64, b []byte) error {
	if pos < m.next {
		return fmt.Errorf("metadata at %d written after metadata up to %d: out of order", pos, m.next)
	}
	m.track.Raise(m.job, pos)
	if err := imagefile.WriteNonZero(m.w, b, m.off+pos); err != nil {
		return fmt.Errorf("writing file system metadata: %w", err)
	}
	m.next = pos + int64(len(b))
	return nil
}

func (p *Plan) writeMeta(m *metaWriter) error {
	g := &p.geo
	S := int64(g.sectorSize)
	boot := p.bootSector()
	if err := m.at(0, boot); err != nil {
		return err
	}
	if g.typ == FAT32 {
		info := p.fsInfo()
		for _, w := range []struct {
			sector int64
			b      []byte
		}{{1, info}, {backupBoot, boot}, {backupBoot + 1, info}} {
			if err := m.at(w.sector*S, w.b); err != nil {
				return err
			}
		}
	}
	for i := range int64(numFATs) {
		if err := p.writeFAT(m, int64(g.reserved)*S+i*int64(g.fatLen)*S); err != nil {
			return err
		}
	}
	for _, d := range p.tree.dirs {
		var pos, size int64
		if d.parent == nil && g.typ != FAT32 {
			pos = int64(g.reserved+numFATs*g.fatLen) * S
			size = int64(g.rootEnts) * 32
		} else {
			c := p.dirClus[d.idx]
			pos = g.clusterOffset(c.first)
			size = int64(c.count) * g.clusterBytes()
		}
		if err := m.at(pos, p.dirBytes(d, size)); err != nil {
			return err
		}
	}
	return nil
}

// The FAT32 reserved sectors mkfs.fat uses.
const (
	fsInfoSector = 1
	backupBoot   = 6
)

// bootCode is the boot code and message mkfs.fat puts into every boot
// sector: print the message, wait for a key, try the next boot device.
// dosfstools marks it as public domain.
var bootCode = append([]byte{
	0x0e,             // push cs
	0x1f,             // pop ds
	0xbe, 0x5b, 0x7c, // mov si, message (patched on FAT32)
	0xac,       // lodsb
	0x22, 0xc0, // and al, al
	0x74, 0x0b, // jz key_press
	0x56,       // push si
	0xb4, 0x0e, // mov ah, 0eh
	0xbb, 0x07, 0x00, // mov bx, 0007h
	0xcd, 0x10, // int 10h
	0x5e,       // pop si
	0xeb, 0xf0, // jmp write_msg
	0x32, 0xe4, // key_press: xor ah, ah
	0xcd, 0x16, // int 16h
	0xcd, 0x19, // int 19h
	0xeb, 0xfe, // jmp $
}, "This is not a bootable disk.  Please insert a bootable floppy and\r\npress any key to try again ... \r\n"...)

// bootSector returns the first 512 bytes of sector 0 (the rest of a
// larger sector is zero, as mkfs.fat leaves it).
func (p *Plan) bootSector() []byte {
	g := &p.geo
	b := make([]byte, 512)
	le := binary.LittleEndian
	copy(b[3:], "mkfs.fat")
	le.PutUint16(b[11:], uint16(g.sectorSize))
	b[13] = byte(g.secPerClus)
	le.PutUint16(b[14:], uint16(g.reserved))
	b[16] = numFATs
	le.PutUint16(b[17:], uint16(g.rootEnts))
	if g.sectors < 65536 {
		le.PutUint16(b[19:], uint16(g.sectors))
	} else {
		le.PutUint32(b[32:], g.sectors)
	}
	b[21] = g.media
	le.PutUint16(b[24:], g.spt)
	le.PutUint16(b[26:], g.heads)
	// 28: hidden sectors, 0 as mkfs.fat writes for a file.
	var vi, code int // extended BPB, boot code
	if g.typ == FAT32 {
		le.PutUint32(b[36:], g.fatLen)
		// 40: flags 0 (both FATs mirrored), 42: version 0.0.
		le.PutUint32(b[44:], p.dirClus[0].first)
		le.PutUint16(b[48:], fsInfoSector)
		le.PutUint16(b[50:], backupBoot)
		vi, code = 64, 90
	} else {
		le.PutUint16(b[22:], uint16(g.fatLen))
		vi, code = 36, 62
	}
	if g.media == 0xf8 {
		b[vi] = 0x80 // drive number: first hard disk
	}
	b[vi+2] = 0x29 // extended boot signature
	le.PutUint32(b[vi+3:], p.opts.VolumeID)
	copy(b[vi+7:], p.tree.label[:])
	copy(b[vi+18:], fmt.Sprintf("FAT%d   ", g.typ))
	b[0], b[1], b[2] = 0xeb, byte(code-2), 0x90 // jmp short to the boot code
	copy(b[code:510], bootCode)
	if g.typ == FAT32 {
		// The FAT32 code area is 420 bytes, its last one a terminator; the
		// message address moves with the code.
		b[code+419] = 0
		le.PutUint16(b[code+3:], uint16(0x7c00+code+29))
	}
	b[510], b[511] = 0x55, 0xaa
	return b
}

// fsInfo returns the first 512 bytes of the FSInfo sector.
func (p *Plan) fsInfo() []byte {
	b := make([]byte, 512)
	le := binary.LittleEndian
	copy(b, "RRaA")
	le.PutUint32(b[484:], 0x61417272)
	le.PutUint32(b[488:], p.geo.clusters-(p.end-2)) // free clusters
	// The hint is the last cluster allocated, as mkfs.fat (2, the root)
	// and Linux (prev_free) use it; allocation resumes after it.
	le.PutUint32(b[492:], p.end-1)
	b[510], b[511] = 0x55, 0xaa
	return b
}

// fatEOC is the end-of-chain mark mkfs.fat writes (any value from
// 0x0FFFFFF8 up ends a chain).
const fatEOC = 0x0ffffff8

// writeFAT writes one FAT, at region offset at: the media entry, entry
// 1, then one contiguous chain per directory and file. Entries past the
// last used cluster are zero and are not written. Each FAT is written
// whole before the next, in increasing order.
func (p *Plan) writeFAT(m *metaWriter, at int64) error {
	g := &p.geo
	mask := uint32(1)<<g.typ - 1
	if g.typ == FAT32 {
		mask = 0x0fffffff
	}
	// FAT12 and FAT16 tables are small (at most 128 KiB): build them
	// whole. FAT32 goes out in chunks.
	chunk := uint32(1 << 18)
	if g.typ != FAT32 {
		chunk = p.end
	}
	buf := make([]byte, int64(chunk)*int64(g.typ)/8+2)
	var start uint32 // entry at buf[0]
	flush := func(next uint32) error {
		n := (int64(next) - int64(start)) * int64(g.typ)
		nb := (n + 7) / 8
		pos := int64(start) * int64(g.typ) / 8
		if err := m.at(at+pos, buf[:nb]); err != nil {
			return err
		}
		clear(buf)
		start = next
		return nil
	}
	put := func(k, v uint32) error {
		if k-start == chunk {
			if err := flush(k); err != nil {
				return err
			}
		}
		v &= mask
		i := k - start
		switch g.typ {
		case FAT12:
			o := i * 3 / 2
			if i&1 == 0 {
				buf[o] = byte(v)
				buf[o+1] = buf[o+1]&0xf0 | byte(v>>8)
			} else {
				buf[o] = buf[o]&0x0f | byte(v<<4)
				buf[o+1] = byte(v >> 4)
			}
		case FAT16:
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(v))
		case FAT32:
			binary.LittleEndian.PutUint32(buf[4*i:], v)
		}
		return nil
	}
	if err := put(0, 0xffffff00|uint32(g.media)); err != nil {
		return err
	}
	if err := put(1, 0xffffffff); err != nil {
		return err
	}
	// Allocation went directories first, then files, so this walks the
	// clusters in order.
	for _, ch := range append(slices.Clip(p.dirClus), p.fileClus...) {
		for c := ch.first; c < ch.first+ch.count; c++ {
			v := c + 1
			if c == ch.first+ch.count-1 {
				v = fatEOC
			}
			if err := put(c, v); err != nil {
				return err
			}
		}
	}
	return flush(p.end)
}

// Directory entry attributes the writer sets itself.
const (
	attrVolume = 0x08
	attrDir    = 0x10
	attrLFN    = 0x0f
)

// dirBytes returns the size bytes of directory d.
func (p *Plan) dirBytes(d *dirNode, size int64) []byte {
	b := make([]byte, size)
	pos := 0
	ent := func() []byte { e := b[pos : pos+32]; pos += 32; return e }
	if d.parent == nil {
		if p.tree.hasLabel {
			// As mkfs.fat: write, creation and access time alike,
			// hundredths 0.
			t := encodeTime(p.opts.Time)
			t.cs = 0
			putShort(ent(), p.tree.label, attrVolume, 0, t, 0, 0)
		}
	} else {
		t := encodeTime(d.in.Mtime)
		var parent uint32
		if d.parent.parent != nil {
			parent = p.dirClus[d.parent.idx].first // ".." of a top-level directory is 0
		}
		putShort(ent(), shortName([]byte(".          ")), attrDir, 0, t, p.dirClus[d.idx].first, 0)
		putShort(ent(), shortName([]byte("..         ")), attrDir, 0, t, parent, 0)
	}
	for i := range d.ents {
		e := &d.ents[i]
		if lfn := e.name.lfn; lfn != nil {
			sum := e.name.sfn.checksum()
			n := (len(lfn) + 12) / 13
			for k := n; k >= 1; k-- {
				ord := byte(k)
				if k == n {
					ord |= 0x40 // the last part, stored first
				}
				putLFN(ent(), ord, sum, lfn[(k-1)*13:])
			}
		}
		attr := byte(e.in.Attr)
		var first, size uint32
		if e.dir != nil {
			attr |= attrDir
			first = p.dirClus[e.dir.idx].first
		} else {
			first, size = p.fileClus[e.file.idx].first, uint32(e.in.Size)
		}
		putShort(ent(), e.name.sfn, attr, e.name.lcase, encodeTime(e.in.Mtime), first, size)
	}
	return b
}

// putShort fills a short (8.3) directory entry. The creation time is the
// write time with hundredths, the access date its date, as Linux sets
// them when it creates a file.
func putShort(e []byte, name shortName, attr, lcase byte, t fatTime, first, size uint32) {
	le := binary.LittleEndian
	copy(e, name[:])
	e[11] = attr
	e[12] = lcase
	e[13] = t.cs
	le.PutUint16(e[14:], t.time)
	le.PutUint16(e[16:], t.date)
	le.PutUint16(e[18:], t.date)
	le.PutUint16(e[20:], uint16(first>>16))
	le.PutUint16(e[22:], t.time)
	le.PutUint16(e[24:], t.date)
	le.PutUint16(e[26:], uint16(first))
	le.PutUint32(e[28:], size)
}

// putLFN fills a long-name entry with the (up to) 13 units of part: a
// shorter last part is ended by 0x0000 and padded with 0xFFFF.
func putLFN(e []byte, ord, sum byte, part []uint16) {
	e[0] = ord
	e[11] = attrLFN
	e[13] = sum
	for i, o := range [13]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
		u := uint16(0xffff)
		switch {
		case i < len(part):
			u = part[i]
		case i == len(part):
			u = 0
		}
		binary.LittleEndian.PutUint16(e[o:], u)
	}
}
