package compress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
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
		// About 1 MiB per offset: log-like lines (matches and literals,
		// as in real file systems) with a random 4 KiB block every 64 KiB.
		n := min(int64(1<<20+i*12345), size-off)
		b := make([]byte, 0, n+64)
		for int64(len(b)) < n {
			if len(b)%(64<<10) < 4096 {
				b = append(b, byte(rng.Uint32()))
				continue
			}
			b = fmt.Appendf(b, "%08x entry %d of image %s\n", rng.Uint32(), rng.IntN(1000), []string{"root", "usr", "esp"}[rng.IntN(3)])
		}
		if _, err := f.WriteAt(b[:n], off); err != nil {
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
	for _, format := range formats {
		t.Run(format.String(), func(t *testing.T) {
			// Several chunks, a partial last one, holes and data; xz
			// at level 1 (48 MiB blocks) is the quickest.
			size, level := int64(70<<20+999), 0
			if format == XZ {
				size, level = 60<<20+999, 1
			}
			src, _ := testInput(t, size, 11, 0, size/3, size/2, size-size/8)
			var first [32]byte
			for i, threads := range []int{1, 4, 8} {
				out := compressFile(t, src, 0, size, Options{Format: format, Level: level, Threads: threads})
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
			// xz at level 1 is its quickest level.
			out := compressFile(t, src, 0, size, Options{Format: format, Level: 1})
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

// cancelWriter cancels the context on the first write, while later
// chunks are being encoded.
type cancelWriter struct{ cancel context.CancelFunc }

func (w cancelWriter) Write(p []byte) (int, error) { w.cancel(); return len(p), nil }

func TestCancel(t *testing.T) {
	src, _ := testInput(t, 64<<20, 1, 0, 10<<20, 40<<20)
	for _, format := range formats {
		for _, early := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/before-start=%v", format, early), func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var dst io.Writer = cancelWriter{cancel}
				if early {
					cancel()
					dst = io.Discard
				}
				err := Compress(ctx, dst, src, 0, 64<<20, Options{Format: format, Threads: 2})
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Compress with a cancelled context returned %v", err)
				}
			})
		}
	}
}

type failWriter struct{ after int }

var errWrite = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after == 0 {
		return 0, errWrite
	}
	w.after--
	return len(p), nil
}

// TestWriteError checks that a failing destination ends the call with
// its error at any point, with chunks still in flight.
func TestWriteError(t *testing.T) {
	src, _ := testInput(t, 40<<20, 1, 0, 10<<20, 30<<20)
	for _, format := range formats {
		for _, after := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/after=%d", format, after), func(t *testing.T) {
				err := Compress(context.Background(), &failWriter{after}, src, 0, 40<<20, Options{Format: format, Level: 1, Threads: 2})
				if !errors.Is(err, errWrite) {
					t.Fatalf("Compress returned %v, want the writer's error", err)
				}
			})
		}
	}
}

func TestRegionPastEnd(t *testing.T) {
	src, _ := testInput(t, 1<<20, 1, 0)
	if err := Compress(context.Background(), io.Discard, src, 4096, 1<<20, Options{}); err == nil {
		t.Fatal("compressing past the end of the file succeeded")
	}
}

func TestCompressFile(t *testing.T) {
	src, want := testInput(t, 5<<20+3, 2, 1<<20)
	for _, format := range formats {
		t.Run(format.String(), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "image.raw"+format.Suffix())
			if err := CompressFile(context.Background(), dst, src.Name(), Options{Format: format}); err != nil {
				t.Fatal(err)
			}
			if got := decode(t, format, dst); !bytes.Equal(got, want) {
				t.Fatal("decoded file differs from the input")
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".*")); len(left) != 0 {
				t.Fatalf("temporary files left behind: %v", left)
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

// TestSourceBeingWritten compresses a file whose bytes appear only when
// Ready is asked for them, as the image's do while later partitions are
// built: the output must equal that of the finished file, so no chunk
// was read (nor its holes mapped) before it was final.
func TestSourceBeingWritten(t *testing.T) {
	const size = 40 << 20
	final, _ := testInput(t, size, 7, 0, 3<<20, 33<<20, size-(1<<20))
	for _, format := range formats {
		t.Run(format.String(), func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "growing.img"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			written := int64(0)
			ready := func(ctx context.Context, end int64) error {
				mu.Lock()
				defer mu.Unlock()
				if end > written {
					if err := imagefile.CopyRange(ctx, f, written, final, written, end-written); err != nil {
						return err
					}
					written = end
				}
				return nil
			}
			var progress int64
			var got bytes.Buffer
			err = CompressSource(context.Background(), &got, Source{File: f, Size: size, Ready: ready,
				Progress: func(n int64) { progress += n }}, Options{Format: format, Threads: 4})
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(compressFile(t, final, 0, size, Options{Format: format, Threads: 4}))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("output differs from the finished file's (%d vs %d bytes)", got.Len(), len(want))
			}
			if progress != size {
				t.Errorf("progress reported %d bytes, want %d", progress, size)
			}

			bad := errors.New("partition failed")
			err = CompressSource(context.Background(), io.Discard, Source{File: f, Size: size,
				Ready: func(context.Context, int64) error { return bad }}, Options{Format: format})
			if !errors.Is(err, bad) {
				t.Errorf("Ready's failure: got %v", err)
			}
		})
	}
}
