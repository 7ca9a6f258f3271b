package ext4

import "encoding/binary"

// Group descriptor flags.
const (
	bgInodeUninit = 0x1
	bgBlockUninit = 0x2
	bgItableZero  = 0x4
)

// groupDesc is one group descriptor (spec A5).
type groupDesc struct {
	blockBitmap, inodeBitmap, inodeTable uint64
	freeBlocks, freeInodes, usedDirs     uint32
	flags                                uint16
	blockBitmapCsum, inodeBitmapCsum     uint32
	itableUnused                         uint32
}

// encode writes the descriptor of group into b. Without 64bit it is the
// 32-byte ext2 descriptor: no high halves, checksums or flags.
func (d *groupDesc) encode(b []byte, group uint32, fsSeed uint32, f *features) {
	le := binary.LittleEndian
	le.PutUint32(b[0x00:], uint32(d.blockBitmap))
	le.PutUint32(b[0x04:], uint32(d.inodeBitmap))
	le.PutUint32(b[0x08:], uint32(d.inodeTable))
	le.PutUint16(b[0x0C:], uint16(d.freeBlocks))
	le.PutUint16(b[0x0E:], uint16(d.freeInodes))
	le.PutUint16(b[0x10:], uint16(d.usedDirs))
	if !f.modern {
		return
	}
	le.PutUint16(b[0x12:], d.flags)
	le.PutUint16(b[0x18:], uint16(d.blockBitmapCsum))
	le.PutUint16(b[0x1A:], uint16(d.inodeBitmapCsum))
	le.PutUint16(b[0x1C:], uint16(d.itableUnused))
	le.PutUint32(b[0x20:], uint32(d.blockBitmap>>32))
	le.PutUint32(b[0x24:], uint32(d.inodeBitmap>>32))
	le.PutUint32(b[0x28:], uint32(d.inodeTable>>32))
	le.PutUint16(b[0x2C:], uint16(d.freeBlocks>>16))
	le.PutUint16(b[0x2E:], uint16(d.freeInodes>>16))
	le.PutUint16(b[0x30:], uint16(d.usedDirs>>16))
	le.PutUint16(b[0x32:], uint16(d.itableUnused>>16))
	le.PutUint16(b[0x38:], uint16(d.blockBitmapCsum>>16))
	le.PutUint16(b[0x3A:], uint16(d.inodeBitmapCsum>>16))
	le.PutUint16(b[0x1E:], 0)
	c := crc32c(crc32cU32(fsSeed, group), b[:f.descSize])
	le.PutUint16(b[0x1E:], uint16(c))
}
