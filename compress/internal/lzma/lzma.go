package lzma

import "math/bits"

// The LZMA encoder proper, after liblzma's lzma/lzma_encoder.c and
// lzma_common.h: probabilities, states and the coding of one symbol.

const (
	states    = 12
	litStates = 7

	posStatesMax = 16
	lenLowBits   = 3
	lenMidBits   = 3
	lenHighBits  = 8
	lenLowSyms   = 1 << lenLowBits
	lenMidSyms   = 1 << lenMidBits
	lenSymbols   = lenLowSyms + lenMidSyms + 1<<lenHighBits
	matchLenMin  = 2

	distStates     = 4
	distSlotBits   = 6
	distModelStart = 4
	distModelEnd   = 14
	fullDistances  = 1 << (distModelEnd / 2)
	alignBits      = 4
	alignSize      = 1 << alignBits
	alignMask      = alignSize - 1
	reps           = 4

	opts = 1 << 12

	literalCoderSize = 0x300
)

func updateLiteral(s uint32) uint32 {
	switch {
	case s <= 3:
		return 0
	case s <= 9:
		return s - 3
	default:
		return s - 6
	}
}

func updateMatch(s uint32) uint32 {
	if s < litStates {
		return 7
	}
	return 10
}

func updateLongRep(s uint32) uint32 {
	if s < litStates {
		return 8
	}
	return 11
}

func updateShortRep(s uint32) uint32 {
	if s < litStates {
		return 9
	}
	return 11
}

func distState(l uint32) uint32 {
	if l < distStates+matchLenMin {
		return l - matchLenMin
	}
	return distStates - 1
}

// distSlot is liblzma's get_dist_slot: the index of the highest bit,
// doubled, plus the bit below it.
func distSlot(d uint32) uint32 {
	if d < 4 {
		return d
	}
	n := uint32(bits.Len32(d)) - 1
	return n<<1 | (d>>(n-1))&1
}

type lengthEncoder struct {
	choice    uint16
	choice2   uint16
	low       [posStatesMax][lenLowSyms]uint16
	mid       [posStatesMax][lenMidSyms]uint16
	high      [1 << lenHighBits]uint16
	prices    [posStatesMax][lenSymbols]uint32
	tableSize uint32
	counters  [posStatesMax]uint32
}

func (lc *lengthEncoder) updatePrices(posState uint32) {
	n := lc.tableSize
	lc.counters[posState] = n
	a0 := bit0Price(lc.choice)
	a1 := bit1Price(lc.choice)
	b0 := a1 + bit0Price(lc.choice2)
	b1 := a1 + bit1Price(lc.choice2)
	p := &lc.prices[posState]
	i := uint32(0)
	for ; i < n && i < lenLowSyms; i++ {
		p[i] = a0 + bittreePrice(lc.low[posState][:], lenLowBits, i)
	}
	for ; i < n && i < lenLowSyms+lenMidSyms; i++ {
		p[i] = b0 + bittreePrice(lc.mid[posState][:], lenMidBits, i-lenLowSyms)
	}
	for ; i < n; i++ {
		p[i] = b1 + bittreePrice(lc.high[:], lenHighBits, i-lenLowSyms-lenMidSyms)
	}
}

func (lc *lengthEncoder) reset(posStates uint32, fast bool) {
	lc.choice = probInit
	lc.choice2 = probInit
	for ps := range posStates {
		for i := range lc.low[ps] {
			lc.low[ps][i] = probInit
		}
		for i := range lc.mid[ps] {
			lc.mid[ps][i] = probInit
		}
	}
	for i := range lc.high {
		lc.high[i] = probInit
	}
	if !fast {
		for ps := range posStates {
			lc.updatePrices(ps)
		}
	}
}

func (e *Encoder) length(lc *lengthEncoder, posState, l uint32) {
	// liblzma queues a symbol's bits and updates their probabilities
	// after the symbol, so the prices it refreshes here are those from
	// before this length: refresh them before coding it.
	if !e.fast {
		lc.counters[posState]--
		if lc.counters[posState] == 0 {
			lc.updatePrices(posState)
		}
	}
	l -= matchLenMin
	rc := &e.rc
	if l < lenLowSyms {
		rc.bit(&lc.choice, 0)
		rc.bittree(lc.low[posState][:], lenLowBits, l)
	} else {
		rc.bit(&lc.choice, 1)
		l -= lenLowSyms
		if l < lenMidSyms {
			rc.bit(&lc.choice2, 0)
			rc.bittree(lc.mid[posState][:], lenMidBits, l)
		} else {
			rc.bit(&lc.choice2, 1)
			rc.bittree(lc.high[:], lenHighBits, l-lenMidSyms)
		}
	}
}

// literalProbs returns the literal coder for position pos after byte prev.
func (e *Encoder) literalProbs(pos uint32, prev byte) *[literalCoderSize]uint16 {
	return &e.literal[((pos&e.lpMask)<<e.lc)+uint32(prev)>>(8-e.lc)]
}

func (e *Encoder) encodeLiteral(position uint32) {
	buf := e.mf.buf
	i := e.mf.readPos - e.mf.readAhead
	cur := uint32(buf[i])
	probs := e.literalProbs(position, buf[i-1])
	if e.state < litStates {
		e.rc.bittree(probs[:], 8, cur)
	} else {
		matchByte := uint32(buf[i-e.reps[0]-1])
		offset := uint32(0x100)
		sym := cur + 1<<8
		for sym < 1<<16 {
			matchByte <<= 1
			mbit := matchByte & offset
			e.rc.bit(&probs[offset+mbit+sym>>8], (sym>>7)&1)
			sym <<= 1
			offset &^= matchByte ^ sym
		}
	}
	e.state = updateLiteral(e.state)
}

func (e *Encoder) encodeMatch(posState, dist, l uint32) {
	e.state = updateMatch(e.state)
	e.length(&e.matchLen, posState, l)
	slot := distSlot(dist)
	e.rc.bittree(e.distSlot[distState(l)][:], distSlotBits, slot)
	if slot >= distModelStart {
		footer := slot>>1 - 1
		base := (2 | slot&1) << footer
		reduced := dist - base
		if slot < distModelEnd {
			e.rc.bittreeReverse(e.distSpecial[:], int(base)-int(slot)-1, footer, reduced)
		} else {
			e.rc.direct(reduced>>alignBits, footer-alignBits)
			e.rc.bittreeReverse(e.distAlign[:], 0, alignBits, reduced&alignMask)
			e.alignPriceCount++
		}
	}
	e.reps[3] = e.reps[2]
	e.reps[2] = e.reps[1]
	e.reps[1] = e.reps[0]
	e.reps[0] = dist
	e.matchPriceCount++
}

func (e *Encoder) encodeRepMatch(posState, rep, l uint32) {
	s := e.state
	if rep == 0 {
		e.rc.bit(&e.isRep0[s], 0)
		b := uint32(0)
		if l != 1 {
			b = 1
		}
		e.rc.bit(&e.isRep0Long[s][posState], b)
	} else {
		dist := e.reps[rep]
		e.rc.bit(&e.isRep0[s], 1)
		if rep == 1 {
			e.rc.bit(&e.isRep1[s], 0)
		} else {
			e.rc.bit(&e.isRep1[s], 1)
			e.rc.bit(&e.isRep2[s], rep-2)
			if rep == 3 {
				e.reps[3] = e.reps[2]
			}
			e.reps[2] = e.reps[1]
		}
		e.reps[1] = e.reps[0]
		e.reps[0] = dist
	}
	if l == 1 {
		e.state = updateShortRep(s)
	} else {
		e.length(&e.repLen, posState, l)
		e.state = updateLongRep(s)
	}
}

// encodeSymbol codes a literal (back == ^0), a repeated match (back <
// reps) or a match at distance back-reps.
func (e *Encoder) encodeSymbol(back, l, position uint32) {
	posState := position & e.posMask
	if back == ^uint32(0) {
		e.rc.bit(&e.isMatch[e.state][posState], 0)
		e.encodeLiteral(position)
	} else {
		e.rc.bit(&e.isMatch[e.state][posState], 1)
		if back < reps {
			e.rc.bit(&e.isRep[e.state], 1)
			e.encodeRepMatch(posState, back, l)
		} else {
			e.rc.bit(&e.isRep[e.state], 0)
			e.encodeMatch(posState, back-reps, l)
		}
	}
	e.mf.readAhead -= l
}

// resetState is lzma_lzma_encoder_reset: new probabilities, LZMA state
// and range encoder, as at an LZMA2 state reset.
func (e *Encoder) resetState() {
	e.rc.reset()
	e.state = 0
	e.reps = [reps]uint32{}
	for i := range 1 << (e.lc + e.lp) {
		for j := range e.literal[i] {
			e.literal[i][j] = probInit
		}
	}
	for i := range states {
		for j := range e.posMask + 1 {
			e.isMatch[i][j] = probInit
			e.isRep0Long[i][j] = probInit
		}
		e.isRep[i] = probInit
		e.isRep0[i] = probInit
		e.isRep1[i] = probInit
		e.isRep2[i] = probInit
	}
	for i := range e.distSpecial {
		e.distSpecial[i] = probInit
	}
	for i := range e.distSlot {
		for j := range e.distSlot[i] {
			e.distSlot[i][j] = probInit
		}
	}
	for i := range e.distAlign {
		e.distAlign[i] = probInit
	}
	e.matchLen.reset(e.posMask+1, e.fast)
	e.repLen.reset(e.posMask+1, e.fast)
	e.matchPriceCount = ^uint32(0) / 2
	e.alignPriceCount = ^uint32(0) / 2
	e.optsEndIndex = 0
	e.optsCurrentIndex = 0
}

const (
	lzma2ChunkMax        = 1 << 16
	lzma2UncompressedMax = 1 << 21
	loopInputMax         = opts + 1
)

// encodeChunk is lzma_lzma_encode for LZMA2: it codes symbols until the
// uncompressed position reaches limit, the chunk's compressed size nears
// 64 KiB, or the input ends, then flushes the range encoder. The chunk's
// compressed bytes start at e.rc.out[start:].
func (e *Encoder) encodeChunk(limit uint32, start int) {
	mf := &e.mf
	if !e.initialized {
		if mf.readPos != mf.writePos {
			mf.skip(1)
			mf.readAhead = 0
			e.rc.bit(&e.isMatch[0][0], 0)
			e.rc.bittree(e.literal[0][:], 8, uint32(mf.buf[0]))
			e.uncompSize++
		}
		e.initialized = true
	}
	for {
		if mf.readPos-mf.readAhead >= limit ||
			len(e.rc.out)-start+e.rc.pending() >= lzma2ChunkMax-loopInputMax {
			break
		}
		if mf.readPos >= mf.writePos && mf.readAhead == 0 {
			break
		}
		var back, l uint32
		if e.fast {
			back, l = e.optimumFast()
		} else {
			back, l = e.optimumNormal(uint32(e.uncompSize))
		}
		e.encodeSymbol(back, l, uint32(e.uncompSize))
		e.uncompSize += uint64(l)
	}
	e.rc.flush()
}
