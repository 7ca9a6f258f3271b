package compress

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"
)

// BenchmarkCompress measures throughput on 64 MiB of mixed data (text-like,
// random, zeros; no holes, so everything is read and encoded) with one
// thread and with GOMAXPROCS threads.
func BenchmarkCompress(b *testing.B) {
	const size = 64 << 20
	var at []int64
	for off := int64(0); off < size; off += 4 << 20 {
		at = append(at, off) // 3 MiB data, then 1 MiB of zeros
	}
	src, _ := testInput(b, size, 42, at...)
	for _, format := range formats {
		for _, threads := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("%s/threads=%d", format, threads), func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					err := Compress(context.Background(), io.Discard, src, 0, size, Options{Format: format, Threads: threads})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
