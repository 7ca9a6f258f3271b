package gpt

// repart hands names and attributes to libfdisk, whose conversions have
// quirks that show in every image it writes; these functions reproduce
// them so that our tables are byte-identical.

// FdiskAttributes returns the attribute field libfdisk stores when repart
// hands it flags as a list of bit numbers. libfdisk accepts numeric bits
// 48–63 only and drops the whole list on any other token, so a single low
// bit zeroes every attribute, defaults included. repart's images show this,
// so ours must too.
func FdiskAttributes(flags uint64) uint64 {
	if flags&(1<<48-1) != 0 {
		return 0
	}
	return flags
}

// FdiskName returns the partition name libfdisk stores for label. Its
// UTF-8 to UTF-16 conversion handles sequences of at most three bytes and
// gives up on the whole name at a four-byte one, leaving it empty (verified
// with systemd-repart 252; the code is unchanged in later util-linux).
func FdiskName(label string) string {
	for _, r := range label {
		if r > 0xffff {
			return ""
		}
	}
	return label
}
