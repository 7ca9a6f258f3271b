package lzma

// optimumNormal is liblzma's lzma_encoder_optimum_normal.c: the price
// driven parser of presets 4-9. It finds the cheapest way to code up to
// opts bytes ahead, then hands out its symbols one call at a time.

type optimal struct {
	state          uint32
	prev1IsLiteral bool
	prev2          bool
	posPrev2       uint32
	backPrev2      uint32
	price          uint32
	posPrev        uint32
	backPrev       uint32
	backs          [reps]uint32
}

func (e *Encoder) literalPrice(pos uint32, prev byte, matchMode bool, matchByte, sym uint32) uint32 {
	probs := e.literalProbs(pos, prev)
	if !matchMode {
		return bittreePrice(probs[:], 8, sym)
	}
	price := uint32(0)
	offset := uint32(0x100)
	sym += 1 << 8
	for sym < 1<<16 {
		matchByte <<= 1
		mbit := matchByte & offset
		price += bitPrice(probs[offset+mbit+sym>>8], (sym>>7)&1)
		sym <<= 1
		offset &^= matchByte ^ sym
	}
	return price
}

func (e *Encoder) shortRepPrice(state, posState uint32) uint32 {
	return bit0Price(e.isRep0[state]) + bit0Price(e.isRep0Long[state][posState])
}

func (e *Encoder) pureRepPrice(repIndex, state, posState uint32) uint32 {
	if repIndex == 0 {
		return bit0Price(e.isRep0[state]) + bit1Price(e.isRep0Long[state][posState])
	}
	price := bit1Price(e.isRep0[state])
	if repIndex == 1 {
		return price + bit0Price(e.isRep1[state])
	}
	return price + bit1Price(e.isRep1[state]) + bitPrice(e.isRep2[state], repIndex-2)
}

func (e *Encoder) repPrice(repIndex, l, state, posState uint32) uint32 {
	return e.repLen.prices[posState][l-matchLenMin] + e.pureRepPrice(repIndex, state, posState)
}

func (e *Encoder) distLenPrice(dist, l, posState uint32) uint32 {
	ds := distState(l)
	var price uint32
	if dist < fullDistances {
		price = e.distPrices[ds][dist]
	} else {
		price = e.distSlotPrices[ds][distSlot(dist)] + e.alignPrices[dist&alignMask]
	}
	return price + e.matchLen.prices[posState][l-matchLenMin]
}

func (e *Encoder) fillDistPrices() {
	for ds := range uint32(distStates) {
		sp := &e.distSlotPrices[ds]
		for slot := range e.distTableSize {
			sp[slot] = bittreePrice(e.distSlot[ds][:], distSlotBits, slot)
		}
		for slot := uint32(distModelEnd); slot < e.distTableSize; slot++ {
			sp[slot] += (slot>>1 - 1 - alignBits) << 4
		}
		for i := range uint32(distModelStart) {
			e.distPrices[ds][i] = sp[i]
		}
	}
	for i := uint32(distModelStart); i < fullDistances; i++ {
		slot := distSlot(i)
		footer := slot>>1 - 1
		base := (2 | slot&1) << footer
		price := bittreeReversePrice(e.distSpecial[:], int(base)-int(slot)-1, footer, i-base)
		for ds := range distStates {
			e.distPrices[ds][i] = price + e.distSlotPrices[ds][slot]
		}
	}
	e.matchPriceCount = 0
}

func (e *Encoder) fillAlignPrices() {
	for i := range uint32(alignSize) {
		e.alignPrices[i] = bittreeReversePrice(e.distAlign[:], 0, alignBits, i)
	}
	e.alignPriceCount = 0
}

func (o *optimal) makeLiteral() {
	o.backPrev = ^uint32(0)
	o.prev1IsLiteral = false
}

func (o *optimal) makeShortRep() {
	o.backPrev = 0
	o.prev1IsLiteral = false
}

func (e *Encoder) backward(cur uint32) (length, back uint32) {
	o := &e.opts
	e.optsEndIndex = cur
	posMem := o[cur].posPrev
	backMem := o[cur].backPrev
	for {
		if o[cur].prev1IsLiteral {
			o[posMem].makeLiteral()
			o[posMem].posPrev = posMem - 1
			if o[cur].prev2 {
				o[posMem-1].prev1IsLiteral = false
				o[posMem-1].posPrev = o[cur].posPrev2
				o[posMem-1].backPrev = o[cur].backPrev2
			}
		}
		posPrev := posMem
		backCur := backMem
		backMem = o[posPrev].backPrev
		posMem = o[posPrev].posPrev
		o[posPrev].backPrev = backCur
		o[posPrev].posPrev = cur
		cur = posPrev
		if cur == 0 {
			break
		}
	}
	e.optsCurrentIndex = o[0].posPrev
	return o[0].posPrev, o[0].backPrev
}

// helper1 prices the symbols that can start at the current byte. It
// returns the farthest position priced, or ^0 with the symbol to code
// when the choice is already clear.
func (e *Encoder) helper1(position uint32) (lenEnd, back, length uint32) {
	mf := &e.mf
	niceLen := mf.niceLen
	var lenMain, count uint32
	if mf.readAhead == 0 {
		lenMain, count = mf.find(&e.matches)
	} else {
		lenMain, count = e.longestMatchLength, e.matchesCount
	}

	bufAvail := min(mf.avail()+1, matchLenMax)
	if bufAvail < 2 {
		return ^uint32(0), ^uint32(0), 1
	}
	buf := mf.buf
	cur := mf.readPos - 1

	var repLens [reps]uint32
	repMax := uint32(0)
	for i := range uint32(reps) {
		b := cur - e.reps[i] - 1
		if buf[cur] != buf[b] || buf[cur+1] != buf[b+1] {
			repLens[i] = 0
			continue
		}
		repLens[i] = memcmplen(buf, cur, b, 2, bufAvail)
		if repLens[i] > repLens[repMax] {
			repMax = i
		}
	}

	if repLens[repMax] >= niceLen {
		l := repLens[repMax]
		mf.skip(l - 1)
		return ^uint32(0), repMax, l
	}
	if lenMain >= niceLen {
		mf.skip(lenMain - 1)
		return ^uint32(0), e.matches[count-1].dist + reps, lenMain
	}

	curByte := uint32(buf[cur])
	matchByte := uint32(buf[cur-e.reps[0]-1])
	if lenMain < 2 && curByte != matchByte && repLens[repMax] < 2 {
		return ^uint32(0), ^uint32(0), 1
	}

	o := &e.opts
	state := e.state
	o[0].state = state
	posState := position & e.posMask

	o[1].price = bit0Price(e.isMatch[state][posState]) +
		e.literalPrice(position, buf[cur-1], state >= litStates, matchByte, curByte)
	o[1].makeLiteral()

	matchPrice := bit1Price(e.isMatch[state][posState])
	repMatchPrice := matchPrice + bit1Price(e.isRep[state])

	if matchByte == curByte {
		p := repMatchPrice + e.shortRepPrice(state, posState)
		if p < o[1].price {
			o[1].price = p
			o[1].makeShortRep()
		}
	}

	lenEnd = max(lenMain, repLens[repMax])
	if lenEnd < 2 {
		return ^uint32(0), o[1].backPrev, 1
	}

	o[1].posPrev = 0
	o[0].backs = e.reps

	for l := lenEnd; l >= 2; l-- {
		o[l].price = infinityPrice
	}

	for i := range uint32(reps) {
		repLen := repLens[i]
		if repLen < 2 {
			continue
		}
		price := repMatchPrice + e.pureRepPrice(i, state, posState)
		for ; repLen >= 2; repLen-- {
			p := price + e.repLen.prices[posState][repLen-matchLenMin]
			if p < o[repLen].price {
				o[repLen].price = p
				o[repLen].posPrev = 0
				o[repLen].backPrev = i
				o[repLen].prev1IsLiteral = false
			}
		}
	}

	normalMatchPrice := matchPrice + bit0Price(e.isRep[state])
	l := uint32(2)
	if repLens[0] >= 2 {
		l = repLens[0] + 1
	}
	if l <= lenMain {
		i := uint32(0)
		for l > e.matches[i].len {
			i++
		}
		for ; ; l++ {
			dist := e.matches[i].dist
			p := normalMatchPrice + e.distLenPrice(dist, l, posState)
			if p < o[l].price {
				o[l].price = p
				o[l].posPrev = 0
				o[l].backPrev = dist + reps
				o[l].prev1IsLiteral = false
			}
			if l == e.matches[i].len {
				i++
				if i == count {
					break
				}
			}
		}
	}
	return lenEnd, 0, 0
}

// helper2 prices the symbols that can start cur bytes ahead, at buf[bp].
func (e *Encoder) helper2(rp *[reps]uint32, bp, lenEnd, position, cur, niceLen, bufAvailFull uint32) uint32 {
	o := &e.opts
	buf := e.mf.buf
	count := e.matchesCount
	newLen := e.longestMatchLength
	posPrev := o[cur].posPrev
	var state uint32

	if o[cur].prev1IsLiteral {
		posPrev--
		if o[cur].prev2 {
			state = o[o[cur].posPrev2].state
			if o[cur].backPrev2 < reps {
				state = updateLongRep(state)
			} else {
				state = updateMatch(state)
			}
		} else {
			state = o[posPrev].state
		}
		state = updateLiteral(state)
	} else {
		state = o[posPrev].state
	}

	if posPrev == cur-1 {
		if o[cur].backPrev == 0 {
			state = updateShortRep(state)
		} else {
			state = updateLiteral(state)
		}
	} else {
		var pos uint32
		if o[cur].prev1IsLiteral && o[cur].prev2 {
			posPrev = o[cur].posPrev2
			pos = o[cur].backPrev2
			state = updateLongRep(state)
		} else {
			pos = o[cur].backPrev
			if pos < reps {
				state = updateLongRep(state)
			} else {
				state = updateMatch(state)
			}
		}
		if pos < reps {
			rp[0] = o[posPrev].backs[pos]
			i := uint32(1)
			for ; i <= pos; i++ {
				rp[i] = o[posPrev].backs[i-1]
			}
			for ; i < reps; i++ {
				rp[i] = o[posPrev].backs[i]
			}
		} else {
			rp[0] = pos - reps
			for i := 1; i < reps; i++ {
				rp[i] = o[posPrev].backs[i-1]
			}
		}
	}

	o[cur].state = state
	o[cur].backs = *rp

	curPrice := o[cur].price
	curByte := uint32(buf[bp])
	matchByte := uint32(buf[bp-rp[0]-1])
	posState := position & e.posMask

	curAnd1Price := curPrice + bit0Price(e.isMatch[state][posState]) +
		e.literalPrice(position, buf[bp-1], state >= litStates, matchByte, curByte)

	nextIsLiteral := false
	if curAnd1Price < o[cur+1].price {
		o[cur+1].price = curAnd1Price
		o[cur+1].posPrev = cur
		o[cur+1].makeLiteral()
		nextIsLiteral = true
	}

	matchPrice := curPrice + bit1Price(e.isMatch[state][posState])
	repMatchPrice := matchPrice + bit1Price(e.isRep[state])

	if matchByte == curByte && !(o[cur+1].posPrev < cur && o[cur+1].backPrev == 0) {
		p := repMatchPrice + e.shortRepPrice(state, posState)
		if p <= o[cur+1].price {
			o[cur+1].price = p
			o[cur+1].posPrev = cur
			o[cur+1].makeShortRep()
			nextIsLiteral = true
		}
	}

	if bufAvailFull < 2 {
		return lenEnd
	}
	bufAvail := min(bufAvailFull, niceLen)

	if !nextIsLiteral && matchByte != curByte {
		// Literal + rep0.
		back := bp - rp[0] - 1
		limit := min(bufAvailFull, niceLen+1)
		lenTest := memcmplen(buf, bp, back, 1, limit) - 1
		if lenTest >= 2 {
			state2 := updateLiteral(state)
			posStateNext := (position + 1) & e.posMask
			nextRepMatchPrice := curAnd1Price +
				bit1Price(e.isMatch[state2][posStateNext]) +
				bit1Price(e.isRep[state2])
			offset := cur + 1 + lenTest
			for lenEnd < offset {
				lenEnd++
				o[lenEnd].price = infinityPrice
			}
			p := nextRepMatchPrice + e.repPrice(0, lenTest, state2, posStateNext)
			if p < o[offset].price {
				o[offset].price = p
				o[offset].posPrev = cur + 1
				o[offset].backPrev = 0
				o[offset].prev1IsLiteral = true
				o[offset].prev2 = false
			}
		}
	}

	startLen := uint32(2)
	for repIndex := range uint32(reps) {
		back := bp - rp[repIndex] - 1
		if buf[bp] != buf[back] || buf[bp+1] != buf[back+1] {
			continue
		}
		lenTest := memcmplen(buf, bp, back, 2, bufAvail)
		for lenEnd < cur+lenTest {
			lenEnd++
			o[lenEnd].price = infinityPrice
		}
		lenTestTemp := lenTest
		price := repMatchPrice + e.pureRepPrice(repIndex, state, posState)
		for ; lenTest >= 2; lenTest-- {
			p := price + e.repLen.prices[posState][lenTest-matchLenMin]
			if p < o[cur+lenTest].price {
				o[cur+lenTest].price = p
				o[cur+lenTest].posPrev = cur
				o[cur+lenTest].backPrev = repIndex
				o[cur+lenTest].prev1IsLiteral = false
			}
		}
		lenTest = lenTestTemp
		if repIndex == 0 {
			startLen = lenTest + 1
		}

		// Rep match + literal + rep0.
		lenTest2 := lenTest + 1
		limit := min(bufAvailFull, lenTest2+niceLen)
		if lenTest2 < limit {
			lenTest2 = memcmplen(buf, bp, back, lenTest2, limit)
		}
		lenTest2 -= lenTest + 1
		if lenTest2 >= 2 {
			state2 := updateLongRep(state)
			posStateNext := (position + lenTest) & e.posMask
			curAndLenLiteralPrice := price +
				e.repLen.prices[posState][lenTest-matchLenMin] +
				bit0Price(e.isMatch[state2][posStateNext]) +
				e.literalPrice(position+lenTest, buf[bp+lenTest-1], true,
					uint32(buf[back+lenTest]), uint32(buf[bp+lenTest]))
			state2 = updateLiteral(state2)
			posStateNext = (position + lenTest + 1) & e.posMask
			nextRepMatchPrice := curAndLenLiteralPrice +
				bit1Price(e.isMatch[state2][posStateNext]) +
				bit1Price(e.isRep[state2])
			offset := cur + lenTest + 1 + lenTest2
			for lenEnd < offset {
				lenEnd++
				o[lenEnd].price = infinityPrice
			}
			p := nextRepMatchPrice + e.repPrice(0, lenTest2, state2, posStateNext)
			if p < o[offset].price {
				o[offset].price = p
				o[offset].posPrev = cur + lenTest + 1
				o[offset].backPrev = 0
				o[offset].prev1IsLiteral = true
				o[offset].prev2 = true
				o[offset].posPrev2 = cur
				o[offset].backPrev2 = repIndex
			}
		}
	}

	if newLen > bufAvail {
		newLen = bufAvail
		count = 0
		for newLen > e.matches[count].len {
			count++
		}
		e.matches[count].len = newLen
		count++
	}

	if newLen >= startLen {
		normalMatchPrice := matchPrice + bit0Price(e.isRep[state])
		for lenEnd < cur+newLen {
			lenEnd++
			o[lenEnd].price = infinityPrice
		}
		i := uint32(0)
		for startLen > e.matches[i].len {
			i++
		}
		for lenTest := startLen; ; lenTest++ {
			curBack := e.matches[i].dist
			p := normalMatchPrice + e.distLenPrice(curBack, lenTest, posState)
			if p < o[cur+lenTest].price {
				o[cur+lenTest].price = p
				o[cur+lenTest].posPrev = cur
				o[cur+lenTest].backPrev = curBack + reps
				o[cur+lenTest].prev1IsLiteral = false
			}
			if lenTest != e.matches[i].len {
				continue
			}

			// Match + literal + rep0.
			back := bp - curBack - 1
			lenTest2 := lenTest + 1
			limit := min(bufAvailFull, lenTest2+niceLen)
			if lenTest2 < limit {
				lenTest2 = memcmplen(buf, bp, back, lenTest2, limit)
			}
			lenTest2 -= lenTest + 1
			if lenTest2 >= 2 {
				state2 := updateMatch(state)
				posStateNext := (position + lenTest) & e.posMask
				curAndLenLiteralPrice := p +
					bit0Price(e.isMatch[state2][posStateNext]) +
					e.literalPrice(position+lenTest, buf[bp+lenTest-1], true,
						uint32(buf[back+lenTest]), uint32(buf[bp+lenTest]))
				state2 = updateLiteral(state2)
				posStateNext = (posStateNext + 1) & e.posMask
				nextRepMatchPrice := curAndLenLiteralPrice +
					bit1Price(e.isMatch[state2][posStateNext]) +
					bit1Price(e.isRep[state2])
				offset := cur + lenTest + 1 + lenTest2
				for lenEnd < offset {
					lenEnd++
					o[lenEnd].price = infinityPrice
				}
				p2 := nextRepMatchPrice + e.repPrice(0, lenTest2, state2, posStateNext)
				if p2 < o[offset].price {
					o[offset].price = p2
					o[offset].posPrev = cur + lenTest + 1
					o[offset].backPrev = 0
					o[offset].prev1IsLiteral = true
					o[offset].prev2 = true
					o[offset].posPrev2 = cur
					o[offset].backPrev2 = curBack + reps
				}
			}
			i++
			if i == count {
				break
			}
		}
	}
	return lenEnd
}

func (e *Encoder) optimumNormal(position uint32) (back, length uint32) {
	if e.optsEndIndex != e.optsCurrentIndex {
		o := &e.opts[e.optsCurrentIndex]
		length = o.posPrev - e.optsCurrentIndex
		back = o.backPrev
		e.optsCurrentIndex = o.posPrev
		return back, length
	}

	mf := &e.mf
	if mf.readAhead == 0 {
		if e.matchPriceCount >= 1<<7 {
			e.fillDistPrices()
		}
		if e.alignPriceCount >= alignSize {
			e.fillAlignPrices()
		}
	}

	lenEnd, back, length := e.helper1(position)
	if lenEnd == ^uint32(0) {
		return back, length
	}

	rp := e.reps
	var cur uint32
	for cur = 1; cur < lenEnd; cur++ {
		e.longestMatchLength, e.matchesCount = mf.find(&e.matches)
		if e.longestMatchLength >= mf.niceLen {
			break
		}
		lenEnd = e.helper2(&rp, mf.readPos-1, lenEnd, position+cur, cur, mf.niceLen,
			min(mf.avail()+1, opts-1-cur))
	}
	length, back = e.backward(cur)
	return back, length
}
