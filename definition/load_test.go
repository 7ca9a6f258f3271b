package definition

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/gpt"
	"github.com/hermetic-repart/hermetic-repart/specifier"
)

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func testOptions(warnings *[]string) Options {
	return Options{
		Types: gpt.NewTable("x86-64"),
		Specifiers: specifier.Table{
			'a': func() (string, error) { return "x86-64", nil },
			'o': func() (string, error) { return "debian", nil },
		},
		Warn: func(m string) { *warnings = append(*warnings, m) },
	}
}

func parse(t *testing.T, content string) (*Partition, []string, error) {
	t.Helper()
	var warnings []string
	p := write(t, filepath.Join(t.TempDir(), "10-test.conf"), content)
	part, err := ParseFile(p, nil, testOptions(&warnings))
	for i := range warnings {
		warnings[i] = strings.TrimPrefix(warnings[i], p)
	}
	if err != nil {
		err = errors.New(strings.TrimPrefix(err.Error(), p))
	}
	return part, warnings, err
}

func TestParseValues(t *testing.T) {
	p, warnings, err := parse(t, `# comment
; other comment
[Partition]
Type = root
Label=%o-%a
UUID=11111111222233334444555555555555
Priority=-3
Weight=0x10
PaddingWeight=010
SizeMinBytes=10000000
SizeMaxBytes=1G 1
PaddingMinBytes=4097
PaddingMaxBytes=1M
Flags=0b1
ReadOnly=yes
NoAuto=off
SplitName=-
Format=swap
X-Custom=whatever
`)
	if err != nil {
		t.Fatal(err)
	}
	if p.Type.Name != "root-x86-64" {
		t.Errorf("type %v", p.Type)
	}
	if *p.Label != "debian-x86-64" {
		t.Errorf("label %q", *p.Label)
	}
	if p.UUID.String() != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("uuid %v", p.UUID)
	}
	if p.Priority != -3 || p.Weight != 16 || p.PaddingWeight != 8 {
		t.Errorf("priority/weights %d %d %d", p.Priority, p.Weight, p.PaddingWeight)
	}
	if p.SizeMin != 9998336 || p.SizeMax != 1<<30+4096 || p.PaddingMin != 4096 || p.PaddingMax != 1<<20 {
		t.Errorf("sizes %d %d %d %d", p.SizeMin, p.SizeMax, p.PaddingMin, p.PaddingMax)
	}
	if p.Flags != 1 || p.ReadOnly != TriYes || p.NoAuto != TriNo || p.SplitName != "" || p.Format != "swap" {
		t.Errorf("flags %d ro %d noauto %d split %q format %q", p.Flags, p.ReadOnly, p.NoAuto, p.SplitName, p.Format)
	}
	// ReadOnly=yes keeps GrowFileSystem unset for a root partition.
	if p.GrowFileSystem != TriUnset {
		t.Errorf("growfs %d", p.GrowFileSystem)
	}
	want := []string{
		":10: Rounded SizeMinBytes= size 10000000 → 9998336, a multiple of 4096.",
		":11: Rounded SizeMaxBytes= size 1073741825 → 1073745920, a multiple of 4096.",
		":12: Rounded PaddingMinBytes= size 4097 → 4096, a multiple of 4096.",
	}
	if strings.Join(warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
}

func TestDefaults(t *testing.T) {
	p, _, err := parse(t, "[Partition]\nType=home\nGrowFileSystem=no\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.Weight != 1000 || p.SizeMin != Unset || p.SplitName != "%t" || p.Label != nil || p.UUID != nil {
		t.Errorf("defaults: %+v", p)
	}
	// repart forces the grow bit on for types that know it.
	if p.GrowFileSystem != TriYes {
		t.Errorf("GrowFileSystem=%d, want forced yes", p.GrowFileSystem)
	}
	if f := p.MergedFlags(func(string) {}); f != gpt.FlagGrowFS {
		t.Errorf("flags %#x", f)
	}
	p, _, _ = parse(t, "[Partition]\nType=root-verity\n")
	if p.ReadOnly != TriYes || p.MergedFlags(func(string) {}) != gpt.FlagReadOnly {
		t.Errorf("verity defaults: ro=%d", p.ReadOnly)
	}
	p, _, _ = parse(t, "[Partition]\nType=swap\n")
	if p.Format != "swap" {
		t.Errorf("Type=swap gets Format=%q, want swap (repart 257)", p.Format)
	}
	var warned []string
	p, _, _ = parse(t, "[Partition]\nType=esp\nNoAuto=yes\n")
	if f := p.MergedFlags(func(m string) { warned = append(warned, m) }); f != 0 || len(warned) != 1 ||
		warned[0] != "Configured NoAuto=yes for partition type 'esp' that doesn't support it, ignoring." {
		t.Errorf("esp NoAuto: %#x %q", f, warned)
	}
}

func TestContinuationAndSections(t *testing.T) {
	p, warnings, err := parse(t, "[Other]\nType=esp\n[Partition]\nType=\\\n  home\nLabel=a \\\n# skipped comment\n b\nNoEquals\nFoo=1\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.Type.Name != "home" || *p.Label != "a  b" {
		t.Errorf("type %q label %q", p.Type.Name, *p.Label)
	}
	want := []string{
		":1: Unknown section 'Other'. Ignoring.",
		":9: Missing '=', ignoring line.",
		":10: Unknown key 'Foo' in section [Partition], ignoring.",
	}
	if strings.Join(warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s", strings.Join(warnings, "\n"))
	}
}

// Lines end at \n, \r, \r\n and NUL, as in systemd's read_line.
func TestLineEnds(t *testing.T) {
	p, _, err := parse(t, "[Partition]\r\nType=home\rLabel=ab\x00cd=ef\nWeight=7\n")
	if err != nil {
		t.Fatal(err)
	}
	if *p.Label != "ab" || p.Weight != 7 || p.Line("Weight") != 5 {
		t.Errorf("label %q weight %d at line %d", *p.Label, p.Weight, p.Line("Weight"))
	}
}

func TestConfQuirks(t *testing.T) {
	p, warnings, err := parse(t, "[X-Mine]\nFoo=1\n[]\n[Partition]\nType=home\nLabel=\xff\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.Label != nil || len(warnings) != 2 || warnings[0] != ":3: Unknown section ''. Ignoring." ||
		!strings.HasPrefix(warnings[1], ":6: String is not UTF-8 clean, ignoring assignment") {
		t.Errorf("label %v, warnings %q", p.Label, warnings)
	}
	if _, _, err := parse(t, "[Part\"ition]\nType=home\n"); err == nil || !strings.Contains(err.Error(), "Bad characters in section header") {
		t.Errorf("bad section: %v", err)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct{ line, warning string }{
		{"Label=" + strings.Repeat("ä", 19), ":3: Failed to expand specifiers in Label=, ignoring: " + strings.Repeat("ä", 19)},
		{"Label=%z", ":3: Failed to expand specifiers in Label=, ignoring: %z"},
		{"UUID=nope", ":3: Failed to parse 128-bit ID/UUID, ignoring: nope"},
		{"Weight=1000001", ":3: Weight needs to be in range 0…10000000, ignoring: 1000001"},
		{"Weight=x", ":3: Failed to parse weight value, ignoring: x"},
		{"Flags=0x", ":3: Failed to parse Flags= value, ignoring: 0x"},
		{"NoAuto=maybe", ":3: Failed to parse boolean value for NoAuto=, ignoring: maybe"},
		{"Verity=sometimes", ":3: Invalid verity mode, ignoring: sometimes"},
		{"Priority=high", ":3: Failed to parse Priority=high, ignoring: invalid syntax"},
	}
	for _, tt := range tests {
		p, warnings, err := parse(t, "[Partition]\nType=home\n"+tt.line+"\n")
		if err != nil {
			t.Errorf("%s: %v", tt.line, err)
			continue
		}
		if len(warnings) != 1 || warnings[0] != tt.warning {
			t.Errorf("%s: warnings %q, want %q", tt.line, warnings, tt.warning)
		}
		if p.Label != nil || p.UUID != nil || p.Weight != 1000 || p.Flags != 0 || p.NoAuto != TriUnset || p.Priority != 0 {
			t.Errorf("%s: ignored value was applied: %+v", tt.line, p)
		}
	}
	// An empty Label= is a valid, empty label.
	p, _, _ := parse(t, "[Partition]\nType=home\nLabel=\n")
	if p.Label == nil || *p.Label != "" {
		t.Errorf("empty label: %v", p.Label)
	}
	p, _, _ = parse(t, "[Partition]\nType=home\nUUID=null\n")
	if p.UUID == nil || *p.UUID != gpt.NilID {
		t.Errorf("UUID=null: %v", p.UUID)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct{ body, err string }{
		{"[Partition]\nLabel=x\n", ":1: Type= not defined, refusing."},
		{"[Partition]\nType=00000000-0000-0000-0000-000000000000\n", ":1: Type= not defined, refusing."},
		{"[Partition]\nType=nonsense\n", ":2: Failed to parse partition type: nonsense"},
		{"[Partition]\nType=root-amd64x\n", ":2: Failed to parse partition type: root-amd64x"},
		{"[Partition]\nType=home\nSizeMinBytes=lots\n", ":3: Failed to parse size value: lots"},
		{"[Partition]\nType=home\nSizeMaxBytes=\n", ":3: Failed to parse size value: "},
		{"[Partition]\nType=home\nSizeMinBytes=2M\nSizeMaxBytes=1M\n", ":3: SizeMinBytes= larger than SizeMaxBytes=, refusing."},
		{"[Partition]\nType=home\nPaddingMinBytes=2M\nPaddingMaxBytes=1M\n", ":3: PaddingMinBytes= larger than PaddingMaxBytes=, refusing."},
		{"[Partition]\nType=home\nFormat=a/b\n", ":3: File system type is not valid, refusing: a/b"},
		{"[Partition]\nType=home\nVerityDataBlockSizeBytes=8K\n", ":3: Value not between 512 and 4096: 8K"},
		{"[Partition]\nType=home\nVerityHashBlockSizeBytes=1000\n", ":3: Value not a power of 2: 1000"},
		{"[Partition]\nType=home\nCopyBlocks=/x\nFormat=ext4\n", ":3: Format=/CopyFiles=/MakeDirectories=/MakeSymlinks= and CopyBlocks= cannot be combined, refusing."},
		{"[Partition]\nType=home\nMinimize=guess\n", ":3: Minimize= can only be enabled if Format= or Verity=hash are set."},
		{"[Partition]\nType=home\nFormat=xfs\nMinimize=best\n", ":4: Minimize=best can only be used with read-only filesystems or Verity=hash."},
		{"[Partition]\nType=home\nFormat=squashfs\n", ":3: Cannot format squashfs filesystem without source files, refusing."},
		{"[Partition]\nType=home\nVerity=data\n", ":3: VerityMatchKey= must be set if Verity=data."},
		{"[Section\n", ":1: Invalid section header '[Section'"},
		// What hermetic-repart refuses by name.
		{"[Partition]\nType=home\nEncrypt=tpm2\n", ":3: Encrypt=tpm2 is not supported by hermetic-repart yet, refusing."},
		{"[Partition]\nType=root\nVerity=data\nVerityMatchKey=root\n", ":3: Verity=data is not supported by hermetic-repart yet, refusing."},
		{"[Partition]\nType=home\nFormat=btrfs\nSubvolumes=/a\n", ":4: Subvolumes= (btrfs) is not supported by hermetic-repart yet, refusing."},
		{"[Partition]\nType=home\nCopyBlocks=auto\n", ":3: CopyBlocks=auto (copying from the running system) is not supported by hermetic-repart yet, refusing."},
		{"[Partition]\nType=home\nFormat=xfs\n", ":3: Format=xfs is not supported by hermetic-repart yet, refusing."},
		{"[Partition]\nType=home\nFormat=btrfs\nMinimize=guess\n", ":4: Minimize=guess with Format=btrfs is not supported by hermetic-repart yet, refusing."},
		{"[Partition]\nType=esp\nFormat=xfs\nCopyFiles=/boot:/\n", ":3: Format=xfs is not supported by hermetic-repart yet, refusing."},
		{"[Partition]\nType=home\nSupplementFor=other\n", ":3: SupplementFor= is not supported by hermetic-repart yet, refusing."},
	}
	for _, tt := range tests {
		_, _, err := parse(t, tt.body)
		if err == nil || err.Error() != tt.err {
			t.Errorf("%q:\n got %v\nwant %s", tt.body, err, tt.err)
		}
	}
}

func TestLoadOrderOverrideMaskDropIns(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	write(t, filepath.Join(a, "20-home.conf"), "[Partition]\nType=home\nLabel=from-a\n")
	write(t, filepath.Join(b, "20-home.conf"), "[Partition]\nType=home\nLabel=from-b\n")
	write(t, filepath.Join(b, "10-esp.conf"), "[Partition]\nType=esp\n")
	write(t, filepath.Join(a, "30-masked.conf"), "")
	write(t, filepath.Join(b, "30-masked.conf"), "[Partition]\nType=srv\n")
	if err := os.Symlink("/dev/null", filepath.Join(a, "40-null.conf")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(b, "40-null.conf"), "[Partition]\nType=var\n")
	write(t, filepath.Join(b, "README"), "not a definition")
	if err := os.Mkdir(filepath.Join(b, "50-dir.conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Drop-ins from both directories, in basename order, first directory wins.
	write(t, filepath.Join(b, "20-home.conf.d", "10-size.conf"), "[Partition]\nSizeMinBytes=1M\nWeight=5\n")
	write(t, filepath.Join(a, "20-home.conf.d", "20-label.conf"), "[Partition]\nLabel=from-dropin\n")
	write(t, filepath.Join(b, "20-home.conf.d", "20-label.conf"), "[Partition]\nLabel=overridden\n")
	var warnings []string
	parts, err := Load([]string{a, b}, testOptions(&warnings))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range parts {
		rel, _ := filepath.Rel(root, p.Path)
		got = append(got, rel)
	}
	if strings.Join(got, " ") != "b/10-esp.conf a/20-home.conf" {
		t.Fatalf("files %v", got)
	}
	home := parts[1]
	if *home.Label != "from-dropin" || home.SizeMin != 1<<20 || home.Weight != 5 {
		t.Errorf("drop-ins not applied: label %q size %d weight %d", *home.Label, home.SizeMin, home.Weight)
	}
	if len(home.DropIns) != 2 || filepath.Base(home.DropIns[0]) != "10-size.conf" || !strings.HasPrefix(home.DropIns[1], a) {
		t.Errorf("drop-ins %v", home.DropIns)
	}
	if home.Line("Label") != 2 {
		t.Errorf("Label line %d", home.Line("Label"))
	}
}

func TestArchitectureOverride(t *testing.T) {
	var w []string
	o := testOptions(&w)
	o.Architecture = "arm64"
	p := write(t, filepath.Join(t.TempDir(), "a.conf"), "[Partition]\nType=root\n")
	part, err := ParseFile(p, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if part.Type.Name != "root-arm64" {
		t.Errorf("type %s", part.Type.Name)
	}
}
