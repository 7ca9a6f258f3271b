package definition

import (
	"strings"
	"testing"
)

func TestCopyFilesSyntax(t *testing.T) {
	tests := []struct {
		value, src, dst string
		warn, err       string
	}{
		{value: "/usr/lib/boot", src: "/usr/lib/boot", dst: "/usr/lib/boot"},
		{value: "/srv/tree:/", src: "/srv/tree", dst: "/"},
		{value: "/a//b/./c/:/x/", src: "/a/b/c", dst: "/x"},
		{value: `/with\:colon:/t`, src: "/with:colon", dst: "/t"},
		{value: `/sp\x20ace:/t\ttab`, src: "/sp ace", dst: "/t\ttab"},
		{value: "/%o/%a:/t", src: "/debian/x86-64", dst: "/t"},
		{value: "/a:/b:/c", err: "Too many arguments: /a:/b:/c"},
		{value: `/bad\q:/t`, err: `Failed to extract source path: /bad\q:/t`},
		{value: `/s:/bad\q`, err: `Failed to extract target path: /s:/bad\q`},
		{value: "relative:/t", warn: "CopyFiles= path is not absolute, ignoring: relative"},
		{value: "/a/../b:/t", warn: "CopyFiles= path is not normalized, ignoring: /a/../b"},
		{value: "/s:%z", warn: "Failed to expand specifiers in CopyFiles= target, ignoring: %z"},
	}
	for _, tt := range tests {
		var warnings []string
		o := testOptions(&warnings)
		p := &Partition{lines: map[string]int{}}
		err := p.assign(assignment{file: "f.conf", line: 7, key: "CopyFiles", value: tt.value}, &o)
		switch {
		case tt.err != "":
			if err == nil || err.Error() != "f.conf:7: "+tt.err {
				t.Errorf("%s: error %v, want %s", tt.value, err, tt.err)
			}
		case tt.warn != "":
			if err != nil || len(warnings) != 1 || warnings[0] != "f.conf:7: "+tt.warn || len(p.CopyFiles) != 0 {
				t.Errorf("%s: err %v, warnings %q, copy %v", tt.value, err, warnings, p.CopyFiles)
			}
		default:
			if err != nil || len(p.CopyFiles) != 1 || p.CopyFiles[0] != (CopyFile{tt.src, tt.dst}) {
				t.Errorf("%s: %v %v %q", tt.value, err, p.CopyFiles, warnings)
			}
		}
	}
}

func TestPathLists(t *testing.T) {
	var warnings []string
	o := testOptions(&warnings)
	p := &Partition{lines: map[string]int{}}
	p.assign(assignment{file: "f", line: 1, key: "ExcludeFiles", value: `/var/cache/ "/tmp/a b" /x/../y rel /var/cache/`}, &o)
	p.assign(assignment{file: "f", line: 2, key: "MakeDirectories", value: "/proc/ /sys //run"}, &o)
	if strings.Join(p.ExcludeFiles, ",") != "/var/cache/,/tmp/a b" {
		t.Errorf("ExcludeFiles %q", p.ExcludeFiles)
	}
	if strings.Join(p.MakeDirectories, ",") != "/proc,/sys,/run" {
		t.Errorf("MakeDirectories %q", p.MakeDirectories)
	}
	if len(warnings) != 2 {
		t.Errorf("warnings %q", warnings)
	}
	p.assign(assignment{file: "f", line: 3, key: "MakeDirectories", value: ""}, &o)
	if p.MakeDirectories != nil {
		t.Error("empty value does not reset the list")
	}
}

func TestCunescape(t *testing.T) {
	good := map[string]string{`\n`: "\n", `\x41`: "A", `\101`: "A", `\u00e9`: "é", `\U0001F4BE`: "💾", `\s`: " ", `\\`: `\`}
	for in, want := range good {
		got, n, err := cunescapeOne(in[1:])
		if err != nil || got != want || n != len(in)-1 {
			t.Errorf("%s: %q %d %v", in, got, n, err)
		}
	}
	for _, in := range []string{`\x0`, `\x00`, `\q`, `\000`, `\777`, `\uD800`, `\`} {
		if _, _, err := cunescapeOne(in[1:]); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}
