package ext4

import "hash/crc32"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is ext4's crc32c(seed, data): the Castagnoli CRC without the
// pre- and post-inversion that hash/crc32 applies.
func crc32c(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, p)
}

// crc32cU32 is crc32c over v's 4 little-endian bytes.
func crc32cU32(seed, v uint32) uint32 {
	b := [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
	return crc32c(seed, b[:])
}

// crc32cU64 is crc32c over v's 8 little-endian bytes.
func crc32cU64(seed uint32, v uint64) uint32 {
	return crc32cU32(crc32cU32(seed, uint32(v)), uint32(v>>32))
}
