package main

// Differential test against Debian's systemd-repart 252 (/usr/bin/systemd-repart),
// the oracle for GPT-only images (spec/repart.md §0, §15): random definition
// sets are built by both programs, and the exit status, the JSON rows and the
// whole image bytes must agree. Every image we produce is also read back with
// sfdisk and checked with sgdisk -v, which know nothing of either program.
//
// What the generator leaves out, and why (spec/repart.md §14, 252 vs 257):
//   - Type=swap: 257 (and we) format swap partitions, 252 leaves them empty.
//   - *-verity-sig types: their minimum size differs (§5.2).
//   - type aliases (root-amd64, ...): 257 only, fatal in 252 (§3.2).
//   - Format=, CopyFiles=, Verity=, Encrypt=, MakeDirectories=: we refuse them
//     (mkfs output is not reproducible anyway, §8.2).
//   - duplicate UUID= values: we refuse them on purpose (repart/repart.go,
//     acquireIDs); 252 writes a table with two equal GUIDs.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

const (
	// diffCases is the number of random definition sets; case i is made by
	// genDiffCase(i) alone, so any case can be rerun by name.
	diffCases = 320
	// diffRandSeed fixes the generator: changing it changes every case.
	diffRandSeed = 0x5eed_0252
)

// diffSeeds are the --seed= values the cases use.
var diffSeeds = []string{
	"e2a40bf9-73f1-4278-9160-49c031e7aef8", // the spec's vectors (§15)
	"00000000-0000-0000-0000-000000000001",
	"c0ffee00-1234-4321-8765-abcdefabcdef",
	"5a1d6f0c3b2e4c7d9e8f0a1b2c3d4e5f", // without dashes
}

// diffUUIDs are explicit UUID= values; a case uses each at most once.
var diffUUIDs = []string{
	"11111111-2222-3333-4444-555555555555",
	"6f8c3a10-9b1e-4d2a-8e7f-0c1d2e3f4a5b",
	"a0b1c2d3-e4f5-4061-8273-94a5b6c7d8e9",
	"deadbeef-0000-4000-8000-000000000001",
	"0123456789abcdef0123456789abcdef",
	"FEDCBA98-7654-4321-8FED-CBA987654321",
	"3e0a7c5d-1f2b-4c6d-9e8f-7a6b5c4d3e2f",
	"9d8c7b6a-5f4e-4d3c-ab2a-190807060504",
	"77777777-7777-4777-b777-777777777777",
	"b1e55ed0-cafe-4bab-a0be-f00dfacade00",
}

// typeGUIDs maps the canonical type names repart prints to type GUIDs
// (spec §3.1), for checking sfdisk's view of our images.
var typeGUIDs = map[string]string{
	"esp":                "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
	"xbootldr":           "bc13c2ff-59e6-4262-a352-b275fd6f7172",
	"home":               "933ac7e1-2eb4-4f13-b844-0e14e2aef915",
	"srv":                "3b8f8425-20e0-4f3b-907f-1a25a76f98e8",
	"var":                "4d21b016-b534-45c2-a9fb-5c16e091fd2d",
	"tmp":                "7ec6f557-3bc5-4aca-b293-16ef5df639d1",
	"user-home":          "773f91ef-66d4-49b5-bd83-d683bf40ad16",
	"linux-generic":      "0fc63daf-8483-4772-8e79-3d69d8477de4",
	"root-x86-64":        "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
	"root-x86-64-verity": "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5",
	"usr-x86-64":         "8484680c-9521-48c6-9c11-b0720656f69e",
	"usr-x86-64-verity":  "77ff5f63-e7b6-4633-acf4-1565b864c0e6",
	"root-arm64":         "b921b045-1df0-41c3-af44-4c6f280d3fae",
	"root-arm64-verity":  "df3300ce-d69f-4c92-978c-9bfb0f38d820",
	"usr-arm64":          "b0e01050-ee5f-4390-949a-9101b17104e9",
	"usr-arm64-verity":   "6e11a4e7-fbca-4ded-b9e9-e1a512bb664e",
}

// typeBits says which attribute bits a type knows (spec §7).
type typeBits struct{ noAuto, readOnly, growFS, verity bool }

func bitsOf(canon string) typeBits {
	switch {
	case strings.HasSuffix(canon, "-verity"):
		return typeBits{noAuto: true, readOnly: true, verity: true}
	case strings.HasPrefix(canon, "root-"), strings.HasPrefix(canon, "usr-"):
		return typeBits{true, true, true, false}
	}
	switch canon {
	case "home", "srv", "var", "tmp", "xbootldr":
		return typeBits{true, true, true, false}
	}
	return typeBits{}
}

// nativeArch is the architecture the unsuffixed root/usr names resolve to
// in the oracle (built for the machine the test runs on).
func nativeArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86-64"
	case "arm64":
		return "arm64"
	}
	return ""
}

// diffType is a Type= value and the canonical name repart prints for it
// ("unknown" stands for a random type UUID of the case).
type diffType struct{ text, canon string }

func diffTypes() []diffType {
	ts := []diffType{
		{"esp", "esp"}, {"esp", "esp"}, {"xbootldr", "xbootldr"},
		{"home", "home"}, {"home", "home"}, {"home", "home"},
		{"srv", "srv"}, {"srv", "srv"}, {"var", "var"}, {"tmp", "tmp"},
		{"user-home", "user-home"}, {"linux-generic", "linux-generic"},
		{"linux-generic", "linux-generic"}, {"root-x86-64", "root-x86-64"},
		{"root-arm64", "root-arm64"}, {"usr-x86-64", "usr-x86-64"},
		{"0fc63daf-8483-4772-8e79-3d69d8477de4", "linux-generic"},
		{"0FC63DAF848347728E793D69D8477DE4", "linux-generic"},
		{"933AC7E1-2EB4-4F13-B844-0E14E2AEF915", "home"},
		{"unknown", ""}, {"unknown", ""},
	}
	if a := nativeArch(); a != "" {
		ts = append(ts, diffType{"root", "root-" + a}, diffType{"root", "root-" + a},
			diffType{"usr", "usr-" + a}, diffType{"root-verity", "root-" + a + "-verity"},
			diffType{"usr-verity", "usr-" + a + "-verity"})
	}
	return ts
}

// sized is a size as written in a definition or on the command line.
type sized struct {
	text  string
	bytes uint64
}

var (
	diskSizes = []sized{
		{"3M", 3 << 20}, {"4M", 4 << 20}, {"4M", 4 << 20}, {"4194305", 4194305}, {"4100K", 4100 << 10},
		{"5M", 5 << 20}, {"5M", 5 << 20}, {"6M", 6 << 20}, {"8M", 8 << 20}, {"12M", 12 << 20},
		{"16M", 16 << 20}, {"20M", 20 << 20}, {"32M", 32 << 20}, {"48M", 48 << 20},
		{"64M", 64 << 20}, {"100M", 100 << 20}, {"128M", 128 << 20}, {"200M", 200 << 20},
		{"256M", 256 << 20}, {"100000K", 100000 << 10}, {"10000000", 10000000},
		{"12345678", 12345678}, {"5000000", 5000000}, {"60M", 60 << 20},
		// too small for anything, both must refuse
		{"64K", 64 << 10}, {"1M", 1 << 20}, {"2M", 2 << 20},
	}
	minSizes      = []sized{{"4K", 4096}, {"5000", 5000}, {"5000B", 5000}, {"1.5M", 1536 << 10}, {"1M", 1 << 20}, {"1500K", 1500 << 10}, {"2M", 2 << 20}, {"10000000", 10000000}, {"8M", 8 << 20}, {"16M", 16 << 20}, {"20M", 20 << 20}, {"32M", 32 << 20}, {"64M", 64 << 20}, {"100M", 100 << 20}}
	minSizesSmall = []sized{{"0", 0}, {"4K", 4096}, {"5000", 5000}, {"64K", 64 << 10}, {"100000", 100000}, {"512K", 512 << 10}, {"1M", 1 << 20}}
	maxSizes      = []sized{{"4K", 4096}, {"1M", 1 << 20}, {"2M 512K", 2560 << 10}, {"3M", 3 << 20}, {"8M", 8 << 20}, {"10000000", 10000000}, {"12M", 12 << 20}, {"20M", 20 << 20}, {"64M", 64 << 20}, {"100M", 100 << 20}, {"1G", 1 << 30}}
	maxSizesSmall = []sized{{"0", 0}, {"4K", 4096}, {"8K", 8192}, {"100000", 100000}, {"512K", 512 << 10}, {"1M", 1 << 20}, {"2M", 2 << 20}}
	padSizes      = []sized{{"0", 0}, {"4K", 4096}, {"5000", 5000}, {"1M", 1 << 20}, {"2M", 2 << 20}, {"10000000", 10000000}}
	padSizesSmall = []sized{{"0", 0}, {"4K", 4096}, {"5000", 5000}, {"64K", 64 << 10}}
)

// diffFlag is a Flags= value and what repart parses it to (spec §2.2:
// 0x, 0b, 0o prefixes and C octal; unparsable values are ignored).
type diffFlag struct {
	text  string
	value uint64
}

var diffFlags = []diffFlag{
	{"0x1", 1}, {"1", 1}, {"0x4", 4}, {"0", 0}, {"0x1000000000000000", 1 << 60},
	{"0x8000000000000000", 1 << 63}, {"0x0001000000000000", 1 << 48}, {"0x0800000000000000", 1 << 59},
	{"0x1800000000000001", 1<<60 | 1<<59 | 1}, {"0xF000000000000000", 0xF000000000000000},
	{"281474976710656", 1 << 48}, {"18446744073709551615", ^uint64(0)},
	{"0b1000", 8}, {"0o7", 7}, {"010", 8}, {"0xZZ", 0}, {"0x0000800000000000", 1 << 47},
}

// tri is a NoAuto=/ReadOnly=/GrowFileSystem= value: -1 unset, 0 no, 1 yes.
type tri int

var diffBools = []struct {
	text string
	v    tri
}{{"yes", 1}, {"no", 0}, {"", -1}, {"true", 1}, {"0", 0}, {"off", 0}, {"1", 1}, {"y", 1}, {"on", 1}, {"n", 0}}

var labelPool = []string{
	"data", "data", "root", "home", "home-2", "esp", "linux", "srv-2", "Ünïcødé", "Ünïcødé",
	"日本語ラベル",
	// Outside the BMP: libfdisk 2.38 cannot encode it (gpt_entry_set_name
	// fails with EILSEQ, which goes unchecked), so 252 writes an empty GPT
	// name while its JSON still shows the label.
	"💾 disk", strings.Repeat("ä", 18), strings.Repeat("ä", 19),
	strings.Repeat("x", 36), strings.Repeat("y", 37), strings.Repeat("日", 12), strings.Repeat("日", 13), "50%%", `with "quotes"`, `back\slash`,
	"a b c", "UPPER lower", "tab\there",
	// specifiers (spec §2.2), expanded on this host by both programs
	"arch-%a", "%%a", "%H-x", "%v", "%T", "%q", "%m", "%Z", "100%", "a%-b",
}

// genDef is one generated definition file and the model of its attributes.
type genDef struct {
	name                   string
	lines                  []string
	canon                  string // type name repart prints, or the type UUID
	flags                  uint64 // Flags= as parsed (0 when absent or invalid)
	noAuto, readOnly, grow tri
}

func (d genDef) content() string {
	return "[Partition]\n" + strings.Join(d.lines, "\n") + "\n"
}

// attrs is the GPT attribute field repart 252 writes (spec §2.3 items 12-13,
// §7 including the libfdisk quirk).
func (d genDef) attrs() uint64 {
	k := bitsOf(d.canon)
	ro, grow := d.readOnly, d.grow
	if ro == -1 && k.verity {
		ro = 1
	}
	if k.growFS && ro != 1 {
		grow = 1
	}
	f := d.flags
	apply := func(v tri, knows bool, bit uint64) {
		switch {
		case !knows || v == -1:
		case v == 1:
			f |= bit
		default:
			f &^= bit
		}
	}
	apply(d.noAuto, k.noAuto, 1<<63)
	apply(ro, k.readOnly, 1<<60)
	apply(grow, k.growFS, 1<<59)
	if f&(1<<48-1) != 0 {
		return 0
	}
	return f
}

// diffCase is one definition set with its command line.
type diffCase struct {
	index int
	name  string
	seed  string
	size  string // --size=: "auto" or explicit
	bytes uint64 // explicit size rounded up to 4096; 0 for auto
	defs  []genDef
}

func (c diffCase) files() map[string]string {
	m := map[string]string{}
	for _, d := range c.defs {
		m[d.name] = d.content()
	}
	return m
}

func (c diffCase) def(basename string) (genDef, bool) {
	for _, d := range c.defs {
		if d.name == basename {
			return d, true
		}
	}
	return genDef{}, false
}

func (c diffCase) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: --size=%s --seed=%s\n", c.name, c.size, c.seed)
	for _, d := range c.defs {
		fmt.Fprintf(&b, "--- %s\n%s", d.name, d.content())
	}
	return b.String()
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func randomTypeUUID(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func randomLabel(r *rand.Rand) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:+ "
	b := make([]byte, 1+r.IntN(38))
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	s := strings.TrimSpace(string(b)) // the config parser strips whitespace
	if s == "" || s == "-" {          // JSON shows an empty label as "-"
		s = "x"
	}
	return s
}

// genDiffCase makes case i; it depends on i and diffRandSeed only.
func genDiffCase(i int) diffCase {
	r := rand.New(rand.NewPCG(diffRandSeed, uint64(i)))
	c := diffCase{index: i, name: fmt.Sprintf("case%03d", i), seed: pick(r, diffSeeds), size: "auto"}
	small := false
	if r.IntN(100) >= 35 {
		s := pick(r, diskSizes)
		c.size, c.bytes = s.text, (s.bytes+4095)&^4095
		small = s.bytes <= 8<<20
	}
	types := diffTypes()
	unknown := [2]string{randomTypeUUID(r), randomTypeUUID(r)}
	uuids := append([]string(nil), diffUUIDs...)
	r.Shuffle(len(uuids), func(a, b int) { uuids[a], uuids[b] = uuids[b], uuids[a] })
	n := 1 + r.IntN(8)
	nums := r.Perm(100)[:n]
	sort.Ints(nums)
	words := []string{"a", "esp", "root", "data", "x", "zz", "Home", "part"}
	for _, num := range nums {
		d := genDef{name: fmt.Sprintf("%02d-%s.conf", num, pick(r, words)), noAuto: -1, readOnly: -1, grow: -1}
		t := pick(r, types)
		if t.text == "unknown" {
			u := unknown[r.IntN(2)]
			t = diffType{u, u}
			if r.IntN(3) == 0 {
				t.text = strings.ToUpper(u)
			}
		}
		d.canon = t.canon
		d.lines = append(d.lines, "Type="+t.text)
		switch x := r.IntN(100); {
		case x < 45:
		case x < 50:
			d.lines = append(d.lines, "Label=")
		case x < 72:
			d.lines = append(d.lines, "Label="+pick(r, labelPool))
		default:
			d.lines = append(d.lines, "Label="+randomLabel(r))
		}
		switch x := r.IntN(100); {
		case x < 6:
			d.lines = append(d.lines, "UUID=null")
		case x < 20:
			d.lines = append(d.lines, "UUID="+uuids[0])
			uuids = uuids[1:]
		}
		mins, maxs, pads := minSizes, maxSizes, padSizes
		pMin, pMax := 40, 30
		if small {
			mins, maxs, pads = minSizesSmall, maxSizesSmall, padSizesSmall
			pMin, pMax = 85, 70
		}
		minMax := func(key string, lo, hi []sized, pLo, pHi int) {
			var a, b *sized
			if r.IntN(100) < pLo {
				s := pick(r, lo)
				a = &s
			}
			if r.IntN(100) < pHi {
				s := pick(r, hi)
				b = &s
			}
			// Mostly valid pairs; sometimes min > max, which both must refuse.
			if a != nil && b != nil && a.bytes > b.bytes && r.IntN(100) < 85 {
				a, b = b, a
			}
			if a != nil {
				d.lines = append(d.lines, key+"MinBytes="+a.text)
			}
			if b != nil {
				d.lines = append(d.lines, key+"MaxBytes="+b.text)
			}
		}
		minMax("Size", mins, maxs, pMin, pMax)
		minMax("Padding", pads, pads, 15, 15)
		if r.IntN(100) < 30 {
			d.lines = append(d.lines, "Weight="+pick(r, []string{"0", "1", "10", "100", "500", "1000", "2000", "1000000", "1000001", "010", "abc", "-1"}))
		}
		if r.IntN(100) < 20 {
			d.lines = append(d.lines, "PaddingWeight="+pick(r, []string{"0", "1", "100", "1000", "5000"}))
		}
		// Priority= matters only when the partitions do not fit, so mostly
		// with an explicit --size=.
		if pPrio := map[bool]int{true: 15, false: 50}[c.bytes == 0]; r.IntN(100) < pPrio {
			d.lines = append(d.lines, "Priority="+pick(r, []string{"-1", "0", "1", "1", "1", "2", "2", "3", "10", "2147483647", "2147483648", "-2147483648", "x"}))
		}
		if r.IntN(100) < 20 {
			f := pick(r, diffFlags)
			d.lines = append(d.lines, "Flags="+f.text)
			d.flags = f.value
		}
		for _, k := range []struct {
			key string
			dst *tri
		}{{"ReadOnly", &d.readOnly}, {"NoAuto", &d.noAuto}, {"GrowFileSystem", &d.grow}} {
			if r.IntN(100) < 12 {
				b := pick(r, diffBools)
				d.lines = append(d.lines, k.key+"="+b.text)
				*k.dst = b.v
			}
		}
		if r.IntN(100) < 5 { // a repeated key: the last assignment wins
			d.lines = append(d.lines, "Label="+pick(r, labelPool), "Weight="+pick(r, []string{"0", "10", "3000"}))
		}
		r.Shuffle(len(d.lines), func(a, b int) { d.lines[a], d.lines[b] = d.lines[b], d.lines[a] })
		c.defs = append(c.defs, d)
	}
	return c
}

// oracle252 returns the systemd-repart 252 binary, ending the test if it is
// missing or another version (whose output legitimately differs).
func oracle252(t *testing.T) string {
	t.Helper()
	bin := oracle.Require(t, "systemd-repart")
	out, _, err := oracle.Run(t, bin, "--version")
	if err != nil || !strings.HasPrefix(out, "systemd 252 ") {
		oracle.Unavailable(t, "%s is not systemd-repart 252 (%v): %.40q", bin, err, out)
	}
	oracle.Require(t, "sfdisk")
	oracle.Require(t, "sgdisk")
	return bin
}

// diffStats counts outcomes, to check that the generator exercises both
// successful builds and refusals.
type diffStats struct{ total, built, refused, dropped atomic.Int64 }

func (s *diffStats) check(t *testing.T, want int, minBuilt float64) {
	total, built, refused, dropped := s.total.Load(), s.built.Load(), s.refused.Load(), s.dropped.Load()
	t.Logf("%d cases: %d built by both (%d dropping partitions for Priority=), %d refused by both",
		total, built, dropped, refused)
	if t.Failed() || total != int64(want) {
		return // some cases failed or were filtered out with -run
	}
	if float64(built) < minBuilt*float64(total) || refused < total/20 || dropped < total/50 {
		t.Errorf("generator is off balance: of %d cases %d built, %d dropping partitions, %d refused",
			total, built, dropped, refused)
	}
}

func TestDiff252(t *testing.T) {
	bin := oracle252(t)
	stats := &diffStats{}
	t.Cleanup(func() { stats.check(t, diffCases, 0.5) })
	for i := 0; i < diffCases; i++ {
		c := genDiffCase(i)
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			diff512(t, bin, c, stats)
		})
	}
}

func TestDiff252Sector4096(t *testing.T) {
	bin := oracle252(t)
	oracle.RequireRoot(t)
	oracle.Require(t, "losetup")
	stats := &diffStats{}
	want := 0
	for i := 0; i < diffCases; i++ {
		c := genDiffCase(i)
		if c.bytes == 0 { // 4096-byte sectors need a loop device of a given size
			continue
		}
		want++
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			diff4096(t, bin, c, stats)
		})
	}
	if want < 40 {
		t.Errorf("only %d cases with 4096-byte sectors", want)
	}
	// Explicit sizes include the tiny disks, so fewer of these cases build.
	t.Cleanup(func() { stats.check(t, want, 0.35) })
}

// logOnFailure prints the case and what both programs said if t fails.
func logOnFailure(t *testing.T, c diffCase, test string, stderr252, stderrOurs *string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rerun: go test ./cmd/hermetic-repart -run '^%s$/^%s$'\n%s\n252 stderr:\n%s\nour stderr:\n%s",
				test, c.name, c, *stderr252, *stderrOurs)
		}
	})
}

func diff512(t *testing.T, bin string, c diffCase, stats *diffStats) {
	var err252, errOurs string
	logOnFailure(t, c, "TestDiff252", &err252, &errOurs)
	stats.total.Add(1)
	dir := t.TempDir()
	defs := writeDefs(t, dir, c.files())
	img252 := filepath.Join(dir, "252", "disk.raw")
	imgOurs := filepath.Join(dir, "ours", "disk.raw")
	for _, p := range []string{img252, imgOurs} {
		if err := os.Mkdir(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--definitions=" + defs, "--empty=create", "--size=" + c.size, "--seed=" + c.seed, "--dry-run=no", "--json=short"}
	out252, e252, err := oracle.Run(t, bin, append(args, img252)...)
	err252 = e252
	ours := runCLI(t, dir, nil, append(args, "--sector-size=512", imgOurs)...)
	errOurs = ours.stderr
	if !sameOutcome(t, oracle.ExitCode(err), ours.code) {
		return
	}
	compareSizing(t, err252, errOurs)
	if ours.code != 0 {
		stats.refused.Add(1)
		return
	}
	compareImages(t, img252, imgOurs)
	rows := compareRows(t, out252, img252, ours.stdout, imgOurs)
	st, err := os.Stat(imgOurs)
	if err != nil {
		t.Fatal(err)
	}
	checkGPT(t, imgOurs, 512, uint64(st.Size()), c, rows)
	oracle.SgdiskVerify(t, imgOurs)
	if !t.Failed() {
		stats.built.Add(1)
		if len(rows) < len(c.defs) {
			stats.dropped.Add(1)
		}
	}
}

// diff4096 builds c on a 4096-byte-sector loop device with 252 and with
// --sector-size=4096 into a plain file with us (spec §15.4).
func diff4096(t *testing.T, bin string, c diffCase, stats *diffStats) {
	var err252, errOurs string
	logOnFailure(t, c, "TestDiff252Sector4096", &err252, &errOurs)
	stats.total.Add(1)
	dir := t.TempDir()
	defs := writeDefs(t, dir, c.files())
	img252 := filepath.Join(dir, "252.img")
	imgOurs := filepath.Join(dir, "ours.img")
	for _, p := range []string{img252, imgOurs} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, int64(c.bytes)); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--definitions=" + defs, "--empty=force", "--seed=" + c.seed, "--dry-run=no", "--json=short"}
	dev, detach := attachLoop(t, img252, false)
	out252, e252, err := oracle.Run(t, bin, append(args, dev)...)
	err252 = e252
	detach() // flushes; the backing file then holds what 252 wrote
	ours := runCLI(t, dir, nil, append(args, "--sector-size=4096", imgOurs)...)
	errOurs = ours.stderr
	if !sameOutcome(t, oracle.ExitCode(err), ours.code) {
		return
	}
	compareSizing(t, err252, errOurs)
	if ours.code != 0 {
		stats.refused.Add(1)
		return
	}
	compareImages(t, img252, imgOurs)
	rows := compareRows(t, out252, dev, ours.stdout, imgOurs)
	// sfdisk and sgdisk assume 512-byte sectors for plain files (neither has
	// a sector-size option in util-linux 2.38 / gdisk 1.0.9), so they read
	// our image through a read-only 4096-byte-sector loop device.
	ro, detachRO := attachLoop(t, imgOurs, true)
	checkGPT(t, ro, 4096, c.bytes, c, rows)
	oracle.SgdiskVerify(t, ro)
	detachRO()
	if !t.Failed() {
		stats.built.Add(1)
		if len(rows) < len(c.defs) {
			stats.dropped.Add(1)
		}
	}
}

// attachLoop attaches file to a free loop device with 4096-byte sectors.
// detach is idempotent and also runs at cleanup.
func attachLoop(t *testing.T, file string, readOnly bool) (dev string, detach func()) {
	t.Helper()
	args := []string{"-b", "4096", "--show", "-f"}
	if readOnly {
		args = append(args, "-r")
	}
	out, stderr, err := oracle.Run(t, "losetup", append(args, file)...)
	if err != nil {
		t.Fatalf("losetup %s: %v\n%s", file, err, stderr)
	}
	dev = strings.TrimSpace(out)
	var once sync.Once
	detach = func() {
		once.Do(func() {
			if _, stderr, err := oracle.Run(t, "losetup", "-d", dev); err != nil {
				t.Errorf("losetup -d %s: %v\n%s", dev, err, stderr)
			}
		})
	}
	t.Cleanup(detach)
	return dev, detach
}

func sameOutcome(t *testing.T, code252, codeOurs int) bool {
	t.Helper()
	if (code252 == 0) != (codeOurs == 0) {
		t.Errorf("exit status: 252 %d, ours %d", code252, codeOurs)
		return false
	}
	return true
}

var (
	sizingLine = regexp.MustCompile(`(?m)^(Can't fit .*|Automatically determined minimal disk image size as .*)$`)
	pointZero  = regexp.MustCompile(`\b(\d+)\.0([KMGTPE])`)
)

// compareSizing compares what both programs report about sizing: the
// partitions dropped for their Priority=, the largest free area when they
// do not fit, and the --size=auto minimum. 252 prints sizes as "64.0M",
// 257 (and we) as "64M": systemd's format_bytes() gained "a digit after
// the point only if non-zero" after 252, so ".0" is dropped before
// comparing.
func compareSizing(t *testing.T, stderr252, stderrOurs string) {
	t.Helper()
	a := sizingLine.FindAllString(stderr252, -1)
	b := sizingLine.FindAllString(stderrOurs, -1)
	for i := range a {
		a[i] = pointZero.ReplaceAllString(a[i], "$1$2")
	}
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("sizing messages differ:\n252:  %q\nours: %q", a, b)
	}
}

// compareImages requires identical contents. Images are sparse, so only the
// ranges where either file has data are read; elsewhere both are zero.
func compareImages(t *testing.T, a, b string) {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	sa, sb := fileSize(t, fa), fileSize(t, fb)
	if sa != sb {
		t.Errorf("image size: 252 %d, ours %d", sa, sb)
		return
	}
	ext := mergeExtents(append(dataExtents(t, fa, sa), dataExtents(t, fb, sb)...))
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for _, e := range ext {
		for off := e[0]; off < e[1]; {
			n := min(int64(len(ba)), e[1]-off)
			if _, err := fa.ReadAt(ba[:n], off); err != nil {
				t.Fatal(err)
			}
			if _, err := fb.ReadAt(bb[:n], off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ba[:n], bb[:n]) {
				i := int64(0)
				for ba[i] == bb[i] {
					i++
				}
				at := off + i
				t.Errorf("images differ, first at byte %d (512-byte LBA %d +%d, 4096-byte LBA %d +%d); sha256 252 %s, ours %s",
					at, at/512, at%512, at/4096, at%4096, sha256File(t, fa), sha256File(t, fb))
				return
			}
			off += n
		}
	}
}

func fileSize(t *testing.T, f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// dataExtents lists [start, end) ranges that may hold data (SEEK_DATA /
// SEEK_HOLE); without that support the whole file counts as data.
func dataExtents(t *testing.T, f *os.File, size int64) [][2]int64 {
	fd := int(f.Fd())
	var ext [][2]int64
	for off := int64(0); off < size; {
		d, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break
		}
		if err != nil {
			return [][2]int64{{0, size}}
		}
		h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
		if err != nil {
			h = size
		}
		ext = append(ext, [2]int64{d, min(h, size)})
		off = h
	}
	return ext
}

func mergeExtents(ext [][2]int64) [][2]int64 {
	sort.Slice(ext, func(i, j int) bool { return ext[i][0] < ext[j][0] })
	var out [][2]int64
	for _, e := range ext {
		if n := len(out); n > 0 && e[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], e[1])
			continue
		}
		out = append(out, e)
	}
	return out
}

func sha256File(t *testing.T, f *os.File) string {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fileSize(t, f))); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// jsonRow is one partition of --json=short output.
type jsonRow map[string]any

func parseRows(t *testing.T, who, out string) []jsonRow {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var rows []jsonRow
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("%s: cannot parse JSON output: %v\n%s", who, err, out)
	}
	return rows
}

func (r jsonRow) str(k string) string {
	s, _ := r[k].(string)
	return s
}

func (r jsonRow) num(k string) uint64 {
	n, _ := r[k].(json.Number)
	v, _ := strconv.ParseUint(string(n), 10, 64)
	return v
}

// rowFields are the fields 252 prints (spec §11.2; 257 adds partno).
var rowFields = []string{"type", "label", "uuid", "file", "node", "offset", "old_size", "raw_size", "old_padding", "raw_padding", "activity"}

// compareRows compares both JSON outputs and returns our rows. file is
// compared by basename (252 prints it, we print the path); node by the
// partition number after the image or device name.
func compareRows(t *testing.T, out252, node252, outOurs, nodeOurs string) []jsonRow {
	t.Helper()
	r252, rOurs := parseRows(t, "252", out252), parseRows(t, "ours", outOurs)
	if len(r252) != len(rOurs) {
		t.Errorf("JSON: 252 has %d partitions, ours %d", len(r252), len(rOurs))
		return rOurs
	}
	norm := func(k string, v any, node string) string {
		s := fmt.Sprint(v)
		switch k {
		case "file":
			return filepath.Base(s)
		case "node":
			if rest, ok := strings.CutPrefix(s, node); ok {
				return strings.TrimPrefix(rest, "p")
			}
		}
		return s
	}
	for i := range r252 {
		for _, k := range rowFields {
			a, okA := r252[i][k]
			b, okB := rOurs[i][k]
			if !okA || !okB {
				t.Errorf("JSON row %d: field %q present in 252: %v, ours: %v", i, k, okA, okB)
				continue
			}
			if na, nb := norm(k, a, node252), norm(k, b, nodeOurs); na != nb {
				t.Errorf("JSON row %d %s: 252 %q, ours %q", i, k, na, nb)
			}
		}
	}
	return rOurs
}

// diskGUID derives the disk GUID from the seed (spec §4.2-4.3), computed
// here rather than with seedrand so that the check stays independent.
func diskGUID(seed string) string {
	key, err := hex.DecodeString(strings.ReplaceAll(seed, "-", ""))
	if err != nil || len(key) != 16 {
		panic("bad seed " + seed)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("disk-uuid"))
	b := m.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// gptName is the name libfdisk stores for a label: the label, but nothing
// at all if it has a character outside the BMP (see labelPool). JSON shows
// an empty label as "-" (the generator never writes Label=-).
func gptName(label string) string {
	if label == "-" {
		return ""
	}
	for _, r := range label {
		if r > 0xffff {
			return ""
		}
	}
	return label
}

// checkGPT reads image (a file, or a loop device for 4096-byte sectors)
// with sfdisk and checks it against our JSON rows, the seed's disk GUID,
// the geometry of spec §5.1 and the attribute model of spec §7.
func checkGPT(t *testing.T, image string, ss, size uint64, c diffCase, rows []jsonRow) {
	t.Helper()
	tab := oracle.SfdiskDump(t, image)
	if tab.Label != "gpt" {
		t.Errorf("sfdisk %s: label %q, want gpt", image, tab.Label)
		return
	}
	if want := diskGUID(c.seed); !strings.EqualFold(tab.ID, want) {
		t.Errorf("sfdisk: disk GUID %s, want %s", tab.ID, want)
	}
	n, e := size/ss, 16384/ss
	first := (1 << 20) / ss
	if size <= 4<<20 {
		first = 2 + e
	}
	if tab.SectorSize != int(ss) || tab.FirstLBA != first || tab.LastLBA != n-2-e {
		t.Errorf("sfdisk: sector size %d, first/last usable LBA %d/%d; want %d, %d/%d",
			tab.SectorSize, tab.FirstLBA, tab.LastLBA, ss, first, n-2-e)
	}
	if len(tab.Partitions) != len(rows) {
		t.Errorf("sfdisk sees %d partitions, our JSON lists %d", len(tab.Partitions), len(rows))
		return
	}
	for i, row := range rows {
		p := tab.Partitions[i]
		if !strings.HasSuffix(p.Node, strconv.Itoa(i+1)) || row.num("partno") != uint64(i) {
			t.Errorf("partition %d: sfdisk node %s, our partno %v", i, p.Node, row["partno"])
		}
		typ := row.str("type")
		if g, ok := typeGUIDs[typ]; ok {
			typ = g
		}
		label := gptName(row.str("label"))
		def, ok := c.def(filepath.Base(row.str("file")))
		if !ok {
			t.Errorf("partition %d: unknown definition %s", i, row.str("file"))
			continue
		}
		if def.canon != row.str("type") {
			t.Errorf("partition %d: type %s, want %s", i, row.str("type"), def.canon)
		}
		attrs, err := p.AttrBits()
		if err != nil {
			t.Error(err)
		}
		want := def.attrs() & oracle.SfdiskVisibleAttrs
		if p.Start != row.num("offset")/ss || p.Size != row.num("raw_size")/ss ||
			!strings.EqualFold(p.Type, typ) || !strings.EqualFold(p.UUID, row.str("uuid")) ||
			p.Name != label || attrs != want {
			t.Errorf("partition %d: sfdisk start %d size %d type %s uuid %s name %q attrs %#x (%q);\n"+
				"want start %d size %d type %s uuid %s name %q attrs %#x",
				i, p.Start, p.Size, p.Type, p.UUID, p.Name, attrs, p.Attrs,
				row.num("offset")/ss, row.num("raw_size")/ss, typ, row.str("uuid"), label, want)
		}
	}
}
