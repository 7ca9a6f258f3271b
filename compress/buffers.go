package compress

import (
	"sync"

	"golang.org/x/sys/unix"
)

// buffers hands out the chunk-sized input and output buffers of one
// compression from anonymous mappings outside the Go heap. On the heap
// they would be most of the live memory, and the collector lets the heap
// grow to twice that before it runs: with 32 MiB chunks on two threads,
// about 200 MiB of slack that the process faults in and zeroes for
// nothing. Mapped, a buffer costs only the pages written into it, and
// all of it is returned at the end.
type buffers struct {
	mu   sync.Mutex
	maps [][]byte
}

// get returns an empty slice with capacity n. Its memory is valid until
// release; if no mapping can be made it comes from the heap.
func (b *buffers) get(n int) []byte {
	m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]byte, 0, n)
	}
	b.mu.Lock()
	b.maps = append(b.maps, m)
	b.mu.Unlock()
	return m[:0]
}

// release unmaps every buffer. Nothing may use them afterwards.
func (b *buffers) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.maps {
		unix.Munmap(m)
	}
	b.maps = nil
}
