package oracle

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
)

// e2fsck's normal output; any other line reports a problem.
var e2fsckOK = regexp.MustCompile(`^(e2fsck [0-9.]+ \(.*\)|Pass [1-5]: .*|.*: \d+/\d+ files \(.*\), \d+/\d+ blocks|)$`)

// E2fsckClean fails the test unless `e2fsck -fn` exits 0 and prints
// nothing but its banner, pass names and summary.
func E2fsckClean(t testing.TB, fs string) {
	t.Helper()
	out, errOut, err := Run(t, Require(t, "e2fsck"), "-fn", fs)
	all := out + errOut
	if ExitCode(err) != 0 {
		t.Fatalf("e2fsck -fn: exit %d\n%s", ExitCode(err), all)
	}
	for _, l := range strings.Split(all, "\n") {
		if !e2fsckOK.MatchString(l) {
			t.Fatalf("e2fsck -fn reports a problem: %q\n%s", l, all)
		}
	}
}

// E2fsckStable fails the test unless `e2fsck -fy` on a sparse copy of fs
// exits 0 and changes nothing: no directory re-indexed, no count fixed.
func E2fsckStable(t testing.TB, fs string) {
	t.Helper()
	bin := Require(t, "e2fsck")
	cp := fs + ".fy"
	CopySparse(t, fs, cp)
	defer os.Remove(cp)
	out, errOut, err := Run(t, bin, "-fy", cp)
	all := out + errOut
	if ExitCode(err) != 0 || strings.Contains(all, "MODIFIED") {
		t.Fatalf("e2fsck -fy: exit %d\n%s", ExitCode(err), all)
	}
	for _, l := range strings.Split(all, "\n") {
		if !e2fsckOK.MatchString(l) {
			t.Fatalf("e2fsck -fy reports: %q\n%s", l, all)
		}
	}
}

// CopySparse copies the file from to the new file to, keeping holes.
func CopySparse(t testing.TB, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := dst.Truncate(st.Size()); err != nil {
		t.Fatal(err)
	}
	if err := imagefile.CopyRange(context.Background(), dst, 0, src, 0, st.Size()); err != nil {
		t.Fatal(err)
	}
}

// Debugfs runs one debugfs request on fs and returns its output.
func Debugfs(t testing.TB, fs, req string) string {
	t.Helper()
	out, errOut, err := Run(t, Require(t, "debugfs"), "-R", req, fs)
	if err != nil {
		t.Fatalf("debugfs -R %q: %v\n%s", req, err, errOut)
	}
	return out
}

// Dumpe2fsHeader returns `dumpe2fs -h` as a map of field to value.
func Dumpe2fsHeader(t testing.TB, fs string) map[string]string {
	t.Helper()
	out, errOut, err := Run(t, Require(t, "dumpe2fs"), "-h", fs)
	if err != nil {
		t.Fatalf("dumpe2fs -h: %v\n%s", err, errOut)
	}
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// fsck.fat's normal output; any other line reports a problem (or a
// notice worth failing on).
var fsckFATOK = regexp.MustCompile(`^(fsck\.fat [0-9.]+ \(.*\)|.*: \d+ files?, \d+/\d+ clusters|)$`)

// FsckFATClean fails the test unless `fsck.fat -n` exits 0 and prints
// nothing but its banner and summary.
func FsckFATClean(t testing.TB, img string) {
	t.Helper()
	out, errOut, err := Run(t, Require(t, "fsck.fat"), "-n", img)
	all := out + errOut
	if ExitCode(err) != 0 {
		t.Fatalf("fsck.fat -n %s: exit %d\n%s", img, ExitCode(err), all)
	}
	for _, l := range strings.Split(all, "\n") {
		if !fsckFATOK.MatchString(l) {
			t.Fatalf("fsck.fat -n %s reports: %q\n%s", img, l, all)
		}
	}
}

// FsckFATStable fails the test unless `fsck.fat -a` on a sparse copy of
// img exits 0 and leaves every byte as it was.
func FsckFATStable(t testing.TB, img string) {
	t.Helper()
	bin := Require(t, "fsck.fat")
	cp := img + ".fsck-a"
	CopySparse(t, img, cp)
	defer os.Remove(cp)
	out, errOut, err := Run(t, bin, "-a", cp)
	if ExitCode(err) != 0 {
		t.Fatalf("fsck.fat -a %s: exit %d\n%s%s", img, ExitCode(err), out, errOut)
	}
	if off, differ := FirstDiff(t, img, cp); differ {
		t.Fatalf("fsck.fat -a changed %s at byte %d:\n%s%s", img, off, out, errOut)
	}
}

// FirstDiff compares two files byte by byte and returns the offset of
// the first difference (or of the end of the shorter one).
func FirstDiff(t testing.TB, a, b string) (int64, bool) {
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
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); ; off += int64(len(ba)) {
		na, ea := io.ReadFull(fa, ba)
		nb, _ := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			for i := range min(na, nb) {
				if ba[i] != bb[i] {
					return off + int64(i), true
				}
			}
			return off + int64(min(na, nb)), true
		}
		if ea != nil {
			return 0, false
		}
	}
}
