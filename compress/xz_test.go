package compress

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// TestXZMatchesXZ checks the whole file against xz's multi-threaded
// encoder with the same block size: header, blocks (header sizes
// reserved for the largest block, padding, CRC64), index and footer.
func TestXZMatchesXZ(t *testing.T) {
	xz := oracle.Require(t, "xz")
	for _, tc := range []struct {
		name        string
		level       int
		block, size int64
		at          []int64
	}{
		{"empty", 3, 1 << 20, 0, nil},
		{"one byte", 3, 1 << 20, 1, []int64{0}},
		{"partial last block", 1, 1 << 20, 3<<20 + 4321, []int64{0, 2 << 20}},
		{"zero blocks", 2, 1 << 20, 4 << 20, []int64{3 << 20}},
		{"preset 6", 6, 1 << 20, 2<<20 + 77, []int64{0}},
		{"default blocks", 1, xzBlockSize(1), 7 << 20, []int64{0, 4 << 20}},
		// Random bytes make stored LZMA2 chunks of about 57 KiB.
		{"random", 3, 1 << 20, 1 << 20, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, data := testInput(t, tc.size, 7, tc.at...)
			if tc.name == "random" {
				data = randomBytes(int(tc.size))
				if _, err := src.WriteAt(data, 0); err != nil {
					t.Fatal(err)
				}
			}
			var got bytes.Buffer
			c := newXZCodecBlock(tc.level, tc.block)
			if err := compressWith(context.Background(), &got, Source{File: src, Size: tc.size}, c, tc.block, 2); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(xz, "-T2", fmt.Sprintf("-%d", tc.level), fmt.Sprintf("--block-size=%d", tc.block), "-c")
			cmd.Stdin = bytes.NewReader(data)
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				i := 0
				for i < got.Len() && i < len(want) && got.Bytes()[i] == want[i] {
					i++
				}
				t.Fatalf("%d bytes, xz %d; first difference at %d", got.Len(), len(want), i)
			}
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9E3779B97F4A7C15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// TestXZStoredBlock forces the fallback xz takes when a block's LZMA2
// data would exceed lzma_block_buffer_bound64 (random blocks over about
// 17 MiB): the block is stored in 64 KiB chunks under a header with exact
// sizes and a 4 KiB dictionary. xz must accept and list it.
func TestXZStoredBlock(t *testing.T) {
	xz := oracle.Require(t, "xz")
	const size = 200<<10 + 3
	src, _ := testInput(t, size, 9)
	data := randomBytes(size)
	if _, err := src.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	c := newXZCodecBlock(3, size)
	c.bound = int64(c.hdrSize) + size // too small for any LZMA2 encoding
	var buf bytes.Buffer
	if err := compressWith(context.Background(), &buf, Source{File: src, Size: size}, c, size, 1); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir() + "/stored.xz"
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := oracle.Run(t, xz, "-t", out); err != nil {
		t.Fatalf("xz -t: %v: %s", err, stderr)
	}
	stdout, stderr, err := oracle.Run(t, xz, "-lvv", "--robot", out)
	if err != nil {
		t.Fatalf("xz -l: %v: %s", err, stderr)
	}
	if !strings.Contains(stdout, "--lzma2=dict=4KiB") {
		t.Fatalf("xz -l does not show a stored block:\n%s", stdout)
	}
	if want := int64(12+xzHeaderSize(lzma2StoredSize(size), size)) + lzma2StoredSize(size); int64(buf.Len()) < want {
		t.Fatalf("%d bytes, want at least %d", buf.Len(), want)
	}
}
