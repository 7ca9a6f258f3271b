package definition

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// assignment is one "Key=Value" line of a definition file.
type assignment struct {
	file  string
	line  int
	key   string
	value string
}

// maxLine mirrors systemd's LONG_LINE_MAX.
const maxLine = 1 << 20

// readConf tokenizes a unit-file-style file the way systemd's conf-parser
// does: comments start with '#' or ';', a trailing backslash continues the
// line, only [Partition] is a known section. Problems that systemd only
// warns about are passed to warn.
func readConf(path string, warn func(file string, line int, msg string)) ([]assignment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading definition %s: %w", path, err)
	}
	var out []assignment
	section := ""
	var continuation string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), maxLine+1)
	sc.Split(splitLines)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		raw := sc.Text()
		if lineNo == 1 {
			raw = strings.TrimPrefix(raw, "\ufeff")
		}
		l := strings.Trim(raw, whitespace)
		if continuation != "" && l != "" && (l[0] == '#' || l[0] == ';') {
			continue
		}
		p := l
		if continuation != "" {
			p = continuation + l
			continuation = ""
		}
		if escapedEnd(p) {
			continuation = p[:len(p)-1] + " "
			continue
		}
		p = strings.Trim(p, whitespace)
		if p == "" || p[0] == '#' || p[0] == ';' {
			continue
		}
		if !utf8.ValidString(p) {
			warn(path, lineNo, fmt.Sprintf("String is not UTF-8 clean, ignoring assignment: %q", p))
			continue
		}
		if p[0] == '[' {
			if len(p) < 2 || p[len(p)-1] != ']' {
				return nil, &Error{File: path, Line: lineNo, Msg: fmt.Sprintf("Invalid section header '%s'", p)}
			}
			section = p[1 : len(p)-1]
			if strings.ContainsAny(section, "\\\"'\x7f") || strings.IndexFunc(section, func(r rune) bool { return r < ' ' }) >= 0 {
				return nil, &Error{File: path, Line: lineNo, Msg: fmt.Sprintf("Bad characters in section header '%s'", p)}
			}
			if section != "Partition" && !strings.HasPrefix(section, "X-") {
				warn(path, lineNo, fmt.Sprintf("Unknown section '%s'. Ignoring.", section))
			}
			continue
		}
		if section != "Partition" {
			if section == "" {
				warn(path, lineNo, "Assignment outside of section. Ignoring.")
			}
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			warn(path, lineNo, "Missing '=', ignoring line.")
			continue
		}
		out = append(out, assignment{file: path, line: lineNo, key: strings.Trim(k, whitespace), value: strings.Trim(v, whitespace)})
	}
	if err := sc.Err(); err != nil {
		return nil, &Error{File: path, Line: lineNo + 1, Msg: fmt.Sprintf("Failed to read line: %v", err)}
	}
	if continuation != "" {
		// A continuation at end of file still counts as a line.
		p := strings.Trim(continuation, whitespace)
		if k, v, ok := strings.Cut(p, "="); ok && section == "Partition" {
			out = append(out, assignment{file: path, line: lineNo, key: strings.Trim(k, whitespace), value: strings.Trim(v, whitespace)})
		}
	}
	return out, nil
}

// splitLines ends lines as systemd's read_line does: at "\n", "\r",
// "\r\n" or a NUL byte, so no line (and no value) can contain a NUL.
func splitLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, c := range data {
		switch c {
		case '\n', 0:
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // a "\n" may follow
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// escapedEnd reports whether s ends in an unescaped backslash.
func escapedEnd(s string) bool {
	escaped := false
	for i := 0; i < len(s); i++ {
		if escaped {
			escaped = false
		} else if s[i] == '\\' {
			escaped = true
		}
	}
	return escaped
}

// Error is a problem in a definition file, printed as "FILE:LINE: message"
// like systemd's log_syntax.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }
