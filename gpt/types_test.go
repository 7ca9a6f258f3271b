package gpt_test

import (
	"runtime"
	"testing"

	"github.com/google/uuid"

	"github.com/hermetic-repart/hermetic-repart/gpt"
)

func TestParseType(t *testing.T) {
	x86 := gpt.NewTable("x86-64")
	tests := []struct {
		in         string
		name       string
		uuid       string
		arch       string
		designator gpt.Designator
	}{
		{"esp", "esp", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "", gpt.ESP},
		{"xbootldr", "xbootldr", "bc13c2ff-59e6-4262-a352-b275fd6f7172", "", gpt.XBootLdr},
		{"swap", "swap", "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f", "", gpt.Swap},
		{"home", "home", "933ac7e1-2eb4-4f13-b844-0e14e2aef915", "", gpt.Home},
		{"srv", "srv", "3b8f8425-20e0-4f3b-907f-1a25a76f98e8", "", gpt.Srv},
		{"var", "var", "4d21b016-b534-45c2-a9fb-5c16e091fd2d", "", gpt.Var},
		{"tmp", "tmp", "7ec6f557-3bc5-4aca-b293-16ef5df639d1", "", gpt.Tmp},
		{"user-home", "user-home", "773f91ef-66d4-49b5-bd83-d683bf40ad16", "", gpt.NoDesignator},
		{"linux-generic", "linux-generic", "0fc63daf-8483-4772-8e79-3d69d8477de4", "", gpt.NoDesignator},
		{"root-x86-64", "root-x86-64", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "x86-64", gpt.Root},
		{"root-x86-64-verity", "root-x86-64-verity", "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5", "x86-64", gpt.RootVerity},
		{"root-x86-64-verity-sig", "root-x86-64-verity-sig", "41092b05-9fc8-4523-994f-2def0408b176", "x86-64", gpt.RootVeritySig},
		{"usr-x86-64", "usr-x86-64", "8484680c-9521-48c6-9c11-b0720656f69e", "x86-64", gpt.Usr},
		{"usr-x86-64-verity", "usr-x86-64-verity", "77ff5f63-e7b6-4633-acf4-1565b864c0e6", "x86-64", gpt.UsrVerity},
		{"usr-x86-64-verity-sig", "usr-x86-64-verity-sig", "e7bb33fb-06cf-4e81-8273-e543b413e2e2", "x86-64", gpt.UsrVeritySig},
		{"root-arm64", "root-arm64", "b921b045-1df0-41c3-af44-4c6f280d3fae", "arm64", gpt.Root},
		{"usr-arm64-verity-sig", "usr-arm64-verity-sig", "c23ce4ff-44bd-4b00-b2d4-b41b3419e02a", "arm64", gpt.UsrVeritySig},
		{"root-x86", "root-x86", "44479540-f297-41b2-9af7-d131d5f0458a", "x86", gpt.Root},
		{"usr-x86-verity-sig", "usr-x86-verity-sig", "974a71c0-de41-43c3-be5d-5c5ccd1ad2c0", "x86", gpt.UsrVeritySig},
		{"root-arm", "root-arm", "69dad710-2ce4-4e3c-b16c-21a1d49abed3", "arm", gpt.Root},
		{"usr-arm-verity", "usr-arm-verity", "c215d751-7bcd-4649-be90-6627490a4c05", "arm", gpt.UsrVerity},
		{"root-riscv64", "root-riscv64", "72ec70a6-cf74-40e6-bd49-4bda08e8f224", "riscv64", gpt.Root},
		{"usr-riscv64-verity-sig", "usr-riscv64-verity-sig", "d2f9000a-7a18-453f-b5cd-4d32f77a7b32", "riscv64", gpt.UsrVeritySig},
		// Aliases resolve to the canonical name.
		{"root-amd64", "root-x86-64", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "x86-64", gpt.Root},
		{"root-x86_64-verity", "root-x86-64-verity", "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5", "x86-64", gpt.RootVerity},
		{"root-aarch64", "root-arm64", "b921b045-1df0-41c3-af44-4c6f280d3fae", "arm64", gpt.Root},
		{"usr-aarch64-verity-sig", "usr-arm64-verity-sig", "c23ce4ff-44bd-4b00-b2d4-b41b3419e02a", "arm64", gpt.UsrVeritySig},
		{"root-i686", "root-x86", "44479540-f297-41b2-9af7-d131d5f0458a", "x86", gpt.Root},
		{"usr-i386-verity", "usr-x86-verity", "8f461b0d-14ee-4e81-9aa9-049b6fb97abd", "x86", gpt.UsrVerity},
		{"root-armv7l", "root-arm", "69dad710-2ce4-4e3c-b16c-21a1d49abed3", "arm", gpt.Root},
		{"root-ppc64el", "root-ppc64-le", "c31c45e6-3f39-412e-80fb-4809c4980599", "ppc64-le", gpt.Root},
		{"root-ppc64le", "root-ppc64-le", "c31c45e6-3f39-412e-80fb-4809c4980599", "ppc64-le", gpt.Root},
		{"root-loong64", "root-loongarch64", "77055800-792c-4f94-b39a-98c91b762bb6", "loongarch64", gpt.Root},
		{"root-hppa", "root-parisc", "1aacdb3b-5444-4138-bd9e-e5c2239b2346", "parisc", gpt.Root},
		{"root-mipsel", "root-mips-le", "37c58c8a-d913-4156-a25f-48b1b64e07f0", "mips-le", gpt.Root},
		{"root-mips64el", "root-mips64-le", "700bda43-7a34-4507-b179-eeb93d7a7ca3", "mips64-le", gpt.Root},
		// Native and secondary shortcuts of an x86-64 table.
		{"root", "root-x86-64", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "x86-64", gpt.Root},
		{"usr-verity", "usr-x86-64-verity", "77ff5f63-e7b6-4633-acf4-1565b864c0e6", "x86-64", gpt.UsrVerity},
		{"root-verity-sig", "root-x86-64-verity-sig", "41092b05-9fc8-4523-994f-2def0408b176", "x86-64", gpt.RootVeritySig},
		{"root-secondary", "root-x86", "44479540-f297-41b2-9af7-d131d5f0458a", "x86", gpt.Root},
		{"usr-secondary-verity-sig", "usr-x86-verity-sig", "974a71c0-de41-43c3-be5d-5c5ccd1ad2c0", "x86", gpt.UsrVeritySig},
		// UUIDs, with and without dashes, any case.
		{"c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "esp", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "", gpt.ESP},
		{"C12A7328F81F11D2BA4B00A0C93EC93B", "esp", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "", gpt.ESP},
		{"0fc63daf848347728e793d69d8477de4", "linux-generic", "0fc63daf-8483-4772-8e79-3d69d8477de4", "", gpt.NoDesignator},
		{"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "root-x86-64", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "x86-64", gpt.Root},
		// Unknown UUID: no name.
		{"01234567-89ab-cdef-0123-456789abcdef", "", "01234567-89ab-cdef-0123-456789abcdef", "", gpt.NoDesignator},
		{"00000000000000000000000000000000", "", "00000000-0000-0000-0000-000000000000", "", gpt.NoDesignator},
	}
	for _, tc := range tests {
		got, err := x86.Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		want := gpt.Type{UUID: uuid.MustParse(tc.uuid), Name: tc.name, Arch: tc.arch, Designator: tc.designator}
		if got != want {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, want)
		}
		if tc.name == "" && got.String() != tc.uuid {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got.String(), tc.uuid)
		}
		if tc.name != "" && got.String() != tc.name {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got.String(), tc.name)
		}
	}
}

func TestParseTypeUnknown(t *testing.T) {
	x86 := gpt.NewTable("x86-64")
	for _, in := range []string{
		"", "ESP", "Esp", "esp ", " esp", "root-", "root-foo", "root-x86-64-", "root-x86-64-verity-sig-",
		"root-amd64 ", "rootfs", "usr-secondary-foo", "root-aarch64-secondary",
		"{c12a7328-f81f-11d2-ba4b-00a0c93ec93b}",
		"urn:uuid:c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
		"c12a7328-f81f-11d2-ba4b-00a0c93ec93",   // 35
		"c12a7328f81f11d2ba4b00a0c93ec93",       // 31
		"c12a7328f81f11d2ba4b00a0c93ec93bb",     // 33
		"c12a7328-f81f11d2-ba4b-00a0c93ec93b",   // dashes misplaced
		"g12a7328-f81f-11d2-ba4b-00a0c93ec93b",  // not hex
		"c12a7328-f81f-11d2-ba4b-00a0c93ec93b ", // trailing space
	} {
		if got, err := x86.Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want error", in, got)
		}
	}
}

func TestNewTableShortcuts(t *testing.T) {
	tests := []struct {
		native, in, want string
	}{
		{"x86-64", "root", "root-x86-64"},
		{"x86-64", "root-secondary", "root-x86"},
		{"x86-64", "usr-secondary-verity", "usr-x86-verity"},
		{"arm64", "root", "root-arm64"},
		{"arm64", "root-secondary", "root-arm"},
		{"arm64", "usr-verity-sig", "usr-arm64-verity-sig"},
		{"riscv64", "root", "root-riscv64"},
		{"x86", "usr", "usr-x86"},
		{"s390x", "root-verity", "root-s390x-verity"},
	}
	for _, tc := range tests {
		got, err := gpt.NewTable(tc.native).Parse(tc.in)
		if err != nil || got.Name != tc.want {
			t.Errorf("NewTable(%q).Parse(%q) = %+v, %v; want %s", tc.native, tc.in, got, err, tc.want)
		}
	}
	// No secondary architecture, or no native one.
	for _, tc := range []struct{ native, in string }{
		{"riscv64", "root-secondary"},
		{"x86", "root-secondary"},
		{"", "root"},
		{"", "usr-verity"},
		{"", "root-secondary"},
		{"nonsense", "root"},
	} {
		if got, err := gpt.NewTable(tc.native).Parse(tc.in); err == nil {
			t.Errorf("NewTable(%q).Parse(%q) = %+v, want error", tc.native, tc.in, got)
		}
	}
	// Without a native architecture everything else still resolves.
	if got, err := gpt.NewTable("").Parse("root-arm64"); err != nil || got.Arch != "arm64" {
		t.Errorf("NewTable(\"\").Parse(root-arm64) = %+v, %v", got, err)
	}
}

func TestNativeArchitecture(t *testing.T) {
	want := map[string]string{"amd64": "x86-64", "386": "x86", "arm64": "arm64", "arm": "arm", "riscv64": "riscv64", "s390x": "s390x", "ppc64le": "ppc64-le"}[runtime.GOARCH]
	if want == "" {
		t.Skipf("no expectation for GOARCH=%s", runtime.GOARCH)
	}
	if got := gpt.NativeArchitecture(); got != want {
		t.Errorf("NativeArchitecture() = %q on %s, want %q", got, runtime.GOARCH, want)
	}
	if !gpt.ValidArchitecture(want) {
		t.Errorf("%q is not a valid architecture", want)
	}
}

func TestFromUUID(t *testing.T) {
	tab := gpt.NewTable("x86-64")
	u := uuid.MustParse("01234567-89ab-cdef-0123-456789abcdef")
	got := tab.FromUUID(u)
	if got != (gpt.Type{UUID: u}) {
		t.Errorf("FromUUID(unknown) = %+v", got)
	}
	if got.String() != "01234567-89ab-cdef-0123-456789abcdef" {
		t.Errorf("String() = %q", got.String())
	}
	if got.KnowsNoAuto() || got.KnowsReadOnly() || got.KnowsGrowFS() || got.IsVerity() || got.IsVeritySig() {
		t.Errorf("unknown type knows attribute bits: %+v", got)
	}
	// Every name maps to a type whose name maps back to the same UUID, and
	// FromUUID always gives the canonical name (never a shortcut or alias).
	aliases := map[string]bool{}
	for _, name := range tab.Names() {
		typ, err := tab.Parse(name)
		if err != nil {
			t.Errorf("Parse(%q) from Names(): %v", name, err)
			continue
		}
		if typ.Name != name {
			aliases[name] = true
		}
		back := tab.FromUUID(typ.UUID)
		if back != typ {
			t.Errorf("FromUUID(Parse(%q).UUID) = %+v, want %+v", name, back, typ)
		}
		if canon, err := tab.Parse(typ.Name); err != nil || canon != typ {
			t.Errorf("canonical name %q of %q does not parse back: %+v, %v", typ.Name, name, canon, err)
		}
	}
	for _, a := range []string{"root", "root-secondary", "root-amd64", "usr-aarch64-verity"} {
		if !aliases[a] {
			t.Errorf("%q is not listed as a non-canonical name", a)
		}
	}
	for _, c := range []string{"root-x86-64", "esp", "root-arm64", "usr-x86-verity-sig"} {
		if aliases[c] {
			t.Errorf("canonical name %q resolves to another name", c)
		}
	}
}

// TestTypeUUIDsUnique: no UUID is shared by two canonical names.
func TestTypeUUIDsUnique(t *testing.T) {
	tab := gpt.NewTable("")
	seen := map[uuid.UUID]string{}
	for _, name := range tab.Names() {
		typ, _ := tab.Parse(name)
		if typ.Name != name {
			continue
		}
		if other, dup := seen[typ.UUID]; dup {
			t.Errorf("%s and %s share UUID %s", other, name, typ.UUID)
		}
		seen[typ.UUID] = name
	}
	// 9 generic types + 6 per architecture.
	if want := 9 + 6*19; len(seen) != want {
		t.Errorf("%d canonical types, want %d", len(seen), want)
	}
}

func TestOverrideArchitecture(t *testing.T) {
	tab := gpt.NewTable("x86-64")
	mustParse := func(s string) gpt.Type {
		typ, err := tab.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return typ
	}
	tests := []struct {
		in, arch, want string
	}{
		{"root-x86-64", "arm64", "root-arm64"},
		{"root", "arm64", "root-arm64"},
		{"root-x86-64-verity", "arm64", "root-arm64-verity"},
		{"usr-x86-64-verity-sig", "arm64", "usr-arm64-verity-sig"},
		{"usr-arm64", "x86", "usr-x86"},
		{"root-secondary", "riscv64", "root-riscv64"},
		{"4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "arm", "root-arm"},
		{"root-x86-64", "x86-64", "root-x86-64"},
		// Types without an architecture are unchanged.
		{"esp", "arm64", "esp"},
		{"home", "arm64", "home"},
		{"swap", "arm64", "swap"},
		{"linux-generic", "arm64", "linux-generic"},
		{"xbootldr", "arm64", "xbootldr"},
		// No entry for that architecture: unchanged.
		{"root-x86-64", "sparc", "root-x86-64"},
		{"root-x86-64", "no-such-arch", "root-x86-64"},
	}
	for _, tc := range tests {
		got := tab.OverrideArchitecture(mustParse(tc.in), tc.arch)
		want := mustParse(tc.want)
		if got != want {
			t.Errorf("OverrideArchitecture(%s, %s) = %+v, want %+v", tc.in, tc.arch, got, want)
		}
	}
	got := tab.OverrideArchitecture(mustParse("root-x86-64"), "arm64")
	if got.Arch != "arm64" || got.UUID != uuid.MustParse("b921b045-1df0-41c3-af44-4c6f280d3fae") || got.Designator != gpt.Root {
		t.Errorf("root-x86-64 for arm64 = %+v", got)
	}
	unknown := tab.FromUUID(uuid.MustParse("01234567-89ab-cdef-0123-456789abcdef"))
	if got := tab.OverrideArchitecture(unknown, "arm64"); got != unknown {
		t.Errorf("unknown type overridden to %+v", got)
	}
}

func TestValidArchitecture(t *testing.T) {
	for _, a := range []string{"x86-64", "x86", "arm64", "arm", "riscv64", "s390x", "ppc64-le", "loongarch64", "mips64-le", "alpha"} {
		if !gpt.ValidArchitecture(a) {
			t.Errorf("ValidArchitecture(%q) = false", a)
		}
	}
	for _, a := range []string{"", "amd64", "aarch64", "x86_64", "X86-64", "i686"} {
		if gpt.ValidArchitecture(a) {
			t.Errorf("ValidArchitecture(%q) = true", a)
		}
	}
}

func TestAttributeKnowledge(t *testing.T) {
	tab := gpt.NewTable("x86-64")
	// Spec §7: which types know NoAuto, ReadOnly, GrowFileSystem.
	tests := []struct {
		name                     string
		noAuto, readOnly, growFS bool
		verity, veritySig        bool
	}{
		{"root", true, true, true, false, false},
		{"usr-arm64", true, true, true, false, false},
		{"root-verity", true, true, false, true, false},
		{"usr-x86-verity", true, true, false, true, false},
		{"root-verity-sig", false, false, false, false, true},
		{"usr-riscv64-verity-sig", false, false, false, false, true},
		{"home", true, true, true, false, false},
		{"srv", true, true, true, false, false},
		{"var", true, true, true, false, false},
		{"tmp", true, true, true, false, false},
		{"xbootldr", true, true, true, false, false},
		{"swap", true, false, false, false, false},
		{"esp", false, false, false, false, false},
		{"user-home", false, false, false, false, false},
		{"linux-generic", false, false, false, false, false},
	}
	for _, tc := range tests {
		typ, err := tab.Parse(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if typ.KnowsNoAuto() != tc.noAuto || typ.KnowsReadOnly() != tc.readOnly || typ.KnowsGrowFS() != tc.growFS ||
			typ.IsVerity() != tc.verity || typ.IsVeritySig() != tc.veritySig {
			t.Errorf("%s: noauto=%v readonly=%v growfs=%v verity=%v sig=%v; want %v %v %v %v %v", tc.name,
				typ.KnowsNoAuto(), typ.KnowsReadOnly(), typ.KnowsGrowFS(), typ.IsVerity(), typ.IsVeritySig(),
				tc.noAuto, tc.readOnly, tc.growFS, tc.verity, tc.veritySig)
		}
	}
}

func TestFdiskAttributes(t *testing.T) {
	tests := []struct {
		in, want uint64
	}{
		{0, 0},
		{gpt.FlagGrowFS, gpt.FlagGrowFS},
		{gpt.FlagNoAuto | gpt.FlagReadOnly | gpt.FlagGrowFS, gpt.FlagNoAuto | gpt.FlagReadOnly | gpt.FlagGrowFS},
		{1 << 48, 1 << 48},
		{1<<48 | gpt.FlagGrowFS, 1<<48 | gpt.FlagGrowFS}, // srv + Flags=bit 48 (spec §7)
		{0xffff << 48, 0xffff << 48},
		{1, 0},                    // srv + Flags=1 loses bit 59 too
		{1 | gpt.FlagGrowFS, 0},   // Vector B's srv: Flags=0x1
		{4 | gpt.FlagReadOnly, 0}, // bit 2
		{1 << 47, 0},              // highest rejected bit
		{1<<47 | 1<<48, 0},        // one bad bit drops the list
		{^uint64(0), 0},           // everything
		{0x1000000000000000, 1 << 60},
	}
	for _, tc := range tests {
		if got := gpt.FdiskAttributes(tc.in); got != tc.want {
			t.Errorf("FdiskAttributes(%#x) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

func TestParseID(t *testing.T) {
	want := uuid.MustParse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
	for _, in := range []string{
		"c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
		"C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
		"c12a7328f81f11d2ba4b00a0c93ec93b",
		"C12a7328F81f11d2Ba4b00a0c93eC93b",
	} {
		got, err := gpt.ParseID(in)
		if err != nil || got != want {
			t.Errorf("ParseID(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{
		"",
		"{c12a7328-f81f-11d2-ba4b-00a0c93ec93b}",
		"{c12a7328f81f11d2ba4b00a0c93ec93b}",
		"urn:uuid:c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
		"c12a7328-f81f-11d2-ba4b00a0c93ec93b",
		"c12a7328f-81f-11d2-ba4b-00a0c93ec93b",
		"c12a7328-f81f-11d2-ba4b-00a0c93ec93",
		"c12a7328-f81f-11d2-ba4b-00a0c93ec93bb",
		"c12a7328+f81f+11d2+ba4b+00a0c93ec93b",
		"c12a7328-f81f-11d2-ba4b-00a0c93ec9-b",
		"x12a7328f81f11d2ba4b00a0c93ec93b",
		"c12a7328f81f11d2ba4b00a0c93ec93 ",
		" c12a7328f81f11d2ba4b00a0c93ec93",
		"c12a7328-f81f-11d2-ba4b-00a0c93ec93\x00",
		"null",
	} {
		if got, err := gpt.ParseID(in); err == nil {
			t.Errorf("ParseID(%q) = %v, want error", in, got)
		}
	}
}

func TestFdiskName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"esp", "esp"},
		{"Ünïcødé", "Ünïcødé"},
		{"\uffff", "\uffff"}, // three UTF-8 bytes: kept
		{"€uro", "€uro"},
		{"\U0001F600", ""}, // four UTF-8 bytes: libfdisk gives up on the whole name
		{"root-\U00010000", ""},
		{name36, name36},
	}
	for _, tc := range tests {
		if got := gpt.FdiskName(tc.in); got != tc.want {
			t.Errorf("FdiskName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
