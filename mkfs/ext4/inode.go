package ext4

import (
	"encoding/binary"
	"time"
)

// Inode flags.
const (
	flagIndex   = 0x1000
	flagExtents = 0x80000
)

// Mode type bits.
const (
	sIFIFO  = 0o010000
	sIFCHR  = 0o020000
	sIFDIR  = 0o040000
	sIFBLK  = 0o060000
	sIFREG  = 0o100000
	sIFLNK  = 0o120000
	sIFSOCK = 0o140000
)

// rawInode holds the fields of an on-disk inode (spec A7).
type rawInode struct {
	mode                        uint16
	uid, gid                    uint32
	size                        uint64
	atime, ctime, mtime, crtime time.Time
	links                       uint16
	blocks512                   uint64
	flags                       uint32
	iblock                      [60]byte
	fileACL                     uint64
	ibody                       []byte // in-inode xattr area, or nil
}

// The time range written. The two epoch bits of the _extra fields reach
// 2446, but e2fsck takes times from 2310-04-04 on (epoch bits 3 with the
// sign bit set) for pre-1970 times written by old kernels and "fixes"
// them, so later times are clamped to the last second before.
var (
	minTime = time.Unix(-1<<31, 0)
	maxTime = time.Unix(3<<32-1<<31-1, 999999999)
)

// encodeTime returns the 32-bit seconds and the _extra word (epoch bits
// and nanoseconds), as ext4_encode_extra_time does.
func encodeTime(t time.Time) (uint32, uint32) {
	if t.IsZero() {
		return 0, 0
	}
	if t.Before(minTime) {
		t = minTime
	}
	if t.After(maxTime) {
		t = maxTime
	}
	sec := t.Unix()
	extra := uint32((sec-int64(int32(sec)))>>32) & 3
	return uint32(int32(sec)), extra | uint32(t.Nanosecond())<<2
}

// encode writes the inode into b (InodeSize bytes), with its checksum for
// inode number ino (generation 0) if csum.
func (r *rawInode) encode(b []byte, ino uint32, fsSeed uint32, csum bool) {
	le := binary.LittleEndian
	le.PutUint16(b[0x00:], r.mode)
	le.PutUint16(b[0x02:], uint16(r.uid))
	le.PutUint32(b[0x04:], uint32(r.size))
	at, ax := encodeTime(r.atime)
	ct, cx := encodeTime(r.ctime)
	mt, mx := encodeTime(r.mtime)
	crt, crx := encodeTime(r.crtime)
	le.PutUint32(b[0x08:], at)
	le.PutUint32(b[0x0C:], ct)
	le.PutUint32(b[0x10:], mt)
	le.PutUint16(b[0x18:], uint16(r.gid))
	le.PutUint16(b[0x1A:], r.links)
	le.PutUint32(b[0x1C:], uint32(r.blocks512))
	le.PutUint32(b[0x20:], r.flags)
	copy(b[0x28:0x64], r.iblock[:])
	le.PutUint32(b[0x68:], uint32(r.fileACL))
	le.PutUint32(b[0x6C:], uint32(r.size>>32))
	le.PutUint16(b[0x74:], uint16(r.blocks512>>32))
	le.PutUint16(b[0x76:], uint16(r.fileACL>>32))
	le.PutUint16(b[0x78:], uint16(r.uid>>16))
	le.PutUint16(b[0x7A:], uint16(r.gid>>16))
	le.PutUint16(b[0x80:], extraIsize)
	le.PutUint32(b[0x84:], cx)
	le.PutUint32(b[0x88:], mx)
	le.PutUint32(b[0x8C:], ax)
	le.PutUint32(b[0x90:], crt)
	le.PutUint32(b[0x94:], crx)
	copy(b[128+extraIsize:], r.ibody)
	if csum {
		inodeCsum(b, ino, fsSeed)
	}
}

// inodeSeed is the per-inode checksum seed (generation 0).
func inodeSeed(fsSeed, ino uint32) uint32 {
	return crc32cU32(crc32cU32(fsSeed, ino), 0)
}

// inodeCsum sets the checksum of an encoded inode: crc32c over all
// InodeSize bytes with both checksum fields zero; the high half is kept
// only when i_extra_isize covers it.
func inodeCsum(b []byte, ino uint32, fsSeed uint32) {
	le := binary.LittleEndian
	le.PutUint16(b[0x7C:], 0)
	hi := le.Uint16(b[0x80:]) >= 4
	if hi {
		le.PutUint16(b[0x82:], 0)
	}
	c := crc32c(inodeSeed(fsSeed, ino), b[:InodeSize])
	le.PutUint16(b[0x7C:], uint16(c))
	if hi {
		le.PutUint16(b[0x82:], uint16(c>>16))
	}
}
