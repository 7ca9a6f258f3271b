package ext4

import "encoding/binary"

// journalSuper is the jbd2 superblock (big-endian, spec A12) for a
// journal of n blocks.
func journalSuper(n uint64, uuid [16]byte) []byte {
	b := make([]byte, BlockSize)
	be := binary.BigEndian
	be.PutUint32(b[0x00:], 0xC03B3998)
	be.PutUint32(b[0x04:], 4) // superblock v2
	be.PutUint32(b[0x0C:], BlockSize)
	be.PutUint32(b[0x10:], uint32(n))
	be.PutUint32(b[0x14:], 1) // s_first
	be.PutUint32(b[0x18:], 1) // s_sequence
	copy(b[0x30:], uuid[:])
	be.PutUint32(b[0x40:], 1) // s_nr_users
	return b
}
