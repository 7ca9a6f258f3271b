package repart

import "testing"

func TestFormatBytes(t *testing.T) {
	for in, want := range map[uint64]string{
		0: "0B", 512: "512B", 1023: "1023B", 1024: "1K", 1536: "1.5K", 1 << 20: "1M",
		98 << 20: "98M", 167640000: "159.8M", 71 << 20: "71M", 103788544: "98.9M",
		212881408: "203M", 1 << 60: "1E", 5 << 40: "5T",
	} {
		if got := FormatBytes(in); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}
