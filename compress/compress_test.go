package compress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// testInput writes a sparse file of size bytes with compressible and
// random data at the given offsets.
func testInput(t testing.TB, size int64, seed uint64, at ...int64) (*os.File, []byte) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "in.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for i, off := range at {
		n := min(int64(3<<20+i*12345), size-off)
		b := make([]byte, n)
		for k := range b {
			// Half text-like (compressible), half random.
			if (k/4096)%2 == 0 {
				b[k] = "hermetic repart image\n"[rng.IntN(22)]
			} else {
				b[k] = byte(rng.Uint32())
			}
		}
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	var want []byte
	if size <= 256<<20 {
		want = make([]byte, size)
		if _, err := f.ReadAt(want, 0); err != nil && size > 0 {
			t.Fatal(err)
		}
	}
	return f, want
}

func compressFile(t testing.TB, src *os.File, off, size int64, opts Options) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out"+opts.Format.Suffix())
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Compress(context.Background(), f, src, off, size, opts); err != nil {
		t.Fatal(err)
	}
	return out
}

// decode runs the CLI decompressor, the oracle for the container.
func decode(t *testing.T, format Format, path string) []byte {
	t.Helper()
	var cmd *exec.Cmd
	switch format {
	case XZ:
		cmd = exec.Command(oracle.Require(t, "xz"), "-dc", path)
	default:
		cmd = exec.Command(oracle.Require(t, "zstd"), "-dcq", path)
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s: %v: %s", cmd, err, ee.Stderr)
		}
		t.Fatalf("%s: %v", cmd, err)
	}
	return out
}

func testTool(t *testing.T, format Format, path string) {
	t.Helper()
	var err error
	var so, se string
	if format == XZ {
		so, se, err = oracle.Run(t, "xz", "-t", path)
	} else {
		so, se, err = oracle.Run(t, "zstd", "-tq", path)
	}
	if err != nil {
		t.Fatalf("integrity test of %s failed: %v\n%s%s", path, err, so, se)
	}
}

var formats = []Format{Zstd, ZstdSeekable, XZ}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		size int64
		at   []int64
	}{
		{"empty", 0, nil},
		{"tiny", 100, []int64{0}},
		{"odd-size", 35<<20 + 12345, []int64{0, 5 << 20, 31 << 20, 34 << 20}},
		{"holes-only", 40 << 20, nil},
	}
	for _, format := range formats {
		for _, tc := range cases {
			t.Run(format.String()+"/"+tc.name, func(t *testing.T) {
				src, want := testInput(t, tc.size, 7, tc.at...)
				out := compressFile(t, src, 0, tc.size, Options{Format: format})
				testTool(t, format, out)
				if got := decode(t, format, out); !bytes.Equal(got, want) {
					t.Fatalf("decoded %d bytes differ from the %d input bytes", len(got), len(want))
				}
			})
		}
	}
}

func TestRegion(t *testing.T) {
	src, all := testInput(t, 9<<20, 3, 0, 4<<20)
	for _, format := range formats {
		t.Run(format.String(), func(t *testing.T) {
			off, size := int64(1<<20+7), int64(6<<20+5)
			out := compressFile(t, src, off, size, Options{Format: format})
			if got := decode(t, format, out); !bytes.Equal(got, all[off:off+size]) {
				t.Fatal("region decodes differently")
			}
		})
	}
}

// TestThreadsDoNotChangeOutput is the determinism contract: the bytes
// depend on the input, format and level only.
func TestThreadsDoNotChangeOutput(t *testing.T) {
	src, _ := testInput(t, 70<<20+999, 11, 0, 20<<20, 33<<20, 64<<20)
	for _, format := range formats {
		t.Run(format.String(), func(t *testing.T) {
			var first [32]byte
			for i, threads := range []int{1, 4, 8} {
				out := compressFile(t, src, 0, 70<<20+999, Options{Format: format, Threads: threads})
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(b)
				if i == 0 {
					first = sum
				} else if sum != first {
					t.Fatalf("Threads=%d gives different output than Threads=1", threads)
				}
			}
		})
	}
}

func TestSparseGiB(t *testing.T) {
	const size = 1 << 30
	at := []int64{0, 100 << 20, 700<<20 + 4096, size - 1<<20}
	src, _ := testInput(t, size, 5, at...)
	for _, format := range formats {
		t.Run(format.String(), func(t *testing.T) {
			out := compressFile(t, src, 0, size, Options{Format: format})
			decodeCompare(t, format, out, io.NewSectionReader(src, 0, size))
		})
	}
}

// decodeCompare streams the CLI's decoded output against want, so large
// inputs need not be held in memory.
func decodeCompare(t *testing.T, format Format, path string, want io.Reader) {
	t.Helper()
	var cmd *exec.Cmd
	if format == XZ {
		cmd = exec.Command(oracle.Require(t, "xz"), "-dc", path)
	} else {
		cmd = exec.Command(oracle.Require(t, "zstd"), "-dcq", path)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	got, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a, b := make([]byte, 1<<20), make([]byte, 1<<20)
	var pos int64
	for {
		n, errA := io.ReadFull(got, a)
		m, errB := io.ReadFull(want, b[:max(n, 1)])
		if n != m && !(n == 0 && m == 1) || !bytes.Equal(a[:n], b[:n]) {
			t.Errorf("decoded output differs from the input near offset %d", pos)
			break
		}
		pos += int64(n)
		if errA != nil || errB != nil {
			if n == 0 && m == 1 {
				t.Errorf("decoded output ends early at %d", pos)
			}
			break
		}
	}
	io.Copy(io.Discard, got)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, stderr.Bytes())
	}
}

func TestCancel(t *testing.T) {
	src, _ := testInput(t, 64<<20, 1, 0, 10<<20, 40<<20)
	for _, format := range formats {
		t.Run(format.String(), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var buf bytes.Buffer
			err := Compress(ctx, &buf, src, 0, 64<<20, Options{Format: format, Threads: 2})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Compress with a cancelled context returned %v", err)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range formats {
		g, err := ParseFormat(f.String())
		if err != nil || g != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), g, err)
		}
	}
	if _, err := ParseFormat("gzip"); err == nil {
		t.Error("ParseFormat(gzip) succeeded")
	}
}
