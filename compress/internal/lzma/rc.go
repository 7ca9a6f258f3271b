package lzma

// The range encoder and the bit prices, after liblzma's
// rangecoder/range_encoder.h and price.h.
//
// liblzma queues the bits of one symbol and encodes them later; encoding
// them at once gives the same bytes because the queue is drained before
// anything looks at the output. What matters for identical output is
// that the range is normalized before each bit, not after: the flush at
// the end of an LZMA2 chunk then writes the same number of bytes.

const (
	bitModelTotalBits = 11
	bitModelTotal     = 1 << bitModelTotalBits
	moveBits          = 5
	topValue          = 1 << 24
	probInit          = bitModelTotal / 2

	moveReducingBits = 4
	infinityPrice    = 1 << 30
)

type rangeEncoder struct {
	low       uint64
	cacheSize uint64
	rng       uint32
	cache     byte
	out       []byte
}

func (rc *rangeEncoder) reset() {
	rc.low = 0
	rc.cacheSize = 1
	rc.rng = 0xFFFFFFFF
	rc.cache = 0
}

func (rc *rangeEncoder) shiftLow() {
	if uint32(rc.low) < 0xFF000000 || uint32(rc.low>>32) != 0 {
		c := rc.cache + byte(rc.low>>32)
		rc.out = append(rc.out, c)
		for rc.cacheSize--; rc.cacheSize != 0; rc.cacheSize-- {
			rc.out = append(rc.out, 0xFF+byte(rc.low>>32))
		}
		rc.cache = byte(rc.low >> 24)
	}
	rc.cacheSize++
	rc.low = (rc.low & 0x00FFFFFF) << 8
}

func (rc *rangeEncoder) bit(p *uint16, b uint32) {
	if rc.rng < topValue {
		rc.shiftLow()
		rc.rng <<= 8
	}
	prob := uint32(*p)
	bound := (rc.rng >> bitModelTotalBits) * prob
	if b == 0 {
		rc.rng = bound
		*p = uint16(prob + (bitModelTotal-prob)>>moveBits)
	} else {
		rc.low += uint64(bound)
		rc.rng -= bound
		*p = uint16(prob - prob>>moveBits)
	}
}

func (rc *rangeEncoder) bittree(probs []uint16, bits uint32, sym uint32) {
	m := uint32(1)
	for bits != 0 {
		bits--
		b := (sym >> bits) & 1
		rc.bit(&probs[m], b)
		m = m<<1 + b
	}
}

// bittreeReverse codes sym's bits lowest first with probs[off+1...];
// off may be -1 (liblzma's dist_special + base - dist_slot - 1).
func (rc *rangeEncoder) bittreeReverse(probs []uint16, off int, bits uint32, sym uint32) {
	m := 1
	for ; bits != 0; bits-- {
		b := sym & 1
		sym >>= 1
		rc.bit(&probs[off+m], b)
		m = m<<1 + int(b)
	}
}

func (rc *rangeEncoder) direct(v uint32, bits uint32) {
	for bits != 0 {
		if rc.rng < topValue {
			rc.shiftLow()
			rc.rng <<= 8
		}
		bits--
		rc.rng >>= 1
		if (v>>bits)&1 != 0 {
			rc.low += uint64(rc.rng)
		}
	}
}

// flush writes the last bytes of a chunk and makes the encoder ready for
// the next one.
func (rc *rangeEncoder) flush() {
	// liblzma normalizes before its first flush symbol too.
	if rc.rng < topValue {
		rc.shiftLow()
	}
	rc.rng = 0xFFFFFFFF
	for range 5 {
		rc.shiftLow()
	}
	rc.reset()
}

// pending is how many bytes the encoder may still write before it is
// flushed (liblzma's rc_pending).
func (rc *rangeEncoder) pending() int { return int(rc.cacheSize) + 5 - 1 }

// prices[p>>4] is the cost of coding a 0 with probability p, in 1/16 bit.
var prices = func() (t [bitModelTotal >> moveReducingBits]uint32) {
	for i := uint32(1<<moveReducingBits) / 2; i < bitModelTotal; i += 1 << moveReducingBits {
		w, n := i, uint32(0)
		for range 4 {
			w *= w
			n <<= 1
			for w >= 1<<16 {
				w >>= 1
				n++
			}
		}
		t[i>>moveReducingBits] = bitModelTotalBits<<4 - 15 - n
	}
	return t
}()

func bitPrice(p uint16, b uint32) uint32 {
	return prices[(uint32(p)^(-b&(bitModelTotal-1)))>>moveReducingBits]
}

func bit0Price(p uint16) uint32 { return prices[p>>moveReducingBits] }

func bit1Price(p uint16) uint32 {
	return prices[(p^(bitModelTotal-1))>>moveReducingBits]
}

func bittreePrice(probs []uint16, bits uint32, sym uint32) uint32 {
	price := uint32(0)
	sym += 1 << bits
	for sym != 1 {
		b := sym & 1
		sym >>= 1
		price += bitPrice(probs[sym], b)
	}
	return price
}

func bittreeReversePrice(probs []uint16, off int, bits uint32, sym uint32) uint32 {
	price := uint32(0)
	m := 1
	for ; bits != 0; bits-- {
		b := sym & 1
		sym >>= 1
		price += bitPrice(probs[off+m], b)
		m = m<<1 + int(b)
	}
	return price
}
