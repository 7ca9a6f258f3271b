package fuzz

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/hermetic-repart/hermetic-repart/definition"
	"github.com/hermetic-repart/hermetic-repart/gpt"
)

// dropInSeparator splits a fuzz input into a definition and a drop-in
// for it. It is a comment line, so an input that contains it is still one
// valid file to anything else.
var dropInSeparator = []byte("\n#--- drop-in ---\n")

// FuzzParseDefinition feeds arbitrary bytes to definition.ParseFile as a
// repart.d file (and, after dropInSeparator, as a drop-in for it). It must
// never panic, and a definition it accepts must satisfy the invariants the
// rest of the pipeline relies on.
func FuzzParseDefinition(f *testing.F) {
	f.Add([]byte("[Partition]\nType=esp\nSizeMinBytes=64M\nSizeMaxBytes=64M\n"))
	f.Add([]byte("[Partition]\nType=root\nLabel=r\xc3\xb6\xc3\xb6t\n#--- drop-in ---\n[Partition]\nSizeMinBytes=1G\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		main, dropIn, split := bytes.Cut(data, dropInSeparator)
		file := filepath.Join(dir, "50-fuzz.conf")
		if err := os.WriteFile(file, main, 0o644); err != nil {
			t.Fatal(err)
		}
		var dropIns []string
		if split {
			if err := os.MkdirAll(file+".d", 0o755); err != nil {
				t.Fatal(err)
			}
			d := filepath.Join(file+".d", "10-override.conf")
			if err := os.WriteFile(d, dropIn, 0o644); err != nil {
				t.Fatal(err)
			}
			dropIns = []string{d}
		}
		var warnings []string
		opts := definition.Options{Warn: func(msg string) { warnings = append(warnings, msg) }}
		p, err := definition.ParseFile(file, dropIns, opts)
		if err != nil {
			// Definition errors name the file and line.
			var de *definition.Error
			if errors.As(err, &de) {
				if de.Line < 1 || (de.File != file && (len(dropIns) == 0 || de.File != dropIns[0])) {
					t.Errorf("error %q names %s:%d", err, de.File, de.Line)
				}
			}
			return
		}
		for _, w := range warnings {
			if !strings.HasPrefix(w, file+":") && (len(dropIns) == 0 || !strings.HasPrefix(w, dropIns[0]+":")) {
				t.Errorf("warning %q does not name the file", w)
			}
		}
		checkPartition(t, p)
	})
}

func checkPartition(t *testing.T, p *definition.Partition) {
	t.Helper()
	for _, s := range []struct {
		name string
		v    uint64
	}{{"SizeMin", p.SizeMin}, {"SizeMax", p.SizeMax}, {"PaddingMin", p.PaddingMin}, {"PaddingMax", p.PaddingMax}} {
		if s.v != definition.Unset && s.v%4096 != 0 {
			t.Errorf("%s = %d, not Unset and not a multiple of 4096", s.name, s.v)
		}
	}
	if p.SizeMin != definition.Unset && p.SizeMax != definition.Unset && p.SizeMin > p.SizeMax {
		t.Errorf("SizeMin %d > SizeMax %d", p.SizeMin, p.SizeMax)
	}
	if p.PaddingMin != definition.Unset && p.PaddingMax != definition.Unset && p.PaddingMin > p.PaddingMax {
		t.Errorf("PaddingMin %d > PaddingMax %d", p.PaddingMin, p.PaddingMax)
	}
	if p.Weight > 1_000_000 || p.PaddingWeight > 1_000_000 {
		t.Errorf("Weight %d, PaddingWeight %d: more than 1000000", p.Weight, p.PaddingWeight)
	}
	if p.Label != nil {
		l := *p.Label
		if !utf8.ValidString(l) {
			t.Errorf("Label %q is not valid UTF-8", l)
		}
		if n := len(utf16.Encode([]rune(l))); n > gpt.NameUnits {
			t.Errorf("Label %q needs %d UTF-16 code units", l, n)
		}
		// systemd ends a line at NUL, so no value it parses contains one;
		// and a NUL would end the GPT name early.
		if strings.ContainsRune(l, 0) {
			t.Errorf("Label %q contains NUL", l)
		}
		if _, err := gpt.EncodeName(l); err != nil {
			t.Errorf("accepted Label %q cannot be written: %v", l, err)
		}
	}
	// repart refuses a definition whose type is the null UUID
	// ("Type= not defined, refusing."): an all-zero type marks an unused
	// GPT entry.
	if p.Type.UUID == uuid.Nil {
		t.Errorf("accepted a definition with the null type %+v", p.Type)
	}
	if p.Type.Name == "" && p.Type.String() != p.Type.UUID.String() {
		t.Errorf("type without name prints as %q", p.Type.String())
	}
	switch p.Minimize {
	case "off", "best", "guess":
	default:
		t.Errorf("Minimize = %q", p.Minimize)
	}
	switch p.Encrypt {
	case "off", "key-file", "tpm2", "key-file+tpm2":
	default:
		t.Errorf("Encrypt = %q", p.Encrypt)
	}
	switch p.Verity {
	case "off", "data", "hash", "signature":
	default:
		t.Errorf("Verity = %q", p.Verity)
	}
	for _, tri := range []definition.Tristate{p.ReadOnly, p.NoAuto, p.GrowFileSystem} {
		if tri != definition.TriUnset && tri != definition.TriNo && tri != definition.TriYes {
			t.Errorf("tristate %d", tri)
		}
	}
	// MergedFlags must not panic and only touch the three known bits.
	merged := p.MergedFlags(func(string) {})
	if diff := merged ^ p.Flags; diff&^(gpt.FlagNoAuto|gpt.FlagReadOnly|gpt.FlagGrowFS) != 0 {
		t.Errorf("MergedFlags %#x changes bits outside 59/60/63 of Flags %#x", merged, p.Flags)
	}
}

// FuzzParseSize: ParseSize never panics, and a size it returns parses back
// to itself when written as a plain decimal number.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "1K", "1G 512M", "1.5K", "16E", "18446744073709551615", "1.9999999999999999999E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := definition.ParseSize(s)
		if err != nil {
			return
		}
		m, err := definition.ParseSize(strconv.FormatUint(n, 10))
		if err != nil || m != n {
			t.Errorf("ParseSize(%q) = %d, but ParseSize(%q) = %d, %v", s, n, strconv.FormatUint(n, 10), m, err)
		}
		// A trailing "B" means bytes and changes nothing.
		if !strings.ContainsAny(s, "BKMGTPE") {
			if m, err := definition.ParseSize(s + "B"); err == nil && m != n {
				t.Errorf("ParseSize(%q) = %d, but ParseSize(%q) = %d", s, n, s+"B", m)
			}
		}
	})
}
