package compress

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
	"github.com/klauspost/compress/zstd"
)

// parseSeekTable reads the seek table at the end of a seekable zstd file,
// independently of the writer: it returns each frame's compressed offset
// and size and its decompressed size.
func parseSeekTable(t *testing.T, b []byte) (comp, decomp []int64) {
	t.Helper()
	if len(b) < 9 {
		t.Fatal("too short for a seek table footer")
	}
	foot := b[len(b)-9:]
	if m := binary.LittleEndian.Uint32(foot[5:]); m != 0x8F92EAB1 {
		t.Fatalf("seekable magic %#x", m)
	}
	n := int(binary.LittleEndian.Uint32(foot))
	desc := foot[4]
	if desc&0x7c != 0 {
		t.Fatalf("reserved descriptor bits set: %#x", desc)
	}
	entry := 8
	if desc&0x80 != 0 {
		entry = 12
	}
	tableLen := 8 + n*entry + 9
	if tableLen > len(b) {
		t.Fatalf("seek table of %d frames does not fit", n)
	}
	table := b[len(b)-tableLen:]
	if m := binary.LittleEndian.Uint32(table); m != 0x184D2A5E {
		t.Fatalf("skippable frame magic %#x", m)
	}
	if s := binary.LittleEndian.Uint32(table[4:]); int(s) != tableLen-8 {
		t.Fatalf("skippable frame size %d, want %d", s, tableLen-8)
	}
	var off int64
	for i := range n {
		e := table[8+i*entry:]
		comp = append(comp, off)
		decomp = append(decomp, int64(binary.LittleEndian.Uint32(e[4:])))
		off += int64(binary.LittleEndian.Uint32(e))
	}
	if off != int64(len(b)-tableLen) {
		t.Fatalf("frames add up to %d bytes, but the seek table starts at %d", off, len(b)-tableLen)
	}
	return append(comp, off), decomp
}

func TestSeekTable(t *testing.T) {
	const size = 9<<20 + 777
	src, want := testInput(t, size, 9, 0, 3<<20, 8<<20)
	out := compressFile(t, src, 0, size, Options{Format: ZstdSeekable})
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	offs, sizes := parseSeekTable(t, b)
	if len(sizes) != 5 {
		t.Fatalf("%d frames for %d bytes, want 5 of 2 MiB", len(sizes), size)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var pos int64
	for i, n := range sizes {
		// Decode every frame on its own, as a seeking reader would.
		got, err := dec.DecodeAll(b[offs[i]:offs[i+1]], nil)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if int64(len(got)) != n || !bytes.Equal(got, want[pos:pos+n]) {
			t.Fatalf("frame %d does not decode to input [%d, %d)", i, pos, pos+n)
		}
		pos += n
	}
	if pos != size {
		t.Fatalf("frames cover %d bytes, want %d", pos, size)
	}
}

// TestXZList checks with xz -l that the file is one stream of blocks of
// the fixed size, each with both sizes in its header (what lets
// multi-threaded decoders split the work).
func TestXZList(t *testing.T) {
	oracle.Require(t, "xz")
	const size = 50<<20 + 5
	src, _ := testInput(t, size, 4, 0, 20<<20)
	out := compressFile(t, src, 0, size, Options{Format: XZ, Level: 1})
	stdout, stderr, err := oracle.Run(t, "xz", "-lvv", "--robot", out)
	if err != nil {
		t.Fatalf("xz -l: %v: %s", err, stderr)
	}
	var streams int
	var blocks []int64
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		switch f[0] {
		case "stream":
			streams++
		case "block":
			// block stream n-in-stream n compoff uncompoff total uncomp ratio check checkval hdr flags ...
			if len(f) < 13 || f[12] != "cu" || f[9] != "CRC64" {
				t.Errorf("block line %q: want both sizes in the header and CRC64", sc.Text())
			}
			n, err := strconv.ParseInt(f[7], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, n)
		}
	}
	bs := xzBlockSize(1)
	var want []int64
	for range size / bs {
		want = append(want, bs)
	}
	want = append(want, size%bs)
	if streams != 1 || !equalInts(blocks, want) {
		t.Fatalf("xz -l shows %d streams, blocks %v; want 1 stream, blocks %v\n%s", streams, blocks, want, stdout)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		o  Options
		ok bool
	}{
		{Options{Format: Zstd}, true},
		{Options{Format: Zstd, Level: 22}, true},
		{Options{Format: Zstd, Level: 23}, false},
		{Options{Format: XZ, Level: 9}, true},
		{Options{Format: XZ, Level: 10}, false},
		{Options{Format: ZstdSeekable, Level: -1}, false},
		{Options{Format: Zstd, Threads: -2}, false},
	} {
		if err := tt.o.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: Validate() = %v", tt.o, err)
		}
	}
}
