// Package lzma is an LZMA2 encoder ported from liblzma (XZ Utils 5.4),
// written to produce the very bytes `xz --format=raw --lzma2=preset=N`
// produces, for whole blocks held in memory.
package lzma

import "fmt"

// Encoder encodes blocks to raw LZMA2. Its tables take several MiB, so
// one Encoder serves many blocks; it is not safe for concurrent use.
type Encoder struct {
	dictSize uint32
	fast     bool
	mfKind   int
	niceLen  uint32
	depth    uint32

	mf     matchFinder
	window []byte
	rc     rangeEncoder

	lc, lp, lpMask, posMask uint32

	initialized        bool
	uncompSize         uint64
	state              uint32
	reps               [reps]uint32
	matches            [matchLenMax + 1]match
	matchesCount       uint32
	longestMatchLength uint32

	literal     [16][literalCoderSize]uint16
	isMatch     [states][posStatesMax]uint16
	isRep       [states]uint16
	isRep0      [states]uint16
	isRep1      [states]uint16
	isRep2      [states]uint16
	isRep0Long  [states][posStatesMax]uint16
	distSlot    [distStates][1 << distSlotBits]uint16
	distSpecial [fullDistances - distModelEnd]uint16
	distAlign   [alignSize]uint16
	matchLen    lengthEncoder
	repLen      lengthEncoder

	distSlotPrices  [distStates][1 << distSlotBits]uint32
	distPrices      [distStates][fullDistances]uint32
	distTableSize   uint32
	matchPriceCount uint32
	alignPrices     [alignSize]uint32
	alignPriceCount uint32

	optsEndIndex     uint32
	optsCurrentIndex uint32
	opts             [opts]optimal
}

// NewEncoder returns an encoder with the settings of xz's preset 0-9
// (lzma_lzma_preset): lc=3 lp=0 pb=2; presets 0-3 use the fast parser
// with hash chains, 4-9 the normal parser with binary trees.
func NewEncoder(preset int) (*Encoder, error) {
	if preset < 0 || preset > 9 {
		return nil, fmt.Errorf("lzma preset %d out of range 0-9", preset)
	}
	dictPow2 := [...]uint32{18, 20, 21, 22, 22, 23, 23, 24, 25, 26}
	e := &Encoder{dictSize: 1 << dictPow2[preset], lc: 3, lp: 0, posMask: 3}
	e.lpMask = 1<<e.lp - 1
	if preset <= 3 {
		e.fast = true
		e.mfKind = mfHC4
		if preset == 0 {
			e.mfKind = mfHC3
		}
		e.niceLen = 273
		if preset <= 1 {
			e.niceLen = 128
		}
		e.depth = [...]uint32{4, 8, 24, 48}[preset]
	} else {
		e.mfKind = mfBT4
		e.niceLen = 64
		switch preset {
		case 4:
			e.niceLen = 16
		case 5:
			e.niceLen = 32
		}
		// Round the dictionary up to 2^n; its slots are those priced.
		n := uint32(0)
		for 1<<n < e.dictSize {
			n++
		}
		e.distTableSize = 2 * n
		e.matchLen.tableSize = e.niceLen + 1 - matchLenMin
		e.repLen.tableSize = e.niceLen + 1 - matchLenMin
	}
	return e, nil
}

// DictSize is the dictionary size of the encoder's preset.
func (e *Encoder) DictSize() int { return int(e.dictSize) }

// DictByte is the LZMA2 filter property byte for a dictionary of size
// bytes (lzma_lzma2_props_encode): size rounded up to 2^n or 2^n+2^(n-1).
func DictByte(size int) byte {
	d := uint32(max(size, 4096))
	d--
	d |= d >> 2
	d |= d >> 3
	d |= d >> 4
	d |= d >> 8
	d |= d >> 16
	if d == ^uint32(0) {
		return 40
	}
	return byte(distSlot(d+1) - 24)
}

// MaxBlock is the largest input Encode takes: match-finder positions
// are 32-bit and never renormalized.
const MaxBlock = 1<<31 - 1

// Encode appends src, encoded as one raw LZMA2 stream with its end
// marker, to dst and returns the extended slice.
func (e *Encoder) Encode(dst, src []byte) []byte {
	if len(src) > MaxBlock {
		panic(fmt.Sprintf("lzma: block of %d bytes exceeds %d", len(src), MaxBlock))
	}
	if cap(e.window) < len(src)+memcmpPad {
		e.window = make([]byte, len(src)+memcmpPad)
	}
	w := e.window[:len(src)+memcmpPad]
	copy(w, src)
	clear(w[len(src):])
	e.mf.init(w, e.dictSize, e.mfKind, e.niceLen, e.depth)
	e.initialized = false
	e.uncompSize = 0
	e.matchesCount, e.longestMatchLength = 0, 0
	e.resetState()

	mf := &e.mf
	needProps, needStateReset, needDictReset := true, false, true
	for mf.unencoded() != 0 {
		if needStateReset {
			e.resetState()
		}
		hdr := 5
		if needProps {
			hdr = 6
		}
		chunk := len(dst)
		for range hdr {
			dst = append(dst, 0)
		}
		readStart := mf.readPos - mf.readAhead
		limit := readStart + lzma2UncompressedMax - matchLenMax
		e.rc.out = dst
		e.encodeChunk(limit, len(dst))
		dst = e.rc.out
		e.rc.out = nil
		u := int(mf.readPos - mf.readAhead - readStart)
		c := len(dst) - chunk - hdr

		if c >= u {
			// Stored chunk: it did not compress, so take the bytes
			// as they are, with those already read ahead.
			u += int(mf.readAhead)
			mf.readAhead = 0
			ctrl := byte(2)
			if needDictReset {
				ctrl = 1
			}
			needDictReset = false
			end := int(mf.readPos)
			dst = append(dst[:chunk], ctrl, byte((u-1)>>8), byte(u-1))
			dst = append(dst, src[end-u:end]...)
			needStateReset = true
			continue
		}

		h := dst[chunk : chunk+hdr]
		switch {
		case needProps && needDictReset:
			h[0] = 0xE0
		case needProps:
			h[0] = 0xC0
		case needStateReset:
			h[0] = 0xA0
		default:
			h[0] = 0x80
		}
		h[0] += byte((u - 1) >> 16)
		h[1] = byte((u - 1) >> 8)
		h[2] = byte(u - 1)
		h[3] = byte((c - 1) >> 8)
		h[4] = byte(c - 1)
		if needProps {
			h[5] = byte((2*5+e.lp)*9 + e.lc)
		}
		needProps, needStateReset, needDictReset = false, false, false
	}
	return append(dst, 0)
}
