package vfat

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// nameDirOf names the entries of a directory holding names (all empty
// files) and returns each name's short name, case flags and whether it
// keeps a long name.
func nameDirOf(t *testing.T, names ...string) map[string]entryName {
	t.Helper()
	d := &dirNode{in: &Inode{Kind: Dir}, path: "/"}
	for _, n := range names {
		d.in.Entries = append(d.in.Entries, Entry{n, &Inode{Kind: Regular}})
	}
	if err := nameDir(d); err != nil {
		t.Fatal(err)
	}
	out := map[string]entryName{}
	for _, e := range d.ents {
		out[e.orig] = e.name
	}
	return out
}

// TestShortNames checks short-name generation against the rules of
// Linux's vfat_create_shortname (shortname=winnt), worked out by hand.
func TestShortNames(t *testing.T) {
	for _, c := range []struct {
		names []string // the directory; the first is checked
		sfn   string   // 8+3, space-padded
		lcase byte
		lfn   bool
	}{
		{[]string{"hello.txt"}, "HELLO   TXT", 0x18, false},
		{[]string{"HELLO.TXT"}, "HELLO   TXT", 0, false},
		{[]string{"hello.TXT"}, "HELLO   TXT", 0x08, false},
		{[]string{"HELLO.txt"}, "HELLO   TXT", 0x10, false},
		{[]string{"Hello.txt"}, "HELLO   TXT", 0, true}, // mixed case: no tail, long name kept
		{[]string{"readme"}, "README     ", 0x08, false},
		{[]string{"EFI"}, "EFI        ", 0, false},
		{[]string{"BOOTX64.EFI"}, "BOOTX64 EFI", 0, false},
		{[]string{"abcdefgh.txt"}, "ABCDEFGHTXT", 0x18, false},
		{[]string{"123"}, "123        ", 0, false},
		{[]string{"a$%'-_@~`!(){}^#&.b"}, "A$%'-_~1B  ", 0, true}, // more than 8 base characters
		{[]string{"$%'-_@~`.!()"}, "$%'-_@~`!()", 0, false},
		{[]string{"abcdefghi.txt"}, "ABCDEF~1TXT", 0, true},
		{[]string{"a.jpeg"}, "A~1     JPE", 0, true},
		{[]string{"a.b.c"}, "AB~1    C  ", 0, true},
		{[]string{"Long File Name.text"}, "LONGFI~1TEX", 0, true},
		{[]string{".bashrc"}, "BASHRC~1   ", 0, true},
		{[]string{"...x"}, "X~1        ", 0, true},
		{[]string{" lead"}, "LEAD~1     ", 0, true},
		{[]string{"x+y=z.t[1]"}, "X_Y_Z~1 T_1", 0, true},
		{[]string{"a b.c d"}, "AB~1    CD ", 0, true},
		{[]string{"ünï.txt"}, "_N_~1   TXT", 0, true},
		{[]string{"日本語"}, "___~1      ", 0, true},
		{[]string{"🙂.txt"}, "__~1    TXT", 0, true}, // a surrogate pair: two units
		// A literal alias claims its short name before tails are made.
		{[]string{"longnamefile.txt", "LONGNA~1.TXT"}, "LONGNA~2TXT", 0, true},
		{[]string{"LONGNA~1.TXT", "longnamefile.txt"}, "LONGNA~1TXT", 0, false},
	} {
		got := nameDirOf(t, c.names...)[c.names[0]]
		if string(got.sfn[:]) != c.sfn || got.lcase != c.lcase || (got.lfn != nil) != c.lfn {
			t.Errorf("%q: got %q case %#x lfn %v, want %q case %#x lfn %v", c.names, got.sfn[:], got.lcase, got.lfn != nil, c.sfn, c.lcase, c.lfn)
		}
		if got.lfn != nil && string(utf16.Decode(got.lfn)) != c.names[0] {
			t.Errorf("%q: long name %q", c.names[0], string(utf16.Decode(got.lfn)))
		}
	}
}

// TestNumericTails checks Linux's tail sequence: ~1 to ~9, then two
// characters of the basis, four hex digits and ~N, all distinct.
func TestNumericTails(t *testing.T) {
	var names []string
	for i := 1; i <= 30; i++ {
		names = append(names, fmt.Sprintf("LongName%d.txt", i))
	}
	got := nameDirOf(t, names...)
	seen := map[shortName]string{}
	for i := 1; i <= 30; i++ {
		n := got[names[i-1]]
		if other, dup := seen[n.sfn]; dup {
			t.Fatalf("%s and %s share %q", names[i-1], other, n.sfn[:])
		}
		seen[n.sfn] = names[i-1]
	}
	// Name order: LongName1, LongName10, LongName11, ..., LongName19,
	// LongName2, ...: the first nine in that order get ~1..~9.
	order := []string{"LongName1.txt", "LongName10.txt", "LongName11.txt", "LongName12.txt", "LongName13.txt",
		"LongName14.txt", "LongName15.txt", "LongName16.txt", "LongName17.txt"}
	for i, n := range order {
		sfn := got[n].sfn
		if want := fmt.Sprintf("LONGNA~%dTXT", i+1); string(sfn[:]) != want {
			t.Errorf("%s: %q, want %q", n, sfn[:], want)
		}
	}
	for _, n := range names {
		sfn := got[n].sfn
		s := string(sfn[:])
		if strings.HasPrefix(s, "LONGNA~") {
			continue
		}
		// LO + 4 hex digits + ~ + 1..8, extension kept.
		ok := len(s) == 11 && s[:2] == "LO" && s[6] == '~' && s[7] >= '1' && s[7] <= '8' && s[8:] == "TXT"
		for _, c := range s[2:6] {
			ok = ok && strings.ContainsRune("0123456789ABCDEF", c)
		}
		if !ok {
			t.Errorf("%s: hashed tail %q", n, s)
		}
	}
}

func TestChecksum(t *testing.T) {
	// mcopy stores "Long File Name.text" as LONGFI~1.TEX with LFN
	// entries carrying checksum 0xcf.
	n := shortName([]byte("LONGFI~1TEX"))
	if got := n.checksum(); got != 0xcf {
		t.Fatalf("checksum %#x, want 0xcf", got)
	}
}

func TestInvalidNames(t *testing.T) {
	for _, name := range []string{
		"", ".", "..", "a/b", "a\\b", "a:b", "a*b", "a?b", "a\"b", "a<b", "a>b", "a|b",
		"tab\there", "nl\n", "\x7fok\x01", "trailing.", "trailing ", "bad\xffutf8",
		strings.Repeat("x", 256), strings.Repeat("🙂", 128), // 256 UTF-16 units
	} {
		if _, err := validateName(name); err == nil {
			t.Errorf("%q: accepted", name)
		}
	}
	for _, name := range []string{"a", "\x7f", " x", strings.Repeat("x", 255), strings.Repeat("🙂", 127) + "x", "a..b", "[x]"} {
		if _, err := validateName(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
}

func TestFoldKey(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"a.txt", "A.TXT", true},
		{"ä", "Ä", true},
		{"k", "\u212a", true}, // Kelvin sign folds to k
		{"straße", "STRASSE", false},
		{"a", "b", false},
	} {
		if got := foldKey(c.a) == foldKey(c.b); got != c.same {
			t.Errorf("%q vs %q: same %v", c.a, c.b, got)
		}
	}
}

func TestEncodeTime(t *testing.T) {
	for _, c := range []struct {
		in         string
		time, date uint16
		cs         byte
	}{
		{"1970-01-01T00:00:00Z", 0, 1<<5 | 1, 0},
		{"1980-01-01T00:00:00Z", 0, 1<<5 | 1, 0},
		{"2024-05-06T07:08:09.57Z", 7<<11 | 8<<5 | 4, 44<<9 | 5<<5 | 6, 157},
		{"2107-12-31T23:59:59Z", 23<<11 | 59<<5 | 29, 127<<9 | 12<<5 | 31, 100},
		{"2200-01-01T00:00:00Z", 23<<11 | 59<<5 | 29, 127<<9 | 12<<5 | 31, 199},
		{"2024-05-06T09:08:09+02:00", 7<<11 | 8<<5 | 4, 44<<9 | 5<<5 | 6, 100}, // UTC
	} {
		tm, err := time.Parse(time.RFC3339Nano, c.in)
		if err != nil {
			t.Fatal(err)
		}
		got := encodeTime(tm)
		if got != (fatTime{c.time, c.date, c.cs}) {
			t.Errorf("%s: %+v, want %+v", c.in, got, fatTime{c.time, c.date, c.cs})
		}
	}
}

// FuzzNameDir checks the naming invariants for any pair of names: both
// are named or one is refused; short names are distinct, upper case, of
// allowed characters; a long name is kept exactly when the short name
// (with its case flags) cannot say it all, and it is the name given.
func FuzzNameDir(f *testing.F) {
	f.Add("hello.txt", "Hello.TXT")
	f.Add("LONGNA~1.TXT", "longnamefile.txt")
	f.Add(".bashrc", "a.b.c")
	f.Add("ünï", "日本語 🙂")
	f.Fuzz(func(t *testing.T, a, b string) {
		d := &dirNode{in: dir(Entry{a, file("")}, Entry{b, file("")}), path: "/"}
		if err := nameDir(d); err != nil {
			return
		}
		if foldKey(a) == foldKey(b) {
			t.Fatalf("%q and %q named apart", a, b)
		}
		if d.ents[0].name.sfn == d.ents[1].name.sfn {
			t.Fatalf("%q and %q share a short name", a, b)
		}
		for _, e := range d.ents {
			n := e.name
			for _, c := range n.sfn {
				if c < 0x20 || c > 0x7e || 'a' <= c && c <= 'z' || strings.IndexByte(`"*+,./:;<=>?[\\]|`, c) >= 0 {
					t.Fatalf("%q: short name %q holds %q", e.orig, n.sfn[:], c)
				}
			}
			if n.sfn[0] == ' ' {
				t.Fatalf("%q: short name %q starts with a space", e.orig, n.sfn[:])
			}
			if n.lfn != nil {
				if string(utf16.Decode(n.lfn)) != e.orig {
					t.Fatalf("%q: long name %q", e.orig, string(utf16.Decode(n.lfn)))
				}
				continue
			}
			base := strings.TrimRight(string(n.sfn[:8]), " ")
			ext := strings.TrimRight(string(n.sfn[8:]), " ")
			if n.lcase&caseLowerBase != 0 {
				base = strings.ToLower(base)
			}
			if n.lcase&caseLowerExt != 0 {
				ext = strings.ToLower(ext)
			}
			shown := base
			if ext != "" {
				shown += "." + ext
			}
			if shown != e.orig {
				t.Fatalf("%q: stored as %q without a long name", e.orig, shown)
			}
		}
	})
}
