package ext4

import (
	"fmt"
	"strings"
	"testing"
)

func TestCrc32c(t *testing.T) {
	if got := crc32c(^uint32(0), []byte("123456789")) ^ ^uint32(0); got != 0xE3069283 {
		t.Errorf("crc32c check value %#x", got)
	}
}

func TestDirHashGolden(t *testing.T) {
	seed := hashSeed(testSeed)
	for _, c := range []struct {
		name         string
		major, minor uint32
	}{
		// From debugfs 1.47.0 dx_hash -h half_md4 -s fedcba98-7654-3210-fedc-ba9876543210.
		{"hello", 0xc013668e, 0x6eb6f5ce},
		{"héllo_wörld_with_a_long_name_over_32_bytes_x", 0xe1c1cfc0, 0x937eccf4},
	} {
		major, minor := dirHash(c.name, seed)
		if major != c.major || minor != c.minor {
			t.Errorf("dirHash(%q) = %#x, %#x; want %#x, %#x", c.name, major, minor, c.major, c.minor)
		}
	}
}

// TestDirHashDebugfs compares the hash with debugfs for names of every
// length class: short, exactly 32 bytes, several chunks, high bytes.
func TestDirHashDebugfs(t *testing.T) {
	img := writeImage(t, emptyRoot(), testOptions(4<<20))
	names := []string{"a", "lost+found", strings.Repeat("x", 31), strings.Repeat("y", 32), strings.Repeat("z", 33),
		strings.Repeat("0123456789", 25) + "abcde", "\xff\xfe\x80name", "日本語のファイル名"}
	for _, name := range names {
		out := debugfs(t, img, "dx_hash -h half_md4 -s fedcba98-7654-3210-fedc-ba9876543210 "+name)
		major, minor := dirHash(name, hashSeed(testSeed))
		want := fmt.Sprintf("is 0x%x (minor 0x%x)", major, minor)
		if !strings.Contains(out, want) {
			t.Errorf("%q: debugfs says %q, we say %q", name, strings.TrimSpace(out), want)
		}
	}
}
