package repart

import (
	"math"
	"sync"
)

// reclaimer frees a raw image that is only wanted compressed behind its
// readers, the compressors. Without it the whole image sits in the page
// cache until it is removed, and past the kernel's dirty limits it is
// written back to disk only to be deleted: an image of many GiB costs
// that much memory and disk traffic for nothing. Freed at once, its
// pages are taken again by the bytes the writers produce next.
type reclaimer struct {
	mu sync.Mutex
	// discard frees the bytes [off, off+n) of the image.
	discard func(off, n int64) error
	// pos is each reader's position: it needs no byte below it again.
	pos []int64
	// freed is how far the image has been discarded; step the least
	// that is worth a call.
	freed, step int64
	// failed stops the reclaiming after a failure (a file system
	// without hole punching): it only saves memory, so the build goes on.
	failed bool
}

// reclaimStep is the least the reclaimer discards at once: about a
// compression chunk, so that it runs once per chunk or so.
const reclaimStep = 16 << 20

func newReclaimer(discard func(off, n int64) error) *reclaimer {
	return &reclaimer{discard: discard, step: reclaimStep}
}

// reader adds a reader starting at start and returns its index. All
// readers must be added before any advances.
func (r *reclaimer) reader(start int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pos = append(r.pos, start)
	return len(r.pos) - 1
}

// advance moves reader i to pos; math.MaxInt64 says it is done.
func (r *reclaimer) advance(i int, pos int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pos <= r.pos[i] {
		return
	}
	r.pos[i] = pos
	low := int64(math.MaxInt64)
	for _, p := range r.pos {
		low = min(low, p)
	}
	// Not past the last reader's end: the file is removed afterwards
	// anyway, and nothing is known about its size here.
	if low == math.MaxInt64 || r.failed || low-r.freed < r.step {
		return
	}
	if err := r.discard(r.freed, low-r.freed); err != nil {
		r.failed = true
		return
	}
	r.freed = low
}
