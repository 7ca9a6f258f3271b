// Package specifier expands systemd's %-specifiers ("%a", "%m", "%t", ...)
// in definition values and split names, with systemd's rules for unknown
// specifiers and length limits.
package specifier

import (
	"errors"
	"fmt"
	"strings"
)

// Lookup returns the value of one specifier.
type Lookup func() (string, error)

// Table maps specifier letters to their lookups.
type Table map[byte]Lookup

// ErrTooLong means the expansion exceeds the length limit.
var ErrTooLong = errors.New("expansion too long")

// ErrUnknown means a %-sequence names a letter, digit or ':' that the
// table does not define.
var ErrUnknown = errors.New("unknown specifier")

func possible(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == ':'
}

// Expand replaces specifiers in s. "%%" is a literal "%"; "%" before a
// character that can never be a specifier is kept as it is, as is a
// trailing "%". maxLen limits the result in bytes (0: no limit).
func Expand(s string, t Table, maxLen int) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c != '%':
			b.WriteByte(c)
		case i+1 == len(s):
			b.WriteByte('%')
		default:
			i++
			c = s[i]
			if c == '%' {
				b.WriteByte('%')
			} else if f, ok := t[c]; ok {
				v, err := f()
				if err != nil {
					return "", fmt.Errorf("%%%c: %w", c, err)
				}
				b.WriteString(v)
			} else if possible(c) {
				return "", fmt.Errorf("%w %%%c", ErrUnknown, c)
			} else {
				b.WriteByte('%')
				b.WriteByte(c)
			}
		}
		if maxLen > 0 && b.Len() > maxLen {
			return "", fmt.Errorf("%w: more than %d bytes", ErrTooLong, maxLen)
		}
	}
	return b.String(), nil
}
