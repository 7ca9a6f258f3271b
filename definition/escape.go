package definition

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

var errEscape = errors.New("invalid escape sequence")

// cunescapeOne decodes the C escape at s[0] (after a backslash) and returns
// the bytes it stands for and how many bytes of s it used, as systemd's
// cunescape_one does.
func cunescapeOne(s string) (string, int, error) {
	if s == "" {
		return "", 0, errEscape
	}
	simple := map[byte]string{'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v",
		'\\': "\\", '"': "\"", '\'': "'", 's': " "}
	if v, ok := simple[s[0]]; ok {
		return v, 1, nil
	}
	hexRune := func(n int) (string, int, error) {
		if len(s) < 1+n {
			return "", 0, errEscape
		}
		v, err := strconv.ParseUint(s[1:1+n], 16, 32)
		if err != nil || v == 0 {
			return "", 0, errEscape
		}
		if n == 2 {
			return string([]byte{byte(v)}), 1 + n, nil
		}
		if !utf8.ValidRune(rune(v)) {
			return "", 0, errEscape
		}
		return string(rune(v)), 1 + n, nil
	}
	switch s[0] {
	case 'x':
		return hexRune(2)
	case 'u':
		return hexRune(4)
	case 'U':
		return hexRune(8)
	case '0', '1', '2', '3', '4', '5', '6', '7':
		if len(s) < 3 {
			return "", 0, errEscape
		}
		v, err := strconv.ParseUint(s[:3], 8, 16)
		if err != nil || v == 0 || v > 255 {
			return "", 0, errEscape
		}
		return string([]byte{byte(v)}), 3, nil
	}
	return "", 0, errEscape
}

// extractWord takes the text up to the first unescaped sep from s, with C
// escapes decoded; it is systemd's extract_first_word with
// EXTRACT_CUNESCAPE|EXTRACT_DONT_COALESCE_SEPARATORS. ok is false when s
// is empty.
func extractWord(s string, sep byte) (word, rest string, ok bool, err error) {
	if s == "" {
		return "", "", false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == sep:
			return b.String(), s[i+1:], true, nil
		case c == '\\':
			if i+1 < len(s) && s[i+1] == sep {
				b.WriteByte(sep)
				i++
				continue
			}
			v, n, err := cunescapeOne(s[i+1:])
			if err != nil {
				return "", "", false, err
			}
			b.WriteString(v)
			i += n
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), "", true, nil
}

// cleanPath simplifies an absolute path ("//" and "/./" collapse) and
// refuses ".." components, like systemd's path_simplify_and_warn. A
// trailing "/" is kept when keepSlash is set (ExcludeFiles= uses it).
func cleanPath(p string, keepSlash bool) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", errors.New("path is not absolute")
	}
	if len(p) > maxPath {
		return "", errors.New("path has invalid length")
	}
	var parts []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			return "", errors.New("path is not normalized")
		default:
			parts = append(parts, c)
		}
	}
	out := "/" + strings.Join(parts, "/")
	if keepSlash && strings.HasSuffix(p, "/") && out != "/" {
		out += "/"
	}
	return out, nil
}
