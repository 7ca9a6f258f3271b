package ext4

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// Extended attributes (spec A10): the inode body holds as many as fit in
// its 96 spare bytes; the rest go to one xattr block, which identical
// sets share (with a reference count, as the kernel's mbcache does).

const (
	xattrMagic     = 0xEA020000
	xattrHdrSize   = 32 // block header
	xattrEntrySize = 16 // fixed part of an entry
	ibodySize      = InodeSize - 128 - extraIsize
	xattrRefMax    = 1024 // EXT4_XATTR_REFCOUNT_MAX
)

// xentry is one attribute in ext4's terms: a name index and the name
// without its prefix.
type xentry struct {
	index uint8
	name  string
	value []byte
}

var xattrPrefixes = []struct {
	prefix string
	index  uint8
	exact  bool
}{
	{"user.", 1, false},
	{"system.posix_acl_access", 2, true},
	{"system.posix_acl_default", 3, true},
	{"trusted.", 4, false},
	{"security.", 6, false},
}

func pad4(n int) int { return (n + 3) &^ 3 }

func entryLen(e xentry) int { return pad4(xattrEntrySize + len(e.name)) }

// parseXattrs maps names to ext4's indexes, converts ACLs and sorts the
// entries by (index, name length, name), the order the kernel's lookup in
// a block expects.
func parseXattrs(xs []Xattr) ([]xentry, error) {
	if len(xs) == 0 {
		return nil, nil
	}
	out := make([]xentry, 0, len(xs))
	for _, x := range xs {
		e, err := parseXattr(x)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return xentryLess(out[i], out[j]) })
	for i := 1; i < len(out); i++ {
		if out[i].index == out[i-1].index && out[i].name == out[i-1].name {
			return nil, fmt.Errorf("xattr with index %d and name %q given twice", out[i].index, out[i].name)
		}
	}
	return out, nil
}

func xentryLess(a, b xentry) bool {
	if a.index != b.index {
		return a.index < b.index
	}
	if len(a.name) != len(b.name) {
		return len(a.name) < len(b.name)
	}
	return a.name < b.name
}

func parseXattr(x Xattr) (xentry, error) {
	for _, p := range xattrPrefixes {
		if p.exact {
			if x.Name != p.prefix {
				continue
			}
			v, err := aclToDisk(x.Value)
			if err != nil {
				return xentry{}, fmt.Errorf("xattr %s: %w", x.Name, err)
			}
			return xentry{index: p.index, value: v}, nil
		}
		if name, ok := strings.CutPrefix(x.Name, p.prefix); ok {
			if name == "" || len(name) > 255 {
				return xentry{}, fmt.Errorf("xattr name %q: length must be 1 to 255 after the prefix", x.Name)
			}
			if strings.IndexByte(name, 0) >= 0 {
				return xentry{}, fmt.Errorf("xattr name %q contains NUL", x.Name)
			}
			return xentry{index: p.index, name: name, value: x.Value}, nil
		}
	}
	return xentry{}, fmt.Errorf("xattr %q: namespace not supported by ext4 (user., trusted., security., POSIX ACLs)", x.Name)
}

// aclToDisk converts a POSIX ACL from the getxattr form (version 2,
// 8-byte entries) to ext4's (version 1, 4-byte entries for the owner,
// group, mask and other entries, 8 bytes for named users and groups).
func aclToDisk(v []byte) ([]byte, error) {
	if len(v) < 4 || (len(v)-4)%8 != 0 || binary.LittleEndian.Uint32(v) != 2 {
		return nil, fmt.Errorf("not a POSIX ACL in xattr form (version 2)")
	}
	out := binary.LittleEndian.AppendUint32(nil, 1)
	for p := v[4:]; len(p) > 0; p = p[8:] {
		tag := binary.LittleEndian.Uint16(p)
		out = append(out, p[:4]...)
		switch tag {
		case 0x01, 0x04, 0x10, 0x20: // USER_OBJ, GROUP_OBJ, MASK, OTHER
		case 0x02, 0x08: // USER, GROUP
			out = append(out, p[4:8]...)
		default:
			return nil, fmt.Errorf("unknown ACL tag %#x", tag)
		}
	}
	return out, nil
}

// splitXattrs puts the longest prefix of es that fits into the inode body
// and returns the rest for the block.
func splitXattrs(es []xentry) (ibody, block []xentry) {
	used := 4 + 4 // magic and the end marker
	for i, e := range es {
		used += entryLen(e) + pad4(len(e.value))
		if used > ibodySize {
			return es[:i], es[i:]
		}
	}
	return es, nil
}

// encodeIbody encodes the in-inode attribute area (ibodySize bytes,
// starting with the magic). Value offsets count from the first entry;
// entry hashes are 0, as the kernel and e2fsprogs write them.
func encodeIbody(es []xentry) []byte {
	if len(es) == 0 {
		return nil
	}
	b := make([]byte, ibodySize)
	binary.LittleEndian.PutUint32(b, xattrMagic)
	first := 4
	pos, end := first, ibodySize
	for _, e := range es {
		voff := 0
		if len(e.value) > 0 {
			end -= pad4(len(e.value))
			copy(b[end:], e.value)
			voff = end - first
		}
		putEntry(b[pos:], e, voff, 0)
		pos += entryLen(e)
	}
	return b
}

func putEntry(b []byte, e xentry, voff int, hash uint32) {
	b[0] = byte(len(e.name))
	b[1] = e.index
	binary.LittleEndian.PutUint16(b[2:], uint16(voff))
	binary.LittleEndian.PutUint32(b[4:], 0)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(e.value)))
	binary.LittleEndian.PutUint32(b[12:], hash)
	copy(b[16:], e.name)
}

// blockFits reports whether es fit in one xattr block.
func blockFits(es []xentry) bool {
	used := xattrHdrSize + 4
	for _, e := range es {
		used += entryLen(e) + pad4(len(e.value))
	}
	return used <= BlockSize
}

// encodeXblock encodes an xattr block with refcount 1 and no checksum
// (both are set when it is written).
func encodeXblock(es []xentry) []byte {
	b := make([]byte, BlockSize)
	binary.LittleEndian.PutUint32(b, xattrMagic)
	binary.LittleEndian.PutUint32(b[4:], 1)
	binary.LittleEndian.PutUint32(b[8:], 1)
	pos, end := xattrHdrSize, BlockSize
	var blockHash uint32
	for _, e := range es {
		voff := 0
		if len(e.value) > 0 {
			end -= pad4(len(e.value))
			copy(b[end:], e.value)
			voff = end
		}
		h := xattrHash(e)
		putEntry(b[pos:], e, voff, h)
		pos += entryLen(e)
		// ext4_xattr_rehash: the block hash combines the entry hashes.
		blockHash = blockHash<<16 ^ blockHash>>16 ^ h
	}
	binary.LittleEndian.PutUint32(b[12:], blockHash)
	return b
}

// xattrHash is ext4_xattr_hash_entry: over the name bytes (unsigned),
// then the value as little-endian words, zero-padded.
func xattrHash(e xentry) uint32 {
	var h uint32
	for i := 0; i < len(e.name); i++ {
		h = h<<5 ^ h>>27 ^ uint32(e.name[i])
	}
	v := e.value
	for i := 0; i < len(v); i += 4 {
		var w [4]byte
		copy(w[:], v[i:])
		h = h<<16 ^ h>>16 ^ binary.LittleEndian.Uint32(w[:])
	}
	return h
}

// xblockFinish sets the refcount and, if csum, the checksum of an xattr
// block at physical block blk.
func xblockFinish(b []byte, refs uint32, blk uint64, fsSeed uint32, csum bool) {
	binary.LittleEndian.PutUint32(b[4:], refs)
	binary.LittleEndian.PutUint32(b[16:], 0)
	if !csum {
		return
	}
	c := crc32c(crc32cU64(fsSeed, blk), b)
	binary.LittleEndian.PutUint32(b[16:], c)
}

// xblockKey identifies an xattr block's content for sharing.
func xblockKey(b []byte) string {
	return string(bytes.TrimRight(b, "\x00"))
}
