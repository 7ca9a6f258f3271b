package repart

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// JSON output modes of --json=.
const (
	JSONPretty = "pretty"
	JSONShort  = "short"
)

type jsonField struct {
	key   string
	value string // already encoded
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// rows returns the JSON objects systemd-repart 257 prints: one per
// partition that was not dropped, the optional columns only when some
// partition has a value for them.
func (r *Result) rows() [][]jsonField {
	anyDropIns, anySplit := false, false
	for _, p := range r.Partitions {
		if p.Dropped {
			continue
		}
		anyDropIns = anyDropIns || len(p.Def.DropIns) > 0
		anySplit = anySplit || p.SplitPath != ""
	}
	var out [][]jsonField
	for _, p := range r.Partitions {
		if p.Dropped {
			continue
		}
		u := func(v uint64) string { return strconv.FormatUint(v, 10) }
		row := []jsonField{
			{"type", jsonString(p.Type.String())},
			{"label", jsonString(orDash(p.Label))},
			{"uuid", jsonString(p.UUID.String())},
			{"partno", strconv.Itoa(p.PartNo)},
			{"file", jsonString(p.Def.Path)},
			{"node", jsonString(orDash(p.Node))},
			{"offset", u(p.Offset)},
			{"old_size", "0"},
			{"raw_size", u(p.Size)},
			{"old_padding", "0"},
			{"raw_padding", u(p.Padding)},
			{"activity", jsonString("create")},
		}
		if anyDropIns {
			v := "null"
			if len(p.Def.DropIns) > 0 {
				items := make([]string, len(p.Def.DropIns))
				for i, d := range p.Def.DropIns {
					items[i] = jsonString(d)
				}
				v = "[" + strings.Join(items, ",") + "]"
			}
			row = append(row, jsonField{"drop-in_files", v})
		}
		if anySplit {
			row = append(row, jsonField{"split_path", jsonString(orDash(p.SplitPath))})
		}
		out = append(out, row)
	}
	return out
}

// WriteJSON prints the partition list as repart's --json= does: "short"
// is one compact line, "pretty" is tab-indented with " : " separators.
func (r *Result) WriteJSON(w io.Writer, mode string) error {
	rows := r.rows()
	var b strings.Builder
	if mode == JSONShort {
		b.WriteByte('[')
		for i, row := range rows {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('{')
			for j, f := range row {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(jsonString(f.key) + ":" + f.value)
			}
			b.WriteByte('}')
		}
		b.WriteString("]\n")
	} else {
		if len(rows) == 0 {
			b.WriteString("[]\n")
		} else {
			b.WriteString("[\n")
			for i, row := range rows {
				b.WriteString("\t{\n")
				for j, f := range row {
					v := f.value
					if strings.HasPrefix(v, "[") && v != "[]" {
						v = "[\n\t\t\t" + strings.Join(strings.Split(v[1:len(v)-1], ","), ",\n\t\t\t") + "\n\t\t]"
					}
					b.WriteString("\t\t" + jsonString(f.key) + " : " + v)
					if j < len(row)-1 {
						b.WriteByte(',')
					}
					b.WriteByte('\n')
				}
				b.WriteString("\t}")
				if i < len(rows)-1 {
					b.WriteByte(',')
				}
				b.WriteByte('\n')
			}
			b.WriteString("]\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// glyphs are the box-drawing characters of the table and bar, with
// systemd's ASCII fallbacks.
type glyphs struct {
	arrow, sigma, dark, light, vertical, branch, right string
}

func pickGlyphs() glyphs {
	if utf8Locale() {
		return glyphs{"→", "Σ", "▒", "░", "│ ", "├─", "└─"}
	}
	return glyphs{"->", "S", "X", "-", "| ", "|-", "`-"}
}

// utf8Locale follows systemd: UTF-8 unless the locale is explicitly C or
// POSIX (or not UTF-8), SYSTEMD_UTF8 overriding.
func utf8Locale() bool {
	if v := os.Getenv("SYSTEMD_UTF8"); v != "" {
		b, err := strconv.ParseBool(v)
		return err != nil || b
	}
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		v := os.Getenv(k)
		if v == "" {
			continue
		}
		if v == "C" || v == "POSIX" {
			return false
		}
		l := strings.ToLower(v)
		return strings.Contains(l, "utf-8") || strings.Contains(l, "utf8") || strings.HasPrefix(v, "C.")
	}
	return true
}

// WriteTable prints the human-readable partition table and the bar that
// systemd-repart shows when it is not in JSON mode. legend=false drops the
// header row; columns is the terminal width (80 if 0).
func (r *Result) WriteTable(w io.Writer, legend bool, columns int) error {
	g := pickGlyphs()
	var parts []*Partition
	for _, p := range r.Partitions {
		if !p.Dropped {
			parts = append(parts, p)
		}
	}
	var b strings.Builder
	if len(parts) == 0 {
		b.WriteString("\n\n\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	anyDropIns := false
	for _, p := range parts {
		anyDropIns = anyDropIns || len(p.Def.DropIns) > 0
	}
	header := []string{"TYPE", "LABEL", "UUID", "PARTNO", "FILE", "RAW SIZE", "SIZE", "PADDING"}
	right := []bool{false, false, false, false, false, true, true, false}
	if anyDropIns {
		header = append(header, "DROP-IN FILES")
		right = append(right, false)
	}
	var rows [][]string
	if legend {
		rows = append(rows, header)
	}
	var sumSize, sumPad uint64
	for _, p := range parts {
		row := []string{
			p.Type.String(), orDash(p.Label), p.UUID.String(), strconv.Itoa(p.PartNo),
			filepath.Base(p.Def.Path), strconv.FormatUint(p.Size, 10),
			g.arrow + " " + FormatBytes(p.Size), g.arrow + " " + FormatBytes(p.Padding),
		}
		if anyDropIns {
			row = append(row, strings.Join(p.Def.DropIns, "\n"))
		}
		rows = append(rows, row)
		sumSize += p.Size
		sumPad += p.Padding
	}
	sum := make([]string, len(header))
	sum[6] = g.sigma + " = " + FormatBytes(sumSize)
	sum[7] = g.sigma + " = " + FormatBytes(sumPad)
	rows = append(rows, sum)
	writeColumns(&b, rows, right)
	b.WriteString("\n")
	r.writeBar(&b, parts, g, columns)
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func width(s string) int { return utf8.RuneCountInString(s) }

// writeColumns lays out cells separated by one space, each column as wide
// as its widest line, without trailing spaces in the last column.
func writeColumns(b *strings.Builder, rows [][]string, right []bool) {
	widths := make([]int, len(right))
	for _, row := range rows {
		for i, c := range row {
			for _, line := range strings.Split(c, "\n") {
				widths[i] = max(widths[i], width(line))
			}
		}
	}
	for _, row := range rows {
		lines := make([][]string, len(row))
		height := 1
		for i, c := range row {
			lines[i] = strings.Split(c, "\n")
			height = max(height, len(lines[i]))
		}
		for l := 0; l < height; l++ {
			var line strings.Builder
			for i := range row {
				cell := ""
				if l < len(lines[i]) {
					cell = lines[i][l]
				}
				if i > 0 {
					line.WriteByte(' ')
				}
				pad := strings.Repeat(" ", widths[i]-width(cell))
				if right[i] {
					line.WriteString(pad + cell)
				} else {
					line.WriteString(cell + pad)
				}
			}
			b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
		}
	}
}

// writeBar draws the disk as a bar of shaded cells with a staircase of
// labels below it, like repart's context_dump_partition_bar.
func (r *Result) writeBar(b *strings.Builder, parts []*Partition, g glyphs, columns int) {
	if columns <= 2 {
		columns = 80
	}
	c := uint64(columns - 2)
	total := r.Size
	if total == 0 {
		return
	}
	bar := make([]string, c)
	starts := make([]uint64, len(parts))
	for i := range bar {
		bar[i] = g.light
	}
	for j, p := range parts {
		from := p.Offset * c / total
		to := (p.Offset + p.Size) * c / total
		starts[j] = min(from, c-1)
		for i := from; i < to && i < c; i++ {
			bar[i] = g.dark
		}
	}
	b.WriteString(" " + strings.Join(bar, "") + "\n")
	n := len(parts)
	for i := 0; i < n; i++ {
		line := make([]string, c)
		for j := 1; j <= n; j++ {
			at := starts[j-1]
			var d string
			switch {
			case i < n-j:
				if strings.HasPrefix(line[at], g.right) {
					d = g.branch + strings.TrimPrefix(line[at], g.right)
				} else {
					d = g.vertical
				}
			case i == n-j:
				hint := filepath.Base(parts[j-1].Def.Path)
				if line[at] == g.vertical {
					d = g.branch + " " + hint
				} else {
					d = g.right + " " + hint
				}
			}
			if d != "" {
				line[at] = d
			}
		}
		b.WriteByte(' ')
		for j := uint64(0); j < c; {
			if line[j] != "" {
				b.WriteString(line[j])
				j += uint64(width(line[j]))
			} else {
				b.WriteByte(' ')
				j++
			}
		}
		b.WriteByte('\n')
	}
}
