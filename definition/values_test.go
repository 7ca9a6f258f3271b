package definition

import "testing"

func TestParseSize(t *testing.T) {
	good := map[string]uint64{
		"0":        0,
		"1":        1,
		"1B":       1,
		"1K":       1024,
		"64M":      64 << 20,
		"1G 512M":  1<<30 + 512<<20,
		"1.5K":     1536,
		"10.M":     10 << 20,
		" 2 T":     2 << 40,
		"10000000": 10000000,
		"+5K":      5120,
		"0.5":      0,
		"1E":       1 << 60,
	}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1", "1X", "1M 1G", "1K1K", "16E", "1 2", "abc", "1.5.5", "1K ", "99999999999999999999"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want error", in, got)
		}
	}
}

func TestParseUint(t *testing.T) {
	good := map[string]uint64{"0": 0, "10": 10, "010": 8, "0x10": 16, "0X1f": 31, "0b101": 5, "0o17": 15, " 7": 7, "-0": 0,
		"0x1000000000000000": 1 << 60, "18446744073709551615": 1<<64 - 1}
	for in, want := range good {
		if got, err := parseUint(in, 64); err != nil || got != want {
			t.Errorf("parseUint(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "0x", "08", "-1", "1 ", "18446744073709551616", "0b2", "1_000"} {
		if got, err := parseUint(in, 64); err == nil {
			t.Errorf("parseUint(%q) = %d, want error", in, got)
		}
	}
	if _, err := parseUint("4294967296", 32); err == nil {
		t.Error("32-bit overflow accepted")
	}
}

func TestParseInt32(t *testing.T) {
	good := map[string]int32{"0": 0, "-5": -5, "2147483647": 2147483647, "-2147483648": -2147483648, "0x10": 16}
	for in, want := range good {
		if got, err := parseInt32(in); err != nil || got != want {
			t.Errorf("parseInt32(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"2147483648", "-2147483649", "one", ""} {
		if _, err := parseInt32(in); err == nil {
			t.Errorf("parseInt32(%q) accepted", in)
		}
	}
}

func TestSplitWords(t *testing.T) {
	got, err := splitWords(` /a  "/b c" '/d' /e\ f `)
	want := []string{"/a", "/b c", "/d", "/e f"}
	if err != nil || len(got) != len(want) {
		t.Fatalf("splitWords = %q, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("word %d = %q, want %q", i, got[i], want[i])
		}
	}
}
