package specifier

import (
	"errors"
	"testing"
)

func TestExpand(t *testing.T) {
	table := Table{
		't': func() (string, error) { return "root-x86-64", nil },
		'x': func() (string, error) { return "", errors.New("boom") },
	}
	tests := []struct {
		in, out string
		max     int
		err     error
	}{
		{"plain", "plain", 0, nil},
		{"%t", "root-x86-64", 0, nil},
		{"a%%b", "a%b", 0, nil},
		{"100%", "100%", 0, nil},
		{"%-x", "%-x", 0, nil},
		{"%z", "", 0, ErrUnknown},
		{"%:", "", 0, ErrUnknown},
		{"%7", "", 0, ErrUnknown},
		{"%t%t%t%t", "", 36, ErrTooLong},
		{"%t%t%t", "root-x86-64root-x86-64root-x86-64", 36, nil},
		{"%x", "", 0, nil},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in, table, tt.max)
		if tt.in == "%x" {
			if err == nil {
				t.Errorf("%q: lookup error lost", tt.in)
			}
			continue
		}
		if !errors.Is(err, tt.err) || (err == nil && got != tt.out) {
			t.Errorf("Expand(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.out, tt.err)
		}
	}
}

func TestUnquote(t *testing.T) {
	for in, want := range map[string]string{`"Debian GNU/Linux"`: "Debian GNU/Linux", `'a b'`: "a b", `debian`: "debian", `"a\"b"`: `a"b`} {
		if got := unquote(in); got != want {
			t.Errorf("unquote(%s) = %q, want %q", in, got, want)
		}
	}
}
