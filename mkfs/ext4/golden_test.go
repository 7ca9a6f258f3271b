package ext4

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
	"github.com/hermetic-repart/hermetic-repart/internal/golden"
)

// imageDigest hashes the non-zero 4096-byte blocks of the image at path
// with their offsets, and its size: what the image holds, however
// sparse the file is.
func imageDigest(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	runs, err := imagefile.DataRuns(int(f.Fd()), st.Size())
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for _, r := range runs {
		for pos := r.Offset; pos < r.Offset+r.Length; {
			n := min(int64(len(buf)), r.Offset+r.Length-pos)
			if _, err := f.ReadAt(buf[:n], pos); err != nil {
				t.Fatal(err)
			}
			for i := int64(0); i < n; i += BlockSize {
				if b := buf[i:min(i+BlockSize, n)]; !imagefile.IsZero(b) {
					fmt.Fprintf(h, "%d:", pos+i)
					h.Write(b)
				}
			}
			pos += n
		}
	}
	return fmt.Sprintf("%x %d", h.Sum(nil), st.Size())
}

// TestGoldenImages pins the bytes of a few images, so that a change to
// the writer that should not change them (the order of writing, say)
// cannot do so unnoticed. A change of format rewrites the digests with
// -update, after the oracle tests have passed.
func TestGoldenImages(t *testing.T) {
	host := sparseHostFile(t, 20<<20, 0, 5<<20, 20<<20-4096)
	mixed := richTree()
	big := dirNode(0o755)
	for i := range 3000 {
		big.Entries = append(big.Entries, Entry{fmt.Sprint("e", i), fileNode(0o644, []byte{byte(i)})})
	}
	mixed.Entries = append(mixed.Entries, Entry{"big", big},
		Entry{"host", &Inode{Kind: Regular, Perm: 0o644, Size: 20 << 20, Data: File{Path: host}}})
	var got strings.Builder
	for _, typ := range []string{"ext4", "ext3", "ext2"} {
		for _, c := range []struct {
			name string
			root *Inode
			size int64
		}{
			{"rich", richTree(), 96 << 20},
			{"mixed", mixed, 96 << 20},
			{"empty", emptyRoot(), 3 << 30}, // 24 groups: backup superblocks
		} {
			opts := testOptions(c.size)
			opts.Type = typ
			img := writeImage(t, c.root, opts)
			fmt.Fprintf(&got, "%s-%s %s\n", typ, c.name, imageDigest(t, img))
			os.Remove(img)
		}
	}
	golden.Check(t, "digests.txt", got.String())
}
