package definition

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

const whitespace = " \t\n\r"

var errSyntax = errors.New("invalid syntax")
var errRange = errors.New("value out of range")

// sizeSuffixes are parse_size's IEC suffixes; the empty suffix must stay
// last because it matches anything.
var sizeSuffixes = []struct {
	s string
	f uint64
}{
	{"E", 1 << 60}, {"P", 1 << 50}, {"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}, {"", 1},
}

// ParseSize parses a size the way systemd's parse_size (base 1024) does:
// a decimal number with an optional fraction and suffix, possibly several
// terms in descending suffix order ("1G 512M").
func ParseSize(t string) (uint64, error) {
	var r uint64
	p := t
	start := 0
	for {
		p = strings.TrimLeft(p, whitespace)
		digits := p
		if strings.HasPrefix(digits, "+") {
			digits = digits[1:]
		}
		if strings.HasPrefix(p, "-") {
			return 0, errRange
		}
		n := 0
		for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
			n++
		}
		if n == 0 {
			return 0, errSyntax
		}
		l, err := strconv.ParseUint(digits[:n], 10, 64)
		if err != nil {
			return 0, errRange
		}
		e := digits[n:]
		frac := 0.0
		if strings.HasPrefix(e, ".") {
			e = e[1:]
			m := 0
			for m < len(e) && e[m] >= '0' && e[m] <= '9' {
				m++
			}
			if m > 0 {
				l2, err := strconv.ParseUint(e[:m], 10, 64)
				if err != nil {
					return 0, errRange
				}
				frac = float64(l2)
				for i := 0; i < m; i++ {
					frac /= 10
				}
				e = e[m:]
			}
		}
		e = strings.TrimLeft(e, whitespace)
		i := start
		for ; i < len(sizeSuffixes); i++ {
			if strings.HasPrefix(e, sizeSuffixes[i].s) {
				break
			}
		}
		if i >= len(sizeSuffixes) {
			return 0, errSyntax
		}
		f := sizeSuffixes[i].f
		var bump uint64
		if frac > 0 {
			bump = 1
		}
		if l+bump > math.MaxUint64/f {
			return 0, errRange
		}
		tmp := l*f + uint64(frac*float64(f))
		if tmp > math.MaxUint64-r {
			return 0, errRange
		}
		r += tmp
		p = e[len(sizeSuffixes[i].s):]
		start = i + 1
		if p == "" {
			return r, nil
		}
	}
}

// parseBool accepts systemd's boolean spellings.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, nil
	case "0", "no", "n", "false", "f", "off":
		return false, nil
	}
	return false, errSyntax
}

// parseUint parses an unsigned integer the way systemd's safe_atou* do
// with base 0: "0x" hex, "0b" binary, "0o" or a leading "0" octal,
// else decimal; leading whitespace allowed, a sign is not.
func parseUint(s string, bits int) (uint64, error) {
	s = strings.TrimLeft(s, whitespace)
	neg := false
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		neg = s[0] == '-'
		s = s[1:]
	}
	v, err := parseMagnitude(s, bits)
	if err != nil {
		return 0, err
	}
	if neg && v != 0 {
		return 0, errRange
	}
	return v, nil
}

func parseMagnitude(s string, bits int) (uint64, error) {
	base := 10
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "0x"):
		base, s = 16, s[2:]
	case strings.HasPrefix(lower, "0b"):
		base, s = 2, s[2:]
	case strings.HasPrefix(lower, "0o"):
		base, s = 8, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	if s == "" || s[0] == '+' || s[0] == '-' || s[0] == '_' {
		return 0, errSyntax
	}
	v, err := strconv.ParseUint(s, base, bits)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, errRange
		}
		return 0, errSyntax
	}
	return v, nil
}

// parseInt32 parses a signed 32-bit integer with the same prefixes.
func parseInt32(s string) (int32, error) {
	s = strings.TrimLeft(s, whitespace)
	neg := false
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		neg = s[0] == '-'
		s = s[1:]
	}
	v, err := parseMagnitude(s, 64)
	if err != nil {
		return 0, err
	}
	if neg {
		if v > 1<<31 {
			return 0, errRange
		}
		return int32(-int64(v)), nil
	}
	if v > math.MaxInt32 {
		return 0, errRange
	}
	return int32(v), nil
}

// splitWords splits a whitespace-separated list, honouring double and
// single quotes like systemd's extract_first_word with quote removal.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote, in = c, true
		case strings.IndexByte(whitespace, c) >= 0:
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unbalanced quotes")
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
