package main

// End-to-end tests of Format=vfat through the binary: images are built
// from --copy-source trees and read back with dosfstools (fsck.fat),
// mtools (minfo, mcopy, mdir) and blkid, since the kernel here has no
// vfat driver.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// fatSDE is the SOURCE_DATE_EPOCH of these tests (2023-11-14 22:13:20
// UTC, an even second); source times above it are clamped to it.
const fatSDE = 1700000000

// fatSeedVolumeID is blkid's spelling of the volume ID of the first ESP
// made with seedArg (repart.md §4.3 and §15.1: fs UUID 3057d4fe-…).
const fatSeedVolumeID = "3057-D4FE"

// fatToolEnv is what the mtools readers run with: as repart runs mcopy
// (times are UTC), and a UTF-8 locale for long names.
var fatToolEnv = []string{"MTOOLS_SKIP_CHECK=1", "TZ=UTC", "LC_ALL=C.UTF-8"}

// fatPart is one row of --json=short.
type fatPart = jsonPart

// fatBuild runs the CLI in dir on the definitions files and source tree
// src, writing dir/img.raw, and returns the result with the JSON rows of
// a successful run.
func fatBuild(t *testing.T, dir string, defs map[string]string, src string, env []string, extra ...string) (result, []fatPart) {
	t.Helper()
	writeDefs(t, dir, defs)
	args := append([]string{"--empty=create", "--size=auto", seedArg, "--definitions=defs",
		"--copy-source=" + src, "--json=short", "--pretty=no"}, extra...)
	res := runCLI(t, dir, env, append(args, "img.raw")...)
	if res.code != 0 {
		return res, nil
	}
	var parts []fatPart
	if err := json.Unmarshal([]byte(res.stdout), &parts); err != nil {
		t.Fatalf("--json=short output %q: %v", res.stdout, err)
	}
	return res, parts
}

// fatMustBuild is fatBuild for runs that must succeed.
func fatMustBuild(t *testing.T, dir string, defs map[string]string, src string, env []string, extra ...string) (result, []fatPart) {
	t.Helper()
	res, parts := fatBuild(t, dir, defs, src, env, extra...)
	if res.code != 0 {
		t.Fatalf("hermetic-repart failed (exit %d):\n%s", res.code, res.stderr)
	}
	return res, parts
}

// fatExtract copies partition p of img to dst, keeping holes, so that
// fsck.fat and mtools see the file system alone.
func fatExtract(t *testing.T, img string, p fatPart, dst string) string {
	t.Helper()
	extractPartTo(t, img, p, dst)
	return dst
}

// fatCheckClean requires fsck.fat -n to find nothing in part and fsck.fat
// -a, run on a copy, to change no byte.
func fatCheckClean(t *testing.T, part string) {
	t.Helper()
	oracle.FsckFATClean(t, part)
	oracle.FsckFATStable(t, part)
}

// fatBlkid is what blkid -p reports about part.
func fatBlkid(t *testing.T, part string) map[string]string {
	t.Helper()
	out, stderr, err := oracle.Run(t, oracle.Require(t, "blkid"), "-p", "-o", "export", part)
	if err != nil {
		t.Fatalf("blkid -p %s: exit %d %s", part, oracle.ExitCode(err), stderr)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			// export format escapes spaces and the like with backslashes
			m[k] = regexp.MustCompile(`\\(.)`).ReplaceAllString(v, "$1")
		}
	}
	return m
}

// fatCheckBlkid requires blkid to see a vfat of the given version, label
// and volume ID (not checked when empty).
func fatCheckBlkid(t *testing.T, part, version, label, uuid string) {
	t.Helper()
	got := fatBlkid(t, part)
	want := map[string]string{"TYPE": "vfat", "VERSION": version, "LABEL": label, "UUID": uuid}
	for k, v := range want {
		if v != "" && got[k] != v {
			t.Errorf("blkid -p %s: %s=%q, want %q (all: %v)", filepath.Base(part), k, got[k], v, got)
		}
	}
}

// fatMinfo returns minfo's sector size and cluster size in bytes.
func fatMinfo(t *testing.T, part string) (sector, cluster int) {
	t.Helper()
	out, stderr, err := oracle.Run(t, "env", append(fatToolEnv, oracle.Require(t, "minfo"), "-i", part)...)
	if err != nil {
		t.Fatalf("minfo %s: exit %d %s", part, oracle.ExitCode(err), stderr)
	}
	var spc int
	for _, l := range strings.Split(out, "\n") {
		fmt.Sscanf(l, "sector size: %d bytes", &sector)
		fmt.Sscanf(l, "cluster size: %d sectors", &spc)
	}
	if sector == 0 || spc == 0 {
		t.Fatalf("minfo %s: no sector or cluster size in\n%s", part, out)
	}
	return sector, sector * spc
}

// fatReadBack copies the whole file system in part into a new directory
// with mcopy -s -m, as a user would, and returns it.
func fatReadBack(t *testing.T, part string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "back")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	args := append(fatToolEnv, oracle.Require(t, "mcopy"), "-s", "-m", "-i", part, "::*", dst+"/")
	if out, stderr, err := oracle.Run(t, "env", args...); err != nil {
		t.Fatalf("mcopy -s -m: exit %d\n%s%s", oracle.ExitCode(err), out, stderr)
	}
	return dst
}

// fatNode is one file of a tree as FAT keeps it.
type fatNode struct {
	dir   bool
	data  string // sha256 of a regular file
	mtime int64
}

// fatScan lists the tree under root by relative path.
func fatScan(t *testing.T, root string) map[string]fatNode {
	t.Helper()
	m := map[string]fatNode{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n := fatNode{dir: d.IsDir(), mtime: st.ModTime().Unix()}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			n.data = hex.EncodeToString(h[:])
		}
		m[rel] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fatCompareTree requires the tree read back from a FAT to be the source
// tree: the same names, kinds and bytes, and mtimes clamped to sde and cut
// to FAT's 2 seconds.
func fatCompareTree(t *testing.T, src, back string, sde int64) {
	t.Helper()
	want, got := fatScan(t, src), fatScan(t, back)
	for _, p := range slices.Sorted(maps.Keys(want)) {
		w := want[p]
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing from the file system", p)
			continue
		}
		if g.dir != w.dir || g.data != w.data {
			t.Errorf("%s: read back as dir=%v sha256=%s, want dir=%v sha256=%s", p, g.dir, g.data, w.dir, w.data)
		}
		wt := min(w.mtime, sde)
		wt -= wt % 2
		if g.mtime != wt {
			t.Errorf("%s: mtime %s, want %s (source %s)", p, time.Unix(g.mtime, 0).UTC(), time.Unix(wt, 0).UTC(), time.Unix(w.mtime, 0).UTC())
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: in the file system but not in the source", p)
		}
	}
}

// fatEntry is one file of a source tree.
type fatEntry struct {
	path  string // slash-separated, relative
	dir   bool
	data  []byte
	perm  os.FileMode
	mtime time.Time
}

// fatESPEntries is the ESP tree of the brief: a boot loader of a few MiB,
// loader entries with long names, nested and empty directories, empty
// files, names that differ only in the case of their extension (in
// different directories) and names whose parts each have one case,
// all-lower-case 8.3 names, non-ASCII names, 1000 files in one directory,
// and files just under and over multiples of 512 and 4096 bytes. Source
// times are both below fatSDE (odd seconds, nanoseconds) and above it.
func fatESPEntries() []fatEntry {
	rng := rand.New(rand.NewChaCha8([32]byte{'v', 'f', 'a', 't'}))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var es []fatEntry
	i := 0
	add := func(path string, dir bool, data []byte) {
		i++
		// alternately well below the epoch (odd second plus a fraction) and above it
		mt := time.Unix(fatSDE-int64(86400*i)-1, int64(i*7919)%1e9)
		if i%3 == 0 {
			mt = time.Unix(fatSDE+int64(1000*i)+1, 0)
		}
		perm := os.FileMode(0o644)
		if dir {
			perm = 0o755
		}
		es = append(es, fatEntry{path: path, dir: dir, data: data, perm: perm, mtime: mt})
	}
	for _, d := range []string{"EFI", "EFI/BOOT", "EFI/Linux", "loader", "loader/entries",
		"a", "a/b", "a/b/c", "a/b/c/d", "a/b/c/d/e", "a/b/c/d/e/f", "a/b/c/d/e/f/g", "a/b/c/d/e/f/g/h",
		"emptydir", "case1", "case2", "sizes", "many", "Ünïcødé dir"} {
		add(d, true, nil)
	}
	add("EFI/BOOT/BOOTX64.EFI", false, blob(3<<20+123))
	add("EFI/Linux/linux-6.8.0-generic-x86_64.efi", false, blob(1<<20+7))
	add("loader/loader.conf", false, []byte("timeout 3\ndefault 2024-*\n"))
	add("loader/random-seed", false, blob(32))
	for _, n := range []string{
		"2024-01-01-long-entry-name-with-many-characters.conf",
		"2024-01-02-long-entry-name-with-many-characters.conf",
		"2024-01-03-long-entry-name-with-many-characters+3-1.conf",
		"entry.conf",
		strings.Repeat("a-really-long-name-", 12) + "end.conf", // 235 characters
	} {
		add("loader/entries/"+n, false, []byte("title "+n+"\nlinux /vmlinuz\n"))
	}
	add("a/b/c/d/e/f/g/h/deep.txt", false, []byte("deep\n"))
	add("empty", false, nil)
	add("a/empty2", false, []byte{})
	add("case1/NAME.TXT", false, []byte("upper\n"))
	add("case2/name.txt", false, []byte("lower\n"))
	add("case2/name.TXT2", false, []byte("other\n"))
	add("lower.TXT", false, []byte("lower base, upper extension\n"))
	add("UPPER.txt", false, []byte("upper base, lower extension\n"))
	add("Mixed.Txt", false, []byte("mixed\n"))
	add("hello.txt", false, []byte("hello\n"))
	add("kernel", false, blob(100))
	add("abcdefgh.efi", false, blob(200))
	add("LONGNA~1.TXT", false, []byte("a literal tail\n"))
	add("longname-one.txt", false, []byte("wants LONGNA~1.TXT too\n"))
	add(".hidden", false, []byte("dot file\n"))
	add("file with spaces [v1];a,b+c=d.txt", false, []byte("odd characters\n"))
	add("a.b.c", false, []byte("dots\n"))
	add("ünïcødé.txt", false, []byte("latin\n"))
	add("日本語ファイル.conf", false, []byte("cjk\n"))
	add("Ünïcødé dir/Ωmega.TXT", false, []byte("greek\n"))
	ro := len(es)
	add("readonly.txt", false, []byte("read only\n"))
	es[ro].perm = 0o444
	for _, n := range []int{1, 511, 512, 513, 4095, 4096, 4097, 8191, 8192, 8193, 65535, 65536, 65537} {
		add(fmt.Sprintf("sizes/size-%05d.bin", n), false, blob(n))
	}
	for k := range 1000 {
		add(fmt.Sprintf("many/entry-with-a-long-name-%04d.conf", k), false, []byte(fmt.Sprintf("file %d\n", k)))
	}
	return es
}

// fatMakeTree creates es under root in the order of perm (indices into
// es; nil: as listed), then sets modes and times, directories last.
// shift moves the times above fatSDE.
func fatMakeTree(t *testing.T, root string, es []fatEntry, perm []int, shift time.Duration) {
	t.Helper()
	if perm == nil {
		perm = make([]int, len(es))
		for i := range perm {
			perm[i] = i
		}
	}
	for _, i := range perm {
		e := es[i]
		p := filepath.Join(root, filepath.FromSlash(e.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if e.dir {
			err = os.MkdirAll(p, 0o755)
		} else {
			err = os.WriteFile(p, e.data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	fatSetTimes(t, root, es, shift)
}

// fatSetTimes sets modes and times of es under root, deepest first so
// that no later change touches a directory's mtime.
func fatSetTimes(t *testing.T, root string, es []fatEntry, shift time.Duration) {
	t.Helper()
	order := slices.Clone(es)
	slices.SortStableFunc(order, func(a, b fatEntry) int {
		return strings.Count(b.path, "/") - strings.Count(a.path, "/")
	})
	for _, e := range order {
		p := filepath.Join(root, filepath.FromSlash(e.path))
		if err := os.Chmod(p, e.perm); err != nil {
			t.Fatal(err)
		}
		mt := e.mtime
		if mt.Unix() > fatSDE {
			mt = mt.Add(shift)
		}
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}

// The ESP tree of the brief, at both sector sizes, read back by
// fsck.fat, mtools and blkid.
func TestVFATESPTree(t *testing.T) {
	for _, sz := range []int{512, 4096} {
		t.Run(fmt.Sprint(sz), func(t *testing.T) {
			t.Parallel()
			src := filepath.Join(t.TempDir(), "src")
			es := fatESPEntries()
			fatMakeTree(t, src, es, nil, 0)
			// FAT32 needs about 33 MiB at 512-byte sectors and 257 MiB at
			// 4096 (filesystems.md B10); repart's mangling maps the labels
			// (repart.md §8.2): non-ASCII to "_", cut to 11, upper case,
			// then forbidden characters to "_".
			size, label, wantLabel := "64M", "my esp.böot", "MY ESP_B_OT"
			if sz == 4096 {
				size, label, wantLabel = "300M", "Ünïcødé:EFI/system+boot", "_N_C_D__EFI"
			}
			dir := t.TempDir()
			defs := map[string]string{"10-esp.conf": fmt.Sprintf("[Partition]\nType=esp\nLabel=%s\nCopyFiles=/:/\nSizeMinBytes=%s\nSizeMaxBytes=%s\n", label, size, size)}
			_, parts := fatMustBuild(t, dir, defs, src, []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", fatSDE)}, fmt.Sprintf("--sector-size=%d", sz))
			if len(parts) != 1 {
				t.Fatalf("%d partitions, want 1", len(parts))
			}
			part := fatExtract(t, filepath.Join(dir, "img.raw"), parts[0], filepath.Join(dir, "esp.img"))

			sector, cluster := fatMinfo(t, part)
			if sector != sz {
				t.Fatalf("minfo reports %d-byte sectors, want %d: mtools does not read this FAT as the image's sector size", sector, sz)
			}
			// the sizes/ files straddle multiples of 512 and 4096 bytes;
			// that tests cluster boundaries only at those cluster sizes
			if cluster != 512 && cluster != 4096 {
				t.Errorf("cluster size %d: sizes/ does not straddle its multiples", cluster)
			}
			fatCheckClean(t, part)
			fatCheckBlkid(t, part, "FAT32", wantLabel, fatSeedVolumeID)
			fatCompareTree(t, src, fatReadBack(t, part), fatSDE)
			fatCheckAttrs(t, part, map[string]string{"readonly.txt": "A R", "hello.txt": "A", "EFI": ""})
		})
	}
}

// fatCheckAttrs requires mattrib to show the given DOS attributes
// (letters, space-separated) of paths in part: Archive on files, and
// ReadOnly on files without write permission, as Linux's vfat sets them.
func fatCheckAttrs(t *testing.T, part string, want map[string]string) {
	t.Helper()
	mattrib := oracle.Require(t, "mattrib")
	for p, w := range want {
		out, stderr, err := oracle.Run(t, "env", append(fatToolEnv, mattrib, "-i", part, "::/"+p)...)
		if err != nil {
			t.Errorf("mattrib ::/%s: exit %d %s", p, oracle.ExitCode(err), stderr)
			continue
		}
		attrs, _, _ := strings.Cut(out, "::/")
		if got := strings.Join(strings.Fields(attrs), " "); got != w {
			t.Errorf("mattrib ::/%s: attributes %q, want %q", p, got, w)
		}
	}
}

// fatLinesWith returns the lines of s holding every one of subs.
func fatLinesWith(s string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		ok := true
		for _, sub := range subs {
			ok = ok && strings.Contains(l, sub)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// fatWriteFiles creates the files (path -> contents) under root.
func fatWriteFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		p = filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A partition too small for a valid FAT32 gets a FAT16 (or, with
// 4096-byte sectors, a FAT12, as mkfs.fat makes for such sizes), and the
// warning says which definition it concerns.
func TestVFATSmallESPFallsBack(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	fatWriteFiles(t, src, map[string]string{"EFI/BOOT/BOOTX64.EFI": strings.Repeat("boot", 100000), "loader/loader.conf": "timeout 0\n"})
	for _, tc := range []struct {
		sector  int
		size    string
		version string
	}{
		{512, "16M", "FAT16"},
		{4096, "16M", "FAT12"},
		{4096, "100M", "FAT16"},
	} {
		t.Run(fmt.Sprintf("%d-%s", tc.sector, tc.size), func(t *testing.T) {
			dir := t.TempDir()
			defs := map[string]string{"10-small-esp.conf": fmt.Sprintf("[Partition]\nType=esp\nCopyFiles=/:/\nSizeMinBytes=%s\nSizeMaxBytes=%s\n", tc.size, tc.size)}
			res, parts := fatMustBuild(t, dir, defs, src, nil, fmt.Sprintf("--sector-size=%d", tc.sector))
			if w := fatLinesWith(res.stderr, "defs/10-small-esp.conf", tc.version); len(w) != 1 {
				t.Errorf("want one warning naming defs/10-small-esp.conf and %s, stderr:\n%s", tc.version, res.stderr)
			}
			part := fatExtract(t, filepath.Join(dir, "img.raw"), parts[0], filepath.Join(dir, "esp.img"))
			if sector, _ := fatMinfo(t, part); sector != tc.sector {
				t.Fatalf("minfo reports %d-byte sectors, want %d", sector, tc.sector)
			}
			fatCheckClean(t, part)
			fatCheckBlkid(t, part, tc.version, "ESP", fatSeedVolumeID)
			fatCompareTree(t, src, fatReadBack(t, part), time.Now().Unix()+3600)
		})
	}
}

// Symbolic links and FIFOs cannot be stored on FAT: each is named in a
// notice and left out, as repart's mcopy leaves them out. Hard links
// become copies.
func TestVFATSkipsSpecialFiles(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	fatWriteFiles(t, src, map[string]string{"boot/x.efi": "x"})
	if err := os.Symlink("x.efi", filepath.Join(src, "boot/link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(src, "boot/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// a hard link is no special file: FAT holds it as a copy
	if err := os.Link(filepath.Join(src, "boot/x.efi"), filepath.Join(src, "boot/hard.efi")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	defs := map[string]string{"10-esp.conf": "[Partition]\nType=esp\nCopyFiles=/:/\nSizeMinBytes=40M\n"}
	res, parts := fatMustBuild(t, dir, defs, src, nil)
	for _, name := range []string{"/boot/link", "/boot/fifo"} {
		if len(fatLinesWith(res.stderr, "defs/10-esp.conf", name)) != 1 {
			t.Errorf("want one notice naming defs/10-esp.conf and %s, stderr:\n%s", name, res.stderr)
		}
	}
	part := fatExtract(t, filepath.Join(dir, "img.raw"), parts[0], filepath.Join(dir, "esp.img"))
	fatCheckClean(t, part)
	back := fatScan(t, fatReadBack(t, part))
	got := slices.Sorted(maps.Keys(back))
	if want := []string{"boot", "boot/hard.efi", "boot/x.efi"}; !slices.Equal(got, want) {
		t.Errorf("the ESP holds %q, want %q", got, want)
	}
	if back["boot/hard.efi"] != back["boot/x.efi"] {
		t.Errorf("the hard link reads back as %+v, its original as %+v", back["boot/hard.efi"], back["boot/x.efi"])
	}
}

// Names FAT cannot hold, or cannot hold apart, are an error naming the
// path, and no image is left behind.
func TestVFATUnstorableNames(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		files []string // created under the source
		want  []string // in the error
	}{
		{[]string{"sub/a:b.txt"}, []string{"/sub/a:b.txt"}},
		{[]string{"what?.txt"}, []string{"/what?.txt"}},
		{[]string{"EFI/trailing."}, []string{"/EFI/trailing."}},
		{[]string{"trailing "}, []string{"/trailing "}},
		{[]string{"star*.efi"}, []string{"/star*.efi"}},
		{[]string{`back\slash`}, []string{`/back\slash`}},
		{[]string{`quo"te`}, []string{`/quo"te`}},
		{[]string{"a<b>c"}, []string{"/a<b>c"}},
		{[]string{"pi|pe"}, []string{"/pi|pe"}},
		{[]string{"sub/Case.txt", "sub/case.TXT"}, []string{"/sub/Case.txt", "/sub/case.TXT"}},
		{[]string{"Ünï/Straße.conf", "Ünï/STRASSE.conf", "Ünï/straße.conf"}, []string{"/Ünï/Straße.conf", "/Ünï/straße.conf"}},
		{[]string{"EFI", "efi/x"}, []string{"/EFI", "/efi"}},
	} {
		src := t.TempDir()
		files := map[string]string{}
		for _, f := range tt.files {
			files[f] = f
		}
		fatWriteFiles(t, src, files)
		dir := t.TempDir()
		defs := map[string]string{"10-esp.conf": "[Partition]\nType=esp\nCopyFiles=/:/\nSizeMinBytes=40M\n"}
		res, _ := fatBuild(t, dir, defs, src, nil)
		if res.code == 0 {
			t.Errorf("%q: exit 0, want an error", tt.files)
		}
		for _, w := range tt.want {
			// a path may be quoted, escapes and all
			if len(fatLinesWith(res.stderr, "defs/10-esp.conf", w))+len(fatLinesWith(res.stderr, "defs/10-esp.conf", strconv.Quote(w))) == 0 {
				t.Errorf("%q: no error naming defs/10-esp.conf and %q, stderr:\n%s", tt.files, w, res.stderr)
			}
		}
		if l := leftovers(t, dir); len(l) > 0 {
			t.Errorf("%q: left %v behind", tt.files, l)
		}
	}
}

// FAT cannot hold a file of 4 GiB or more: the error names it.
func TestVFATFileOver4GiB(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	fatWriteFiles(t, src, map[string]string{"EFI/BOOT/BOOTX64.EFI": "boot"})
	huge := filepath.Join(src, "images", "huge.img")
	if err := os.Mkdir(filepath.Dir(huge), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(huge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 4<<30); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	defs := map[string]string{"10-esp.conf": "[Partition]\nType=esp\nCopyFiles=/:/\nSizeMinBytes=64M\n"}
	res, _ := fatBuild(t, dir, defs, src, nil)
	if res.code == 0 || len(fatLinesWith(res.stderr, "defs/10-esp.conf", "/images/huge.img")) == 0 {
		t.Errorf("exit %d, want an error naming defs/10-esp.conf and /images/huge.img, stderr:\n%s", res.code, res.stderr)
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("left %v behind", l)
	}
}

// fatMinimizeTree is a tree bigger than the smallest FAT32 (about
// 32 MiB of clusters at 512-byte sectors) holds: a 40 MiB sparse file
// with data at both ends, a boot loader and a loader entry.
func fatMinimizeTree(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	rng := rand.New(rand.NewChaCha8([32]byte{'m', 'i', 'n'}))
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	fatWriteFiles(t, src, map[string]string{
		"EFI/BOOT/BOOTX64.EFI":        string(data[:512<<10]),
		"loader/entries/a-entry.conf": "title a\n",
	})
	blob := filepath.Join(src, "images", "blob.bin")
	if err := os.Mkdir(filepath.Dir(blob), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(blob)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, 0); err == nil {
		_, err = f.WriteAt(data, 40<<20-int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// fatCheckESP requires partition p of dir/img.raw to be a clean FAT of
// the given version holding src.
func fatCheckESP(t *testing.T, dir string, p fatPart, version, src string) {
	t.Helper()
	part := fatExtract(t, filepath.Join(dir, "img.raw"), p, filepath.Join(dir, "esp.img"))
	fatCheckClean(t, part)
	fatCheckBlkid(t, part, version, "ESP", fatSeedVolumeID)
	fatCompareTree(t, src, fatReadBack(t, part), time.Now().Unix()+3600)
}

// Minimize=best makes the smallest FAT32 that holds the tree: one grain
// (4096 bytes) less cannot hold it as FAT32. Minimize=guess is at least
// as large. Limits below the need are errors that say the need.
func TestVFATMinimize(t *testing.T) {
	t.Parallel()
	esp := func(extra string) map[string]string {
		return map[string]string{"10-esp.conf": "[Partition]\nType=esp\nCopyFiles=/:/\n" + extra}
	}
	sized := func(n int64) string { return fmt.Sprintf("SizeMinBytes=%d\nSizeMaxBytes=%d\n", n, n) }
	// fails requires a run to fail with an error on the definition that
	// states need in bytes, leaving nothing behind.
	fails := func(t *testing.T, what string, defs map[string]string, src string, need int64) {
		t.Helper()
		dir := t.TempDir()
		res, _ := fatBuild(t, dir, defs, src, nil)
		if res.code == 0 {
			t.Errorf("%s: exit 0, want an error", what)
		}
		if len(fatLinesWith(res.stderr, "defs/10-esp.conf", fmt.Sprintf("(%d bytes)", need))) == 0 {
			t.Errorf("%s: no error naming defs/10-esp.conf and the %d bytes needed, stderr:\n%s", what, need, res.stderr)
		}
		if l := leftovers(t, dir); len(l) > 0 {
			t.Errorf("%s: left %v behind", what, l)
		}
	}

	t.Run("big", func(t *testing.T) {
		src := fatMinimizeTree(t)
		dir := t.TempDir()
		_, parts := fatMustBuild(t, dir, esp("Minimize=best\n"), src, nil)
		best := parts[0].RawSize
		fatCheckESP(t, dir, parts[0], "FAT32", src)
		if best%4096 != 0 || best <= 40<<20 {
			t.Errorf("Minimize=best: %d bytes, want a multiple of 4096 above the 40 MiB of data", best)
		}

		dir = t.TempDir()
		_, parts = fatMustBuild(t, dir, esp("Minimize=guess\n"), src, nil)
		guess := parts[0].RawSize
		fatCheckESP(t, dir, parts[0], "FAT32", src)
		if guess < best {
			t.Errorf("Minimize=guess: %d bytes, less than Minimize=best's %d", guess, best)
		}
		t.Logf("best %d, guess %d", best, guess)

		// This tree needs more than the smallest FAT32 geometry, so one
		// grain less is a FAT32 it does not fit in: an error stating the
		// need, not a fallback.
		fails(t, "best−4096 without Minimize=", esp(sized(best-4096)), src, best)
		fails(t, "Minimize=best with SizeMaxBytes=best−4096", esp(fmt.Sprintf("Minimize=best\nSizeMaxBytes=%d\n", best-4096)), src, best)
		fails(t, "Minimize=guess with SizeMaxBytes=guess−4096", esp(fmt.Sprintf("Minimize=guess\nSizeMaxBytes=%d\n", guess-4096)), src, guess)
	})

	for _, ss := range []int{512, 1024, 2048, 4096} {
		t.Run(fmt.Sprint("small-", ss), func(t *testing.T) {
			sector := fmt.Sprintf("--sector-size=%d", ss)
			src := t.TempDir()
			fatWriteFiles(t, src, map[string]string{"EFI/BOOT/BOOTX64.EFI": strings.Repeat("x", 300000), "loader/loader.conf": "timeout 0\n"})
			dir := t.TempDir()
			_, parts := fatMustBuild(t, dir, esp("Minimize=best\n"), src, nil, sector)
			best := parts[0].RawSize
			fatCheckESP(t, dir, parts[0], "FAT32", src)

			// mkfs.fat agrees that best is the smallest FAT32 on the
			// grain: it warns of too few clusters one grain below, not
			// at best.
			mkfs := oracle.Require(t, "mkfs.fat")
			for _, sz := range []int64{best, best - 4096} {
				f := filepath.Join(t.TempDir(), "mkfs.img")
				out, stderr, err := oracle.Run(t, mkfs, "-F", "32", "-S", fmt.Sprint(ss), "-C", f, fmt.Sprint(sz/1024))
				if err != nil {
					t.Fatalf("mkfs.fat: %v %s", err, stderr)
				}
				if warned := strings.Contains(out+stderr, "less then suggested minimum"); warned != (sz < best) {
					t.Errorf("mkfs.fat -F 32 -S %d of %d bytes: warned of too few clusters: %v\n%s%s", ss, sz, warned, out, stderr)
				}
			}

			// The tree is far smaller than the smallest FAT32, so one
			// grain less gives a FAT16, with a warning.
			dir = t.TempDir()
			res, parts := fatMustBuild(t, dir, esp(sized(best-4096)), src, nil, sector)
			if len(fatLinesWith(res.stderr, "defs/10-esp.conf", "FAT16")) != 1 {
				t.Errorf("best−4096: want a warning naming defs/10-esp.conf and FAT16, stderr:\n%s", res.stderr)
			}
			fatCheckESP(t, dir, parts[0], "FAT16", src)

			dir = t.TempDir()
			_, parts = fatMustBuild(t, dir, esp("Minimize=guess\n"), src, nil, sector)
			if parts[0].RawSize < best {
				t.Errorf("Minimize=guess: %d bytes, less than Minimize=best's %d", parts[0].RawSize, best)
			}
			fatCheckESP(t, dir, parts[0], "FAT32", src)
		})
	}
}

// fatImageHash is the SHA-256 of a whole file.
func fatImageHash(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fatTmpfsDir is a new directory on /dev/shm, or failing that t.TempDir.
func fatTmpfsDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "vfat-e2e")
	if err != nil {
		t.Logf("no tmpfs: %v", err)
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// The image is the same bytes whatever the umask, the order the source
// directories list their entries in, GOMAXPROCS and TMPDIR, and whatever
// the source times above SOURCE_DATE_EPOCH.
func TestVFATDeterministic(t *testing.T) {
	t.Parallel()
	es := fatESPEntries()
	srcA := filepath.Join(t.TempDir(), "a")
	fatMakeTree(t, srcA, es, nil, 0)
	// the same tree elsewhere, created in another order, with other
	// times above the epoch; on a tmpfs if there is one, since tmpfs
	// lists entries in creation order where ext4 lists them by hash
	srcB := filepath.Join(fatTmpfsDir(t), "b")
	fatMakeTree(t, srcB, es, rand.New(rand.NewPCG(1, 2)).Perm(len(es)), 12345*time.Second)

	rawOrder := func(dir string) []string {
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		names, err := f.Readdirnames(-1)
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if slices.Equal(rawOrder(filepath.Join(srcA, "many")), rawOrder(filepath.Join(srcB, "many"))) {
		t.Logf("note: both copies of many/ list in the same order; readdir order is not varied")
	}

	defs := map[string]string{"10-esp.conf": "[Partition]\nType=esp\nCopyFiles=/:/\nSizeMinBytes=64M\nSizeMaxBytes=64M\n"}
	tmp1, tmp2 := t.TempDir(), t.TempDir()
	base := []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", fatSDE), "GOMAXPROCS=8", "TMPDIR=" + tmp1}
	variants := []struct {
		name  string
		src   string
		env   []string
		umask string
	}{
		{"base", srcA, base, "022"},
		{"umask 077", srcA, base, "077"},
		{"shuffled source", srcB, base, "022"},
		{"GOMAXPROCS=1", srcA, append(slices.Clone(base), "GOMAXPROCS=1"), "022"},
		{"other TMPDIR", srcA, append(slices.Clone(base), "TMPDIR="+tmp2), "022"},
	}
	var want string
	for _, v := range variants {
		dir := t.TempDir()
		writeDefs(t, dir, defs)
		args := []string{"-c", `umask "$0"; exec "$@"`, v.umask, binPath, "--empty=create", "--size=auto", seedArg,
			"--definitions=defs", "--copy-source=" + v.src, "--json=short", "--pretty=no", "img.raw"}
		cmd := exec.Command("sh", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), v.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", v.name, err, out)
		}
		got := fatImageHash(t, filepath.Join(dir, "img.raw"))
		if want == "" {
			want = got
			// the base image must be one worth comparing
			st, err := os.Stat(filepath.Join(dir, "img.raw"))
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() < 64<<20 {
				t.Fatalf("base image is only %d bytes", st.Size())
			}
		} else if got != want {
			t.Errorf("%s: image sha256 %s, want %s as in the base run", v.name, got, want)
		}
	}
}

// An ESP, alone or with an XBOOTLDR, next to a root: the ESP holds /efi
// of the source, the XBOOTLDR /boot, and the root, copied from the whole
// source, leaves out the contents of their mount points (the ESP's are
// /efi and /boot, so /boot is left out even without an XBOOTLDR).
func TestVFATWithExt4Root(t *testing.T) {
	t.Parallel()
	e2fsck, debugfs := oracle.Require(t, "e2fsck"), oracle.Require(t, "debugfs")
	src := t.TempDir()
	fatWriteFiles(t, src, map[string]string{
		"efi/EFI/BOOT/BOOTX64.EFI":                 strings.Repeat("MZ", 200000),
		"efi/EFI/systemd/systemd-bootx64.efi":      strings.Repeat("sd", 70000),
		"efi/loader/loader.conf":                   "timeout 3\n",
		"efi/loader/entries/2024-01-01-linux.conf": "title Linux\nlinux /vmlinuz\n",
		"boot/vmlinuz-6.8.0":                       strings.Repeat("k", 5000),
		"boot/grub/grub.cfg":                       "set timeout=0\n",
		"usr/lib/os-release":                       "ID=test\n",
		"usr/bin/hello":                            "#!/bin/sh\necho hello\n",
		"etc/hostname":                             "host\n",
	})
	espDef := "[Partition]\nType=esp\nCopyFiles=/efi:/\nSizeMinBytes=64M\nSizeMaxBytes=64M\n"
	xblDef := "[Partition]\nType=xbootldr\nCopyFiles=/boot:/\nSizeMinBytes=64M\nSizeMaxBytes=64M\n"
	rootDef := "[Partition]\nType=root-x86-64\nFormat=ext4\nCopyFiles=/:/\nSizeMinBytes=64M\nSizeMaxBytes=64M\n"
	for _, tc := range []struct {
		name string
		defs map[string]string
	}{
		{"esp", map[string]string{"10-esp.conf": espDef, "20-root.conf": rootDef}},
		{"esp+xbootldr", map[string]string{"10-esp.conf": espDef, "15-xbootldr.conf": xblDef, "20-root.conf": rootDef}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, parts := fatMustBuild(t, dir, tc.defs, src, []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", fatSDE)})
			if len(parts) != len(tc.defs) || parts[0].Type != "esp" || parts[len(parts)-1].Type != "root-x86-64" {
				t.Fatalf("partitions %+v, want an esp first and a root-x86-64 last", parts)
			}
			img := filepath.Join(dir, "img.raw")

			esp := fatExtract(t, img, parts[0], filepath.Join(dir, "esp.img"))
			fatCheckClean(t, esp)
			fatCheckBlkid(t, esp, "FAT32", "ESP", fatSeedVolumeID)
			fatCompareTree(t, filepath.Join(src, "efi"), fatReadBack(t, esp), fatSDE)

			if len(parts) == 3 {
				// CopyFiles= on Type=xbootldr implies Format=vfat too
				xbl := fatExtract(t, img, parts[1], filepath.Join(dir, "xbootldr.img"))
				fatCheckClean(t, xbl)
				fatCheckBlkid(t, xbl, "FAT32", "XBOOTLDR", "")
				fatCompareTree(t, filepath.Join(src, "boot"), fatReadBack(t, xbl), fatSDE)
			}

			root := fatExtract(t, img, parts[len(parts)-1], filepath.Join(dir, "root.img"))
			if out, stderr, err := oracle.Run(t, e2fsck, "-fn", root); err != nil {
				t.Errorf("e2fsck -fn root: exit %d\n%s%s", oracle.ExitCode(err), out, stderr)
			}
			for _, p := range []string{"usr/lib/os-release", "usr/bin/hello", "etc/hostname"} {
				want, err := os.ReadFile(filepath.Join(src, p))
				if err != nil {
					t.Fatal(err)
				}
				if got, stderr, err := oracle.Run(t, debugfs, "-R", "cat /"+p, root); err != nil || got != string(want) {
					t.Errorf("root:/%s reads %q (%v %s), want %q", p, got, err, stderr, want)
				}
			}
			// the mount points stay, empty (repart excludes their contents)
			for _, mp := range []string{"/efi", "/boot"} {
				out, stderr, err := oracle.Run(t, debugfs, "-R", "ls -p "+mp, root)
				if err != nil || strings.Contains(stderr, "not found") {
					t.Errorf("root:%s: %v %s", mp, err, stderr)
					continue
				}
				var names []string
				for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
					// /inode/mode/uid/gid/name/size/
					if f := strings.Split(l, "/"); len(f) >= 7 && f[5] != "." && f[5] != ".." {
						names = append(names, f[5])
					}
				}
				if len(names) > 0 {
					t.Errorf("root:%s holds %q, which belongs to another partition", mp, names)
				}
			}
		})
	}
}

// fatNeedClaim matches the size an error says the content needs.
var fatNeedClaim = regexp.MustCompile(`needs a file system of at least [^(]*\((\d+) bytes\)`)

// When a partition is too small for its content, the need the error
// states must be true: a partition of that size holds the content, one
// grain smaller does not. Below the smallest FAT32 the writer falls back
// to FAT16, so the need may be far below the smallest FAT32.
func TestVFATNeedMessageWithFAT16Fallback(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	fatWriteFiles(t, src, map[string]string{"EFI/BOOT/BOOTX64.EFI": "boot"})
	if err := os.Truncate(filepath.Join(src, "EFI/BOOT/BOOTX64.EFI"), 20<<20); err != nil {
		t.Fatal(err)
	}
	defs := func(size int64) map[string]string {
		return map[string]string{"10-esp.conf": fmt.Sprintf("[Partition]\nType=esp\nCopyFiles=/:/\nSizeMinBytes=%d\nSizeMaxBytes=%d\n", size, size)}
	}
	// need is the size the error of a run at size states.
	need := func(size int64) int64 {
		t.Helper()
		dir := t.TempDir()
		res, _ := fatBuild(t, dir, defs(size), src, nil)
		if res.code == 0 {
			t.Fatalf("20 MiB of content in a %d-byte ESP: exit 0, want an error", size)
		}
		m := fatNeedClaim.FindStringSubmatch(res.stderr)
		if m == nil || len(fatLinesWith(res.stderr, "defs/10-esp.conf", m[0])) == 0 {
			t.Fatalf("%d bytes: no error naming defs/10-esp.conf and what the content needs:\n%s", size, res.stderr)
		}
		if l := leftovers(t, dir); len(l) > 0 {
			t.Errorf("%d bytes: left %v behind", size, l)
		}
		var n int64
		fmt.Sscan(m[1], &n)
		return n
	}
	n := need(16 << 20)
	dir := t.TempDir()
	res, parts := fatMustBuild(t, dir, defs(n), src, nil)
	if parts[0].RawSize != n || len(fatLinesWith(res.stderr, "FAT16")) == 0 {
		t.Errorf("at the stated need: a partition of %d bytes, stderr %q; want %d bytes and a FAT16 warning", parts[0].RawSize, res.stderr, n)
	}
	fatCheckESP(t, dir, parts[0], "FAT16", src)
	if m := need(n - 4096); m != n {
		t.Errorf("one grain below the need of %d bytes, the error states %d", n, m)
	}
}

// A directory may hold 65536 entries (Linux's FAT_MAX_DIR_ENTRIES): a
// directory of names taking 3 entries each (a long name of 2, the short
// entry) fits just below the limit and is an error naming it one file
// over.
func TestVFATDirectoryLimit(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	big := filepath.Join(src, "big")
	if err := os.Mkdir(big, 0o755); err != nil {
		t.Fatal(err)
	}
	const n = (65536 - 2) / 3 // entries besides "." and ".."
	want := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("file-number-%05d.txt", i) // 21 characters: 2 long-name entries
		want[i] = "::/big/" + name
		if err := os.WriteFile(filepath.Join(big, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	defs := map[string]string{"10-esp.conf": "[Partition]\nType=esp\nCopyFiles=/:/\nSizeMinBytes=64M\n"}
	dir := t.TempDir()
	_, parts := fatMustBuild(t, dir, defs, src, nil)
	part := fatExtract(t, filepath.Join(dir, "img.raw"), parts[0], filepath.Join(dir, "esp.img"))
	fatCheckClean(t, part)
	out, stderr, err := oracle.Run(t, "env", append(fatToolEnv, oracle.Require(t, "mdir"), "-b", "-i", part, "::/big")...)
	if err != nil {
		t.Fatalf("mdir -b: exit %d %s", oracle.ExitCode(err), stderr)
	}
	got := strings.Fields(out)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("mdir lists %d names in /big (first %q), want the %d written", len(got), got[:min(3, len(got))], n)
	}

	if err := os.WriteFile(filepath.Join(big, "one-file-too-many.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	res, _ := fatBuild(t, dir, defs, src, nil)
	if res.code == 0 || len(fatLinesWith(res.stderr, "defs/10-esp.conf", "/big")) == 0 {
		t.Errorf("one file over the limit: exit %d, want an error naming defs/10-esp.conf and /big, stderr:\n%s", res.code, res.stderr)
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("left %v behind", l)
	}
}
