package lzma

import "fmt"

// rdec is a range decoder, for symbols.
type rdec struct {
	b    []byte
	i    int
	rng  uint32
	code uint32
}

func (d *rdec) init() {
	d.rng = 0xFFFFFFFF
	d.code = 0
	for range 5 {
		d.code = d.code<<8 | uint32(d.b[d.i])
		d.i++
	}
}

func (d *rdec) bit(p *uint16) uint32 {
	if d.rng < topValue {
		d.rng <<= 8
		d.code = d.code<<8 | uint32(d.b[d.i])
		d.i++
	}
	bound := (d.rng >> 11) * uint32(*p)
	if d.code < bound {
		d.rng = bound
		*p += (bitModelTotal - *p) >> 5
		return 0
	}
	d.rng -= bound
	d.code -= bound
	*p -= *p >> 5
	return 1
}

func (d *rdec) tree(p []uint16, bits int) uint32 {
	m := uint32(1)
	for range bits {
		m = m<<1 + d.bit(&p[m])
	}
	return m - 1<<bits
}

func (d *rdec) rtree(p []uint16, off int, bits int) uint32 {
	m, s := 1, uint32(0)
	for i := range bits {
		b := d.bit(&p[off+m])
		m = m<<1 + int(b)
		s |= b << i
	}
	return s
}

func (d *rdec) direct(n uint32) uint32 {
	v := uint32(0)
	for range n {
		if d.rng < topValue {
			d.rng <<= 8
			d.code = d.code<<8 | uint32(d.b[d.i])
			d.i++
		}
		d.rng >>= 1
		b := uint32(0)
		if d.code >= d.rng {
			d.code -= d.rng
			b = 1
		}
		v = v<<1 | b
	}
	return v
}

// symbols decodes raw LZMA2 (lc=3 lp=0 pb=2) and lists its symbols, to
// show where two encodings part.
func symbols(in []byte) []string {
	var out []byte
	var syms []string
	e := &Encoder{lc: 3, posMask: 3}
	var d rdec
	i := 0
	for i < len(in) {
		c := in[i]
		if c == 0 {
			break
		}
		if c < 0x80 {
			n := int(in[i+1])<<8 | int(in[i+2]) + 1
			out = append(out, in[i+3:i+3+n]...)
			syms = append(syms, fmt.Sprintf("stored %d", n))
			i += 3 + n
			continue
		}
		u := (int(c&0x1f)<<16 | int(in[i+1])<<8 | int(in[i+2])) + 1
		cs := (int(in[i+3])<<8 | int(in[i+4])) + 1
		i += 5
		if c >= 0xc0 {
			i++
		}
		if c >= 0xa0 {
			e.resetState()
		}
		d = rdec{b: in[i : i+cs]}
		d.init()
		end := len(out) + u
		for len(out) < end {
			pos := uint32(len(out))
			ps := pos & 3
			if d.bit(&e.isMatch[e.state][ps]) == 0 {
				var prev byte
				if len(out) > 0 {
					prev = out[len(out)-1]
				}
				probs := e.literalProbs(pos, prev)
				var sym uint32
				if e.state < litStates {
					sym = d.tree(probs[:], 8)
				} else {
					mb := uint32(out[len(out)-int(e.reps[0])-1])
					off := uint32(0x100)
					s := uint32(1)
					for s < 0x100 {
						mb <<= 1
						mbit := mb & off
						b := d.bit(&probs[off+mbit+s])
						s = s<<1 | b
						if b == 0 {
							off &^= mbit
						} else {
							off &= mbit
						}
					}
					sym = s - 0x100
				}
				out = append(out, byte(sym))
				e.state = updateLiteral(e.state)
				syms = append(syms, fmt.Sprintf("%d lit %02x", pos, sym))
				continue
			}
			var l uint32
			lenDec := func(lc *lengthEncoder) uint32 {
				if d.bit(&lc.choice) == 0 {
					return d.tree(lc.low[ps][:], 3) + 2
				}
				if d.bit(&lc.choice2) == 0 {
					return d.tree(lc.mid[ps][:], 3) + 10
				}
				return d.tree(lc.high[:], 8) + 18
			}
			var desc string
			if d.bit(&e.isRep[e.state]) == 1 {
				s := e.state
				if d.bit(&e.isRep0[s]) == 0 {
					if d.bit(&e.isRep0Long[s][ps]) == 0 {
						e.state = updateShortRep(s)
						out = append(out, out[len(out)-int(e.reps[0])-1])
						syms = append(syms, fmt.Sprintf("%d shortrep", pos))
						continue
					}
					desc = "rep0"
				} else {
					var dist uint32
					if d.bit(&e.isRep1[s]) == 0 {
						dist = e.reps[1]
						desc = "rep1"
					} else if d.bit(&e.isRep2[s]) == 0 {
						dist = e.reps[2]
						e.reps[2] = e.reps[1]
						desc = "rep2"
					} else {
						dist = e.reps[3]
						e.reps[3] = e.reps[2]
						e.reps[2] = e.reps[1]
						desc = "rep3"
					}
					e.reps[1] = e.reps[0]
					e.reps[0] = dist
				}
				l = lenDec(&e.repLen)
				e.state = updateLongRep(s)
			} else {
				l = lenDec(&e.matchLen)
				e.state = updateMatch(e.state)
				slot := d.tree(e.distSlot[distState(l)][:], 6)
				dist := slot
				if slot >= 4 {
					footer := slot>>1 - 1
					base := (2 | slot&1) << footer
					if slot < distModelEnd {
						dist = base + d.rtree(e.distSpecial[:], int(base)-int(slot)-1, int(footer))
					} else {
						dist = base + d.direct(footer-4)<<4 + d.rtree(e.distAlign[:], 0, 4)
					}
				}
				e.reps[3], e.reps[2], e.reps[1], e.reps[0] = e.reps[2], e.reps[1], e.reps[0], dist
				desc = fmt.Sprintf("match d=%d", dist)
			}
			for range l {
				out = append(out, out[len(out)-int(e.reps[0])-1])
			}
			syms = append(syms, fmt.Sprintf("%d %s l=%d", pos, desc, l))
		}
		i += cs
	}
	return syms
}
