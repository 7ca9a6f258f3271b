package lzma

// optimumFast is liblzma's lzma_encoder_optimum_fast.c: a greedy choice
// with one byte of lazy look-ahead, used by presets 0-3. It returns the
// symbol to code as in encodeSymbol.
func (e *Encoder) optimumFast() (back, length uint32) {
	mf := &e.mf
	niceLen := mf.niceLen
	var lenMain, count uint32
	if mf.readAhead == 0 {
		lenMain, count = mf.find(&e.matches)
	} else {
		lenMain, count = e.longestMatchLength, e.matchesCount
	}

	buf := mf.buf
	cur := mf.readPos - 1
	bufAvail := min(mf.avail()+1, matchLenMax)
	if bufAvail < 2 {
		return ^uint32(0), 1
	}

	repLen, repIndex := uint32(0), uint32(0)
	for i := range uint32(reps) {
		back := cur - e.reps[i] - 1
		if buf[cur] != buf[back] || buf[cur+1] != buf[back+1] {
			continue
		}
		l := memcmplen(buf, cur, back, 2, bufAvail)
		if l >= niceLen {
			mf.skip(l - 1)
			return i, l
		}
		if l > repLen {
			repIndex, repLen = i, l
		}
	}

	if lenMain >= niceLen {
		mf.skip(lenMain - 1)
		return e.matches[count-1].dist + reps, lenMain
	}

	backMain := uint32(0)
	if lenMain >= 2 {
		backMain = e.matches[count-1].dist
		for count > 1 && lenMain == e.matches[count-2].len+1 {
			if !changePair(e.matches[count-2].dist, backMain) {
				break
			}
			count--
			lenMain = e.matches[count-1].len
			backMain = e.matches[count-1].dist
		}
		if lenMain == 2 && backMain >= 0x80 {
			lenMain = 1
		}
	}

	if repLen >= 2 {
		if repLen+1 >= lenMain ||
			(repLen+2 >= lenMain && backMain > 1<<9) ||
			(repLen+3 >= lenMain && backMain > 1<<15) {
			mf.skip(repLen - 1)
			return repIndex, repLen
		}
	}

	if lenMain < 2 || bufAvail <= 2 {
		return ^uint32(0), 1
	}

	// A better match at the next byte makes this one a literal.
	e.longestMatchLength, e.matchesCount = mf.find(&e.matches)
	if e.longestMatchLength >= 2 {
		newDist := e.matches[e.matchesCount-1].dist
		nl := e.longestMatchLength
		if (nl >= lenMain && newDist < backMain) ||
			(nl == lenMain+1 && !changePair(backMain, newDist)) ||
			nl > lenMain+1 ||
			(nl+1 >= lenMain && lenMain >= 3 && changePair(newDist, backMain)) {
			return ^uint32(0), 1
		}
	}

	cur++
	limit := max(2, lenMain-1)
	for i := range reps {
		if memcmplen(buf, cur, cur-e.reps[i]-1, 0, limit) == limit {
			return ^uint32(0), 1
		}
	}

	mf.skip(lenMain - 2)
	return backMain + reps, lenMain
}

func changePair(smallDist, bigDist uint32) bool { return bigDist>>7 > smallDist }
