package lzma

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

// The match finders, after liblzma's lz/lz_encoder_mf.c and
// lz_encoder_hash.h. liblzma slides a window over its input; here the
// whole block is in memory, so the window is the block and positions are
// offsets in it. Match distances are still limited by the dictionary
// (cyclicSize), and hash entries keep liblzma's encoding: a position plus
// cyclicSize, 0 meaning empty, so no normalization is ever needed for
// blocks below 4 GiB - cyclicSize.

const (
	mfHC3 = iota
	mfHC4
	mfBT4
)

const (
	hash2Size = 1 << 10
	hash3Size = 1 << 16
	fix3      = hash2Size
	fix4      = hash2Size + hash3Size

	matchLenMax = 273
)

// hashTable is liblzma's lzma_crc32_table[0].
var hashTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i)
		for range 8 {
			if r&1 != 0 {
				r = r>>1 ^ crc32.IEEE
			} else {
				r >>= 1
			}
		}
		t[i] = r
	}
	return t
}()

type match struct{ len, dist uint32 }

type matchFinder struct {
	buf []byte // the block, then memcmpPad zero bytes

	readPos   uint32 // next byte to run through the match finder
	readAhead uint32 // bytes run through it but not yet encoded
	writePos  uint32 // end of the block
	pending   uint32

	cyclicPos  uint32
	cyclicSize uint32
	offset     uint32 // hash value of position 0

	hash     []uint32
	son      []uint32
	hashMask uint32
	depth    uint32
	niceLen  uint32
	kind     int

	// sink takes the loads of touchNext, which only warm the cache.
	sink uint32
}

// memcmpPad lets memcmplen load 8 bytes at a time near the block's end.
const memcmpPad = 8

func (mf *matchFinder) avail() uint32 { return mf.writePos - mf.readPos }

func (mf *matchFinder) unencoded() uint32 { return mf.writePos - mf.readPos + mf.readAhead }

// memcmplen returns the length of the common prefix of buf[a:] and
// buf[b:], knowing the first n bytes are equal, at most limit.
func memcmplen(buf []byte, a, b, n, limit uint32) uint32 {
	for n+8 <= limit {
		x := binary.LittleEndian.Uint64(buf[a+n:]) ^ binary.LittleEndian.Uint64(buf[b+n:])
		if x != 0 {
			return n + uint32(bits.TrailingZeros64(x)>>3)
		}
		n += 8
	}
	for n < limit && buf[a+n] == buf[b+n] {
		n++
	}
	return n
}

func (mf *matchFinder) init(buf []byte, dictSize uint32, kind int, niceLen, depth uint32) {
	mf.kind = kind
	mf.cyclicSize = dictSize + 1
	mf.niceLen = niceLen
	hashBytes := uint32(4)
	if kind == mfHC3 {
		hashBytes = 3
	}
	hs := dictSize - 1
	hs |= hs >> 1
	hs |= hs >> 2
	hs |= hs >> 4
	hs |= hs >> 8
	hs >>= 1
	hs |= 0xFFFF
	if hs > 1<<24 {
		if hashBytes == 3 {
			hs = 1<<24 - 1
		} else {
			hs >>= 1
		}
	}
	mf.hashMask = hs
	n := int(hs) + 1 + hash2Size
	if hashBytes > 3 {
		n += hash3Size
	}
	if cap(mf.hash) >= n {
		mf.hash = mf.hash[:n]
		clear(mf.hash)
	} else {
		mf.hash = make([]uint32, n)
	}
	// Positions never wrap around in a block shorter than the
	// dictionary, so the block bounds the tree or chains.
	sons := min(int(mf.cyclicSize), len(buf)-memcmpPad+1)
	if kind == mfBT4 {
		sons *= 2
	}
	if cap(mf.son) < sons {
		// Entries are written before they are read, as in liblzma.
		mf.son = make([]uint32, sons)
	}
	mf.son = mf.son[:sons]
	mf.depth = depth
	if depth == 0 {
		if kind == mfBT4 {
			mf.depth = 16 + niceLen/2
		} else {
			mf.depth = 4 + niceLen/4
		}
	}
	mf.buf = buf
	mf.writePos = uint32(len(buf) - memcmpPad)
	mf.readPos, mf.readAhead, mf.pending, mf.cyclicPos = 0, 0, 0, 0
	mf.offset = mf.cyclicSize
}

func (mf *matchFinder) movePos() {
	mf.cyclicPos++
	if mf.cyclicPos == mf.cyclicSize {
		mf.cyclicPos = 0
	}
	mf.readPos++
}

func (mf *matchFinder) movePending() {
	mf.readPos++
	mf.pending++
}

// find runs the match finder on the byte at readPos and returns the
// length of the longest match (extended past niceLen up to 273) and the
// number of matches in m, longest last (liblzma's lzma_mf_find).
func (mf *matchFinder) find(m *[matchLenMax + 1]match) (lenBest, count uint32) {
	switch mf.kind {
	case mfHC3:
		count = mf.hc3Find(m)
	case mfHC4:
		count = mf.hc4Find(m)
	default:
		count = mf.bt4Find(m)
	}
	if count > 0 {
		lenBest = m[count-1].len
		if lenBest == mf.niceLen {
			limit := min(mf.avail()+1, matchLenMax)
			p1 := mf.readPos - 1
			lenBest = memcmplen(mf.buf, p1, p1-m[count-1].dist-1, lenBest, limit)
		}
	}
	mf.readAhead++
	return lenBest, count
}

// skip runs the match finder over n bytes without collecting matches.
func (mf *matchFinder) skip(n uint32) {
	if n == 0 {
		return
	}
	mf.readAhead += n
	switch mf.kind {
	case mfHC3:
		mf.hc3Skip(n)
	case mfHC4:
		mf.hc4Skip(n)
	default:
		mf.bt4Skip(n)
	}
}

// touchNext3 and touchNext4 load the hash bucket of the position after
// cur, which the next call to find or skip reads, so that its cache miss
// overlaps the chain or tree walk at cur instead of stalling that next
// call. Hash buckets are spread over megabytes, and on image data this
// wait was a fifth of the encoder's time at preset 3. The caller has
// checked that at least 3 (4) bytes follow cur, so the bytes read are
// in the block or its padding.
func (mf *matchFinder) touchNext3(cur uint32) {
	_, h := hash3(mf.buf, cur+1, mf.hashMask)
	mf.sink += mf.hash[fix3+h]
}

func (mf *matchFinder) touchNext4(cur uint32) {
	_, _, h := hash4(mf.buf, cur+1, mf.hashMask)
	mf.sink += mf.hash[fix4+h]
}

func hcFind(buf []byte, lenLimit, pos, cur, curMatch, depth uint32, son []uint32,
	cyclicPos, cyclicSize uint32, m *[matchLenMax + 1]match, n, lenBest uint32) uint32 {
	son[cyclicPos] = curMatch
	for {
		delta := pos - curMatch
		if depth == 0 || delta >= cyclicSize {
			return n
		}
		depth--
		pb := cur - delta
		i := cyclicPos - delta
		if delta > cyclicPos {
			i += cyclicSize
		}
		curMatch = son[i]
		if buf[pb+lenBest] == buf[cur+lenBest] && buf[pb] == buf[cur] {
			l := memcmplen(buf, pb, cur, 1, lenLimit)
			if lenBest < l {
				lenBest = l
				m[n] = match{l, delta - 1}
				n++
				if l == lenLimit {
					return n
				}
			}
		}
	}
}

func (mf *matchFinder) hc3Find(m *[matchLenMax + 1]match) uint32 {
	lenLimit := mf.avail()
	if mf.niceLen <= lenLimit {
		lenLimit = mf.niceLen
	} else if lenLimit < 3 {
		mf.movePending()
		return 0
	}
	buf := mf.buf
	cur := mf.readPos
	pos := cur + mf.offset
	h2, hv := hash3(buf, cur, mf.hashMask)
	delta2 := pos - mf.hash[h2]
	curMatch := mf.hash[fix3+hv]
	mf.hash[h2] = pos
	mf.hash[fix3+hv] = pos
	mf.touchNext3(cur)

	lenBest := uint32(2)
	n := uint32(0)
	if delta2 < mf.cyclicSize && buf[cur-delta2] == buf[cur] {
		lenBest = memcmplen(buf, cur-delta2, cur, lenBest, lenLimit)
		m[0] = match{lenBest, delta2 - 1}
		n = 1
		if lenBest == lenLimit {
			mf.son[mf.cyclicPos] = curMatch
			mf.movePos()
			return 1
		}
	}
	n = hcFind(buf, lenLimit, pos, cur, curMatch, mf.depth, mf.son, mf.cyclicPos, mf.cyclicSize, m, n, lenBest)
	mf.movePos()
	return n
}

func (mf *matchFinder) hc3Skip(amount uint32) {
	for ; amount != 0; amount-- {
		if mf.avail() < 3 {
			mf.movePending()
			continue
		}
		buf := mf.buf
		cur := mf.readPos
		pos := cur + mf.offset
		h2, hv := hash3(buf, cur, mf.hashMask)
		curMatch := mf.hash[fix3+hv]
		mf.hash[h2] = pos
		mf.hash[fix3+hv] = pos
		mf.son[mf.cyclicPos] = curMatch
		mf.movePos()
	}
}

// hash3 returns the 2- and 3-byte hashes of buf[cur:cur+3].
func hash3(buf []byte, cur, mask uint32) (h2, h3 uint32) {
	temp := hashTable[buf[cur]] ^ uint32(buf[cur+1])
	return temp & (hash2Size - 1), (temp ^ uint32(buf[cur+2])<<8) & mask
}

// hash4 returns the 2-, 3- and 4-byte hashes of buf[cur:cur+4].
func hash4(buf []byte, cur, mask uint32) (h2, h3, h4 uint32) {
	temp := hashTable[buf[cur]] ^ uint32(buf[cur+1])
	h2 = temp & (hash2Size - 1)
	temp ^= uint32(buf[cur+2]) << 8
	h3 = temp & (hash3Size - 1)
	h4 = (temp ^ hashTable[buf[cur+3]]<<5) & mask
	return
}

func (mf *matchFinder) hc4Find(m *[matchLenMax + 1]match) uint32 {
	lenLimit := mf.avail()
	if mf.niceLen <= lenLimit {
		lenLimit = mf.niceLen
	} else if lenLimit < 4 {
		mf.movePending()
		return 0
	}
	buf := mf.buf
	cur := mf.readPos
	pos := cur + mf.offset
	h2, h3, hv := hash4(buf, cur, mf.hashMask)
	delta2 := pos - mf.hash[h2]
	delta3 := pos - mf.hash[fix3+h3]
	curMatch := mf.hash[fix4+hv]
	mf.hash[h2] = pos
	mf.hash[fix3+h3] = pos
	mf.hash[fix4+hv] = pos
	mf.touchNext4(cur)

	lenBest := uint32(1)
	n := uint32(0)
	if delta2 < mf.cyclicSize && buf[cur-delta2] == buf[cur] {
		lenBest = 2
		m[0] = match{2, delta2 - 1}
		n = 1
	}
	if delta2 != delta3 && delta3 < mf.cyclicSize && buf[cur-delta3] == buf[cur] {
		lenBest = 3
		m[n].dist = delta3 - 1
		n++
		delta2 = delta3
	}
	if n != 0 {
		lenBest = memcmplen(buf, cur-delta2, cur, lenBest, lenLimit)
		m[n-1].len = lenBest
		if lenBest == lenLimit {
			mf.son[mf.cyclicPos] = curMatch
			mf.movePos()
			return n
		}
	}
	if lenBest < 3 {
		lenBest = 3
	}
	n = hcFind(buf, lenLimit, pos, cur, curMatch, mf.depth, mf.son, mf.cyclicPos, mf.cyclicSize, m, n, lenBest)
	mf.movePos()
	return n
}

func (mf *matchFinder) hc4Skip(amount uint32) {
	for ; amount != 0; amount-- {
		if mf.avail() < 4 {
			mf.movePending()
			continue
		}
		cur := mf.readPos
		pos := cur + mf.offset
		h2, h3, hv := hash4(mf.buf, cur, mf.hashMask)
		curMatch := mf.hash[fix4+hv]
		mf.hash[h2] = pos
		mf.hash[fix3+h3] = pos
		mf.hash[fix4+hv] = pos
		mf.son[mf.cyclicPos] = curMatch
		mf.movePos()
	}
}

func btFind(buf []byte, lenLimit, pos, cur, curMatch, depth uint32, son []uint32,
	cyclicPos, cyclicSize uint32, m *[matchLenMax + 1]match, n, lenBest uint32) uint32 {
	ptr0 := cyclicPos<<1 + 1
	ptr1 := cyclicPos << 1
	len0, len1 := uint32(0), uint32(0)
	for {
		delta := pos - curMatch
		if depth == 0 || delta >= cyclicSize {
			son[ptr0] = 0
			son[ptr1] = 0
			return n
		}
		depth--
		pair := cyclicPos - delta
		if delta > cyclicPos {
			pair += cyclicSize
		}
		pair <<= 1
		pb := cur - delta
		l := min(len0, len1)
		if buf[pb+l] == buf[cur+l] {
			l = memcmplen(buf, pb, cur, l+1, lenLimit)
			if lenBest < l {
				lenBest = l
				m[n] = match{l, delta - 1}
				n++
				if l == lenLimit {
					son[ptr1] = son[pair]
					son[ptr0] = son[pair+1]
					return n
				}
			}
		}
		if buf[pb+l] < buf[cur+l] {
			son[ptr1] = curMatch
			ptr1 = pair + 1
			curMatch = son[ptr1]
			len1 = l
		} else {
			son[ptr0] = curMatch
			ptr0 = pair
			curMatch = son[ptr0]
			len0 = l
		}
	}
}

func btSkip(buf []byte, lenLimit, pos, cur, curMatch, depth uint32, son []uint32,
	cyclicPos, cyclicSize uint32) {
	ptr0 := cyclicPos<<1 + 1
	ptr1 := cyclicPos << 1
	len0, len1 := uint32(0), uint32(0)
	for {
		delta := pos - curMatch
		if depth == 0 || delta >= cyclicSize {
			son[ptr0] = 0
			son[ptr1] = 0
			return
		}
		depth--
		pair := cyclicPos - delta
		if delta > cyclicPos {
			pair += cyclicSize
		}
		pair <<= 1
		pb := cur - delta
		l := min(len0, len1)
		if buf[pb+l] == buf[cur+l] {
			l = memcmplen(buf, pb, cur, l+1, lenLimit)
			if l == lenLimit {
				son[ptr1] = son[pair]
				son[ptr0] = son[pair+1]
				return
			}
		}
		if buf[pb+l] < buf[cur+l] {
			son[ptr1] = curMatch
			ptr1 = pair + 1
			curMatch = son[ptr1]
			len1 = l
		} else {
			son[ptr0] = curMatch
			ptr0 = pair
			curMatch = son[ptr0]
			len0 = l
		}
	}
}

func (mf *matchFinder) bt4Find(m *[matchLenMax + 1]match) uint32 {
	lenLimit := mf.avail()
	if mf.niceLen <= lenLimit {
		lenLimit = mf.niceLen
	} else if lenLimit < 4 {
		mf.movePending()
		return 0
	}
	buf := mf.buf
	cur := mf.readPos
	pos := cur + mf.offset
	h2, h3, hv := hash4(buf, cur, mf.hashMask)
	delta2 := pos - mf.hash[h2]
	delta3 := pos - mf.hash[fix3+h3]
	curMatch := mf.hash[fix4+hv]
	mf.hash[h2] = pos
	mf.hash[fix3+h3] = pos
	mf.hash[fix4+hv] = pos
	mf.touchNext4(cur)

	lenBest := uint32(1)
	n := uint32(0)
	if delta2 < mf.cyclicSize && buf[cur-delta2] == buf[cur] {
		lenBest = 2
		m[0] = match{2, delta2 - 1}
		n = 1
	}
	if delta2 != delta3 && delta3 < mf.cyclicSize && buf[cur-delta3] == buf[cur] {
		lenBest = 3
		m[n].dist = delta3 - 1
		n++
		delta2 = delta3
	}
	if n != 0 {
		lenBest = memcmplen(buf, cur, cur-delta2, lenBest, lenLimit)
		m[n-1].len = lenBest
		if lenBest == lenLimit {
			btSkip(buf, lenLimit, pos, cur, curMatch, mf.depth, mf.son, mf.cyclicPos, mf.cyclicSize)
			mf.movePos()
			return n
		}
	}
	if lenBest < 3 {
		lenBest = 3
	}
	n = btFind(buf, lenLimit, pos, cur, curMatch, mf.depth, mf.son, mf.cyclicPos, mf.cyclicSize, m, n, lenBest)
	mf.movePos()
	return n
}

func (mf *matchFinder) bt4Skip(amount uint32) {
	for ; amount != 0; amount-- {
		lenLimit := mf.avail()
		if mf.niceLen <= lenLimit {
			lenLimit = mf.niceLen
		} else if lenLimit < 4 {
			mf.movePending()
			continue
		}
		cur := mf.readPos
		pos := cur + mf.offset
		h2, h3, hv := hash4(mf.buf, cur, mf.hashMask)
		curMatch := mf.hash[fix4+hv]
		mf.hash[h2] = pos
		mf.hash[fix3+h3] = pos
		mf.hash[fix4+hv] = pos
		btSkip(mf.buf, lenLimit, pos, cur, curMatch, mf.depth, mf.son, mf.cyclicPos, mf.cyclicSize)
		mf.movePos()
	}
}
