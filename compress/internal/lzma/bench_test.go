package lzma

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// benchData is the first LZMA_BENCH_MIB (default 24) MiB of
// LZMA_BENCH_FILE (an ext4 image slice makes the realistic case), else of
// the test binary itself.
func benchData(b *testing.B) []byte {
	name := os.Getenv("LZMA_BENCH_FILE")
	if name == "" {
		var err error
		if name, err = os.Executable(); err != nil {
			b.Fatal(err)
		}
	}
	data, err := os.ReadFile(name)
	if err != nil {
		b.Fatal(err)
	}
	limit := 24 << 20
	if v, err := strconv.Atoi(os.Getenv("LZMA_BENCH_MIB")); err == nil {
		limit = v << 20
	}
	return data[:min(len(data), limit)]
}

// BenchmarkEncode measures one encoder on one block; compare with
// `xz -T1 -N --format=raw` on the same bytes.
func BenchmarkEncode(b *testing.B) {
	data := benchData(b)
	for _, preset := range []int{0, 3, 6} {
		b.Run(fmt.Sprint(preset), func(b *testing.B) {
			e, err := NewEncoder(preset)
			if err != nil {
				b.Fatal(err)
			}
			var out []byte
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				out = e.Encode(out[:0], data)
			}
			b.ReportMetric(float64(len(out))/float64(len(data))*100, "%size")
		})
	}
}
