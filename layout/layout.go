// Package layout sizes and places partitions in the free area of a fresh
// disk, reproducing systemd-repart's algorithm: minimum and maximum sizes,
// Priority= dropping, the three weight-distribution phases and the
// donation of leftovers.
package layout

import (
	"errors"
	"fmt"
	"math"
)

// Unset marks an unconfigured size.
const Unset = math.MaxUint64

// Grain is the allocation granularity: max(4096, sector size), which is
// 4096 for every sector size repart accepts.
const Grain = 4096

// DefaultMinSize is the minimum of a partition without SizeMinBytes=.
const DefaultMinSize = 10 << 20

// VeritySigSize is the fixed size of a verity signature partition.
const VeritySigSize = 16384

// HardMinSize is the smallest partition repart creates.
const HardMinSize = 4096

// GPTOverhead is what --size=auto adds for the GPT: 1 MiB of alignment in
// front plus the backup table at the end, rounded to 4096.
const GPTOverhead = 1069056

func roundUp(x uint64) uint64 {
	if x > Unset-(Grain-1) {
		return Unset &^ (Grain - 1)
	}
	return (x + Grain - 1) &^ (Grain - 1)
}

func roundDown(x uint64) uint64 { return x &^ (Grain - 1) }

// Request is what one partition asks for.
type Request struct {
	SizeMin, SizeMax       uint64 // Unset or as configured (4096-rounded)
	PaddingMin, PaddingMax uint64
	Weight, PaddingWeight  uint32
	Priority               int32

	// ContentSize is the size of CopyBlocks= data; 0 if none.
	ContentSize uint64
	// FSMinSize is the smallest file system the partition's Format= can
	// hold (ext4 32 MiB, ...), Unset if unknown; 0 if no file system.
	FSMinSize uint64
	// Encrypted reserves room for a LUKS2 header.
	Encrypted bool
	// SmallDefault makes the default minimum one grain instead of 10 MiB
	// (read-only file systems and verity partitions).
	SmallDefault bool
	// VeritySigType pins the minimum to VeritySigSize; VeritySignature
	// also pins the maximum.
	VeritySigType, VeritySignature bool
}

// MinSize is repart's partition_min_size for a new partition.
func (r Request) MinSize() uint64 {
	if r.VeritySigType || r.VeritySignature {
		return VeritySigSize
	}
	sz := uint64(HardMinSize)
	var d uint64
	if r.Encrypted {
		d += roundUp(32 << 20)
	}
	switch {
	case r.ContentSize > 0:
		d += roundUp(r.ContentSize)
	case r.FSMinSize == Unset:
		d += Grain
	case r.FSMinSize > 0:
		d += roundUp(r.FSMinSize)
	case r.Encrypted:
		d += Grain
	}
	sz = max(sz, d)
	m := r.SizeMin
	if m == Unset {
		m = DefaultMinSize
		if r.SmallDefault {
			m = 1
		}
	}
	return max(roundUp(m), sz)
}

// MaxSize is repart's partition_max_size for a new partition.
func (r Request) MaxSize() uint64 {
	if r.VeritySignature {
		return VeritySigSize
	}
	if r.SizeMax == Unset {
		return Unset
	}
	return max(r.MinSize(), roundDown(r.SizeMax))
}

// MinPadding is the padding a partition gets at least.
func (r Request) MinPadding() uint64 {
	if r.PaddingMin == Unset {
		return 0
	}
	return r.PaddingMin
}

// Required is the space a partition needs with its minimum padding.
func (r Request) Required() uint64 {
	s := r.MinSize() + r.MinPadding()
	if s < r.MinSize() {
		return Unset
	}
	return roundUp(s)
}

// Placement is where a partition ended up.
type Placement struct {
	Dropped bool
	PartNo  int // 0-based GPT entry index; -1 when dropped
	Offset  uint64
	Size    uint64
	Padding uint64
}

// NoFitError says that the partitions cannot fit even after dropping
// every partition of positive priority.
type NoFitError struct {
	LargestFree uint64
}

func (e *NoFitError) Error() string {
	return fmt.Sprintf("can't fit requested partitions into available free space (%d bytes)", e.LargestFree)
}

// ErrNoFit is matched by every *NoFitError.
var ErrNoFit = errors.New("partitions do not fit")

func (e *NoFitError) Is(target error) bool { return target == ErrNoFit }

// AutoSize is the disk size --size=auto picks for the partitions that are
// not dropped: exactly enough for their minimum sizes and paddings.
func AutoSize(reqs []Request, dropped []bool) uint64 {
	sum := uint64(GPTOverhead)
	for i, r := range reqs {
		if dropped != nil && dropped[i] {
			continue
		}
		sum += r.Required()
	}
	return sum
}

// Plan places the partitions into the free area [start, end) of a fresh
// disk. dropped reports the partitions dropped for lack of space, lowest
// priority last; onDrop, if not nil, is told of each.
func Plan(reqs []Request, start, end uint64, onDrop func(i int)) ([]Placement, error) {
	out := make([]Placement, len(reqs))
	var area uint64
	if end > start {
		area = end - start
	}
	for {
		var need uint64
		fits := true
		for i, r := range reqs {
			if out[i].Dropped {
				continue
			}
			req := r.Required()
			if req > area-need || need > area {
				fits = false
				break
			}
			need += req
		}
		if fits {
			break
		}
		// Drop every partition of the highest priority and try again.
		var prio int32
		for i, r := range reqs {
			if !out[i].Dropped && r.Priority > prio {
				prio = r.Priority
			}
		}
		if prio <= 0 {
			return nil, &NoFitError{LargestFree: area}
		}
		for i, r := range reqs {
			if !out[i].Dropped && r.Priority >= prio {
				out[i].Dropped = true
				if onDrop != nil {
					onDrop(i)
				}
			}
		}
	}
	grow(reqs, out, area)
	offset := start
	partno := 0
	for i := range out {
		if out[i].Dropped {
			out[i].PartNo = -1
			continue
		}
		out[i].Offset = roundUp(offset)
		out[i].PartNo = partno
		partno++
		offset = out[i].Offset + out[i].Size + out[i].Padding
	}
	return out, nil
}

// scale returns value*weight/sum without overflowing, as repart's
// scale_by_weight does (halving the weights until the product fits).
func scale(value, weight, sum uint64) uint64 {
	for {
		if weight == 0 {
			return 0
		}
		if weight == sum {
			return value
		}
		if value <= Unset/weight {
			return value * weight / sum
		}
		sum = (sum + 1) / 2
		weight /= 2
	}
}

// charge subtracts amount, rounded up to the grain, from span.
func charge(span, amount uint64) uint64 {
	a := roundUp(amount)
	if a >= span {
		return 0
	}
	return span - a
}

type phase int

const (
	overcharge phase = iota
	undercharge
	distribute
)

// grow assigns sizes and paddings: first partitions whose minimum exceeds
// their weighted share get their minimum, then those whose maximum is
// below it get their maximum, then the rest share what is left by weight.
// Leftover space goes to the first partitions that can still grow.
func grow(reqs []Request, out []Placement, span uint64) {
	var wsum uint64
	sizeSet := make([]bool, len(reqs))
	padSet := make([]bool, len(reqs))
	for i, r := range reqs {
		if !out[i].Dropped {
			wsum += uint64(r.Weight) + uint64(r.PaddingWeight)
		}
	}
	// one decides a size (or padding) in the given phase and reports
	// whether it was decided and whether the phase must start over.
	one := func(ph phase, weight uint32, lo, hi uint64, dst *uint64) (set, again bool) {
		share := scale(span, uint64(weight), wsum)
		switch {
		case ph == overcharge && lo > share:
			*dst = lo
			set, again = true, true
		case ph == undercharge && hi < share:
			*dst = hi
			set, again = true, true
		case ph == distribute:
			*dst = min(max(roundDown(share), lo), hi)
			set = true
		}
		if set {
			span = charge(span, *dst)
			wsum -= uint64(weight)
		}
		return set, again
	}
	for ph := overcharge; ph <= distribute; {
		again := false
		for i, r := range reqs {
			if out[i].Dropped {
				continue
			}
			if !sizeSet[i] {
				set, a := one(ph, r.Weight, r.MinSize(), r.MaxSize(), &out[i].Size)
				sizeSet[i] = set
				again = again || a
			}
			if !padSet[i] {
				set, a := one(ph, r.PaddingWeight, r.MinPadding(), r.PaddingMax, &out[i].Padding)
				padSet[i] = set
				again = again || a
			}
		}
		if !again {
			ph++
		}
	}
	for i, r := range reqs {
		if span == 0 {
			break
		}
		if out[i].Dropped {
			continue
		}
		m := max(roundDown(out[i].Size+span), out[i].Size)
		m = min(m, r.MaxSize())
		span = charge(span, m-out[i].Size)
		out[i].Size = m
	}
}
