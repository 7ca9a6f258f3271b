package vfat

import (
	"errors"
	"fmt"
	"hash/fnv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxLFN is the longest long name in UTF-16 code units.
const maxLFN = 255

// NT case flags in a short entry (byte 12): the base or the extension is
// to be shown in lower case.
const (
	caseLowerBase = 0x08
	caseLowerExt  = 0x10
)

// shortName is an 8.3 name as stored: base and extension, space-padded.
type shortName [11]byte

// entryName is how one directory entry is named on disk.
type entryName struct {
	sfn   shortName
	lcase byte
	lfn   []uint16 // the long name, nil when the short name says it all
}

// slots is the number of 32-byte directory entries the name takes.
func (n *entryName) slots() int { return (len(n.lfn)+12)/13 + 1 }

// validateName checks that name can be stored as a FAT long name and
// returns it in UTF-16. The rules are Linux vfat's (fs/fat/namei_vfat.c),
// except that a trailing dot, which Linux silently strips, is an error:
// the file would come back under another name.
func validateName(name string) ([]uint16, error) {
	switch {
	case name == "":
		return nil, errors.New("empty name")
	case name == "." || name == "..":
		return nil, errors.New("name is . or ..")
	case !utf8.ValidString(name):
		return nil, errors.New("name is not valid UTF-8 (FAT stores names as UTF-16)")
	}
	for _, r := range name {
		if r < 0x20 || isBadChar(r) {
			return nil, fmt.Errorf("name holds %q, which FAT does not allow", r)
		}
	}
	switch name[len(name)-1] {
	case ' ':
		return nil, errors.New("name ends in a space, which FAT does not allow")
	case '.':
		return nil, errors.New("name ends in a dot, which FAT drops (the file would be renamed)")
	}
	u := utf16.Encode([]rune(name))
	if len(u) > maxLFN {
		return nil, fmt.Errorf("name is %d UTF-16 units long, FAT allows %d", len(u), maxLFN)
	}
	return u, nil
}

// isBadChar reports the characters a long name cannot hold besides
// control characters.
func isBadChar(r rune) bool {
	switch r {
	case '"', '*', '/', ':', '<', '>', '?', '\\', '|':
		return true
	}
	return false
}

// foldKey is the key under which two names count as the same file: FAT
// lookups ignore case (Windows through its upcase table, Linux through
// the NLS tables), so names equal under Unicode simple case folding
// cannot share a directory.
func foldKey(name string) string {
	b := make([]rune, 0, len(name))
	for _, r := range name {
		// The smallest rune of r's folding orbit stands for all of it.
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b = append(b, m)
	}
	return string(b)
}

// basis is the result of the first half of Linux's
// vfat_create_shortname: the 8.3 name derived from a long name, before
// any numeric tail.
type basis struct {
	name    shortName
	baseLen int
	// exact: the long name is itself a valid 8.3 name (one part each,
	// no characters dropped or replaced), so it needs no numeric tail.
	exact bool
	// upper/lower: no lower-/upper-case letter in the base (ext).
	baseUpper, baseLower bool
	extUpper, extLower   bool
}

// shortChar maps one UTF-16 unit to its short-name byte as Linux does
// with an ASCII-only OEM table: '.' and ' ' are dropped, "[];,+=" become
// '_' and so does anything outside printable ASCII (Linux would keep
// characters of the mount's codepage; which codepage a reader uses is
// unknown, so this writer stores '_' and always keeps the long name).
// keep is false for a dropped character; valid is false when the
// character makes the name inexact; upper/lower report the letter's case.
func shortChar(u uint16) (c byte, keep, valid, upper, lower bool) {
	switch {
	case u == '.' || u == ' ':
		return 0, false, false, false, false
	case u == '[' || u == ']' || u == ';' || u == ',' || u == '+' || u == '=':
		return '_', true, false, false, false
	case u < 0x20 || u >= 0x7f:
		return '_', true, false, false, false
	case 'a' <= u && u <= 'z':
		return byte(u) - 'a' + 'A', true, true, false, true
	case 'A' <= u && u <= 'Z':
		return byte(u), true, true, true, false
	}
	return byte(u), true, true, false, false
}

// makeBasis derives the basis name of u (a validated long name).
func makeBasis(u []uint16) basis {
	b := basis{exact: true, baseUpper: true, baseLower: true, extUpper: true, extLower: true}
	for i := range b.name {
		b.name[i] = ' '
	}
	// The extension starts after the last dot, unless only dots and
	// spaces precede it (".bashrc" has no extension: Windows 95 takes
	// "BASHRC" as the base).
	sz, ext := len(u), -1
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] == '.' {
			for j := 0; j < i; j++ {
				if u[j] != '.' && u[j] != ' ' {
					sz, ext = i, i+1
					break
				}
			}
			break
		}
	}
	for i := 0; i < sz; i++ {
		c, keep, valid, up, low := shortChar(u[i])
		b.exact = b.exact && valid
		if !keep {
			continue
		}
		if b.baseLen == 8 {
			b.exact = false // more than 8 characters
			break
		}
		if up {
			b.baseLower = false
		}
		if low {
			b.baseUpper = false
		}
		b.name[b.baseLen] = c
		b.baseLen++
	}
	if ext >= 0 {
		n := 0
		for i := ext; i < len(u); i++ {
			c, keep, valid, up, low := shortChar(u[i])
			b.exact = b.exact && valid
			if !keep {
				continue
			}
			if n == 3 {
				b.exact = false
				break
			}
			if up {
				b.extLower = false
			}
			if low {
				b.extUpper = false
			}
			b.name[8+n] = c
			n++
		}
	}
	return b
}

// direct returns the entry name of a long name that is a valid 8.3 name,
// and whether it is one: in Windows NT style (Linux's shortname=winnt, as
// mtools writes it) a name whose base and extension are each in one case
// is stored as a short entry alone, lower case recorded in the NT case
// flags; a mixed-case part keeps its long name.
func (b *basis) direct(u []uint16) (entryName, bool) {
	if !b.exact {
		return entryName{}, false
	}
	n := entryName{sfn: b.name}
	if (b.baseUpper || b.baseLower) && (b.extUpper || b.extLower) {
		if !b.baseUpper {
			n.lcase |= caseLowerBase
		}
		if !b.extUpper {
			n.lcase |= caseLowerExt
		}
	} else {
		n.lfn = u
	}
	return n, true
}

// withTail picks the short name of a long name that is not a valid 8.3
// name, as Linux's vfat_create_shortname does: the basis with "~1" to
// "~9" (the base cut to 6 characters), then a 2-character base, four hex
// digits and "~1".."~8". Linux takes the hex digits and that last digit
// from the clock (jiffies); here they come from an FNV-1a hash of the
// long name, stepping down by 11 as Linux does until the name is free, so
// the result depends only on the directory's names.
func (b *basis) withTail(u []uint16, taken func(shortName) bool) (shortName, error) {
	n := b.name
	baseLen := b.baseLen
	if baseLen > 6 {
		baseLen = 6
		n[7] = ' '
	}
	n[baseLen] = '~'
	for i := byte(1); i <= 9; i++ {
		n[baseLen+1] = '0' + i
		if !taken(n) {
			return n, nil
		}
	}
	h := fnv.New32a()
	for _, c := range u {
		h.Write([]byte{byte(c), byte(c >> 8)})
	}
	seed := h.Sum32()
	if baseLen > 2 {
		baseLen = 2
		n[7] = ' '
	}
	n[baseLen+4] = '~'
	n[baseLen+5] = '1' + byte(seed>>16&7)
	const hex = "0123456789ABCDEF"
	x := uint16(seed)
	for range 1 << 16 {
		n[baseLen] = hex[x>>12]
		n[baseLen+1] = hex[x>>8&15]
		n[baseLen+2] = hex[x>>4&15]
		n[baseLen+3] = hex[x&15]
		if !taken(n) {
			return n, nil
		}
		x -= 11
	}
	return n, errors.New("no free short name")
}

// checksum is the short-name checksum each long-name entry carries.
func (s *shortName) checksum() byte {
	var sum byte
	for _, c := range s {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	return sum
}
