package repart

import "fmt"

// FormatBytes renders a size the way systemd's FORMAT_BYTES does: IEC
// units, one truncated decimal shown only when it is not zero, "B" below
// 1 KiB ("98M", "159.8M", "1.5K", "0B").
func FormatBytes(t uint64) string {
	suffixes := []string{"E", "P", "T", "G", "M", "K"}
	for i, s := range suffixes {
		factor := uint64(1) << (10 * (len(suffixes) - i))
		if t < factor {
			continue
		}
		var tenth uint64
		if i != len(suffixes)-1 {
			tenth = (t / (factor >> 10) * 10 / 1024) % 10
		} else {
			tenth = (t * 10 / 1024) % 10
		}
		if tenth > 0 {
			return fmt.Sprintf("%d.%d%s", t/factor, tenth, s)
		}
		return fmt.Sprintf("%d%s", t/factor, s)
	}
	return fmt.Sprintf("%dB", t)
}
