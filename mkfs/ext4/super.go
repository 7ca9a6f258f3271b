package ext4

import (
	"encoding/binary"
	"time"
)

// Feature bits.
const (
	compatHasJournal = 0x4
	compatExtAttr    = 0x8
	compatDirIndex   = 0x20

	incompatFiletype = 0x2
	incompatExtents  = 0x40
	incompat64bit    = 0x80
	incompatFlexBG   = 0x200

	roCompatSparseSuper  = 0x1
	roCompatLargeFile    = 0x2
	roCompatHugeFile     = 0x8
	roCompatDirNlink     = 0x20
	roCompatExtraIsize   = 0x40
	roCompatMetadataCsum = 0x400
)

// superblock holds what varies in the superblock (spec A4); everything
// else is fixed by this package's choices.
type superblock struct {
	feat        *features
	geo         geometry
	freeBlocks  uint64
	freeInodes  uint64
	uuid        [16]byte
	label       [16]byte
	hashSeed    [16]byte
	time        time.Time
	journal     bool
	jnlBlocks   [17]uint32 // i_block[0..14], i_size_high, i_size
	overhead    uint64     // s_overhead_clusters
	compat      uint32
	incompat    uint32
	roCompat    uint32
	backupGroup uint32
}

func putTime32(b []byte, hiOff int, t time.Time) {
	if t.IsZero() {
		return
	}
	s := max(t.Unix(), 0)
	binary.LittleEndian.PutUint32(b, uint32(s))
	b[hiOff] = byte(s >> 32)
}

// encode returns the 1024-byte superblock for the copy in group
// sb.backupGroup, checksummed.
func (sb *superblock) encode() []byte {
	b := make([]byte, 1024)
	le := binary.LittleEndian
	g := &sb.geo
	le.PutUint32(b[0x00:], g.ipg*g.groups)
	le.PutUint32(b[0x04:], uint32(g.blocks))
	le.PutUint32(b[0x08:], 0) // -m 0
	le.PutUint32(b[0x0C:], uint32(sb.freeBlocks))
	le.PutUint32(b[0x10:], uint32(sb.freeInodes))
	le.PutUint32(b[0x14:], 0) // s_first_data_block
	le.PutUint32(b[0x18:], 2) // log block size: 1024 << 2
	le.PutUint32(b[0x1C:], 2) // log cluster size
	le.PutUint32(b[0x20:], blocksPerGroup)
	le.PutUint32(b[0x24:], blocksPerGroup)
	le.PutUint32(b[0x28:], g.ipg)
	// 0x2C s_mtime 0: never mounted.
	putTime32(b[0x30:], 0x274, sb.time) // s_wtime
	le.PutUint16(b[0x34:], 0)           // s_mnt_count
	le.PutUint16(b[0x36:], 0xFFFF)      // s_max_mnt_count: -1
	le.PutUint16(b[0x38:], 0xEF53)
	le.PutUint16(b[0x3A:], 1)           // clean
	le.PutUint16(b[0x3C:], 1)           // errors: continue
	putTime32(b[0x40:], 0x277, sb.time) // s_lastcheck
	le.PutUint32(b[0x48:], 0)           // Linux
	le.PutUint32(b[0x4C:], 1)           // dynamic revision
	le.PutUint32(b[0x54:], firstIno)
	le.PutUint16(b[0x58:], InodeSize)
	le.PutUint16(b[0x5A:], uint16(sb.backupGroup))
	le.PutUint32(b[0x5C:], sb.compat)
	le.PutUint32(b[0x60:], sb.incompat)
	le.PutUint32(b[0x64:], sb.roCompat)
	copy(b[0x68:], sb.uuid[:])
	copy(b[0x78:], sb.label[:])
	if sb.journal {
		le.PutUint32(b[0xE0:], journalIno)
	}
	copy(b[0xEC:], sb.hashSeed[:])
	b[0xFC] = hashHalfMD4
	if sb.journal {
		b[0xFD] = 1 // s_jnl_backup_type: EXT3_JNL_BACKUP_BLOCKS
	}
	if sb.feat.modern {
		le.PutUint16(b[0xFE:], uint16(sb.feat.descSize))
	}
	le.PutUint32(b[0x100:], 0x000C)      // default mount options: user_xattr, acl
	putTime32(b[0x108:], 0x276, sb.time) // s_mkfs_time
	if sb.journal {
		for i, v := range sb.jnlBlocks {
			le.PutUint32(b[0x10C+4*i:], v)
		}
	}
	le.PutUint32(b[0x150:], uint32(g.blocks>>32))
	le.PutUint32(b[0x158:], uint32(sb.freeBlocks>>32))
	le.PutUint16(b[0x15C:], extraIsize) // s_min_extra_isize
	le.PutUint16(b[0x15E:], extraIsize) // s_want_extra_isize
	le.PutUint32(b[0x160:], 0x1)        // signed directory hash
	le.PutUint32(b[0x248:], uint32(sb.overhead))
	if sb.feat.modern {
		b[0x174] = logFlex
		b[0x175] = 1 // crc32c
		le.PutUint32(b[0x3FC:], crc32c(^uint32(0), b[:0x3FC]))
	}
	return b
}
