package swap

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

type buf []byte

func (b buf) WriteAt(p []byte, off int64) (int, error) { return copy(b[off:], p), nil }

// The header systemd-repart 257 writes for a 1 MiB swap partition with the
// seed e2a40bf9-… (from ../shared/vectors/repart257/009).
func TestGolden(t *testing.T) {
	img := make(buf, 1<<20)
	err := Write(img, Header{Size: 1 << 20, UUID: uuid.MustParse("e116f556-26a3-42a6-9578-dd6194876f39"), Label: "swap"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{
		0x400: "01000000ff00000000000000e116f556",
		0x410: "26a342a69578dd6194876f3973776170",
		0xff0: "00000000000053574150535041434532",
	}
	for off := 0; off < len(img); off += 16 {
		got := hex.EncodeToString(img[off : off+16])
		w, ok := want[off]
		if !ok {
			w = strings.Repeat("0", 32)
		}
		if got != w {
			t.Errorf("offset %#x: %s, want %s", off, got, w)
		}
	}
}

func TestErrors(t *testing.T) {
	img := make(buf, 1<<20)
	if err := Write(img, Header{Size: 9 * PageSize}); err == nil {
		t.Error("9-page swap accepted")
	}
	if err := Write(img, Header{Size: 1 << 20, Label: "0123456789abcdef"}); err == nil {
		t.Error("16-byte label accepted")
	}
}

// swaplabel (util-linux) reads our header back.
func TestSwaplabel(t *testing.T) {
	bin := oracle.Require(t, "swaplabel")
	p := filepath.Join(t.TempDir(), "swap")
	img := make(buf, 4<<20)
	u := uuid.MustParse("e116f556-26a3-42a6-9578-dd6194876f39")
	if err := Write(img, Header{Size: uint64(len(img)), UUID: u, Label: "myswap"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, p).CombinedOutput()
	if err != nil {
		t.Fatalf("swaplabel: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("LABEL: myswap")) || !bytes.Contains(out, []byte("UUID:  "+u.String())) {
		t.Errorf("swaplabel output:\n%s", out)
	}
}
