package compress

import (
	"context"
	"fmt"
	"io"
	"os"
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

// BenchmarkXZBlockSize compresses XZ_BENCH_FILE (a realistic image, e.g.
// an ext4 image of /usr) at level 3 with several block sizes on
// GOMAXPROCS threads and reports the output size, to compare with xz -T1.
// XZ_BENCH_OUT, if set, receives the output of the default block size.
func BenchmarkXZBlockSize(b *testing.B) {
	name := os.Getenv("XZ_BENCH_FILE")
	if name == "" {
		b.Skip("XZ_BENCH_FILE not set")
	}
	src, err := os.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		b.Fatal(err)
	}
	for _, mib := range []int64{12, 24, 32, 48} {
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			block := mib << 20
			b.SetBytes(fi.Size())
			var n int64
			for b.Loop() {
				var w io.Writer = io.Discard
				if out := os.Getenv("XZ_BENCH_OUT"); out != "" && block == xzBlockSize(3) {
					f, err := os.Create(out)
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					w = f
				}
				cw := &countWriter{w: w}
				err := compressWith(context.Background(), cw, Source{File: src, Size: fi.Size()}, newXZCodecBlock(3, block), block, runtime.GOMAXPROCS(0))
				if err != nil {
					b.Fatal(err)
				}
				n = cw.n
			}
			b.ReportMetric(float64(n), "bytes")
		})
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}
