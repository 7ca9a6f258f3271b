package vfat

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/soypat/fat"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// TestLargeSparseFile writes a file larger than 1 GiB from a sparse
// host file: only its data runs are copied (copy_file_range into the
// image file), the image stays sparse, fsck.fat accepts the 270000-cluster
// chain, mdir lists the size, and soypat/fat reads the data back at the
// right offsets (and zeros between).
func TestLargeSparseFile(t *testing.T) {
	const size = 1<<30 + 100<<20 + 4097
	src := filepath.Join(t.TempDir(), "big.bin")
	r := rand.New(rand.NewPCG(3, 4))
	pieces := map[int64][]byte{0: nil, 600 << 20: nil, size - 5000: nil}
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	for off := range pieces {
		b := make([]byte, 5000)
		for i := range b {
			b[i] = byte(r.Uint32() | 1)
		}
		pieces[off] = b
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()

	mt := time.Date(2023, 1, 2, 3, 4, 6, 0, time.UTC)
	root := dir(Entry{"EFI", dir(Entry{"big.bin", &Inode{Kind: Regular, Size: size, Data: File{Path: src}, Mtime: mt}})})
	opts := testOptions(0, 512)
	m, err := MinSize(context.Background(), root, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Size = m
	img, p := writeImage(t, root, opts)
	t.Logf("%d bytes: %+v", m, p.Stats())

	var st syscall.Stat_t
	if err := syscall.Stat(img, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > 16<<20 {
		t.Errorf("image allocates %d bytes: holes were written", st.Blocks*512)
	}
	fsckClean(t, img)

	mdir := oracle.Require(t, "mdir")
	t.Setenv("MTOOLS_SKIP_CHECK", "1")
	t.Setenv("TZ", "UTC")
	out, errOut, err := oracle.Run(t, mdir, "-i", img, "::EFI")
	if err != nil || !strings.Contains(out, "1178603521") && !strings.Contains(out, "1 178 603 521") {
		t.Fatalf("mdir: %v\n%s%s", err, out, errOut)
	}

	fi, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer fi.Close()
	var fsys fat.FS
	if err := fsys.Mount(blockDev{fi, 512}, 512, fat.ModeRead); err != nil {
		t.Fatal(err)
	}
	var fp fat.File
	if err := fsys.OpenFile(&fp, "/EFI/big.bin", fat.ModeRead); err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	if fp.Size() != size {
		t.Fatalf("soypat/fat: size %d", fp.Size())
	}
	for off, piece := range pieces {
		// A window around the piece: zeros, the piece, zeros.
		lo, hi := max(0, off-50), min(size, off+int64(len(piece))+50)
		want := make([]byte, hi-lo)
		copy(want[off-lo:], piece)
		got := make([]byte, hi-lo)
		if n, err := fp.ReadAt(got, lo); n != len(got) {
			t.Fatalf("soypat/fat: read %d of %d bytes at %d: %v", n, len(got), lo, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("soypat/fat: data around %d differs", off)
		}
	}
}
