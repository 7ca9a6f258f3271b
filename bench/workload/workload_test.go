package workload

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// tiny is small enough to write twice in a unit test.
var tiny = Params{Entries: 400, Bytes: 2 << 20, Seed: 7}

func generate(t *testing.T, p Params) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tree")
	if _, err := Generate(dir, p); err != nil {
		if errors.Is(err, ErrNoXattrs) {
			oracle.Unavailable(t, "%v", err)
		}
		t.Fatal(err)
	}
	return dir
}

func digest(t *testing.T, dir string) string {
	t.Helper()
	d, err := Digest(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDeterminism writes the same parameters twice, in different
// directories, and a different seed once.
func TestDeterminism(t *testing.T) {
	a, b := digest(t, generate(t, tiny)), digest(t, generate(t, tiny))
	if a != b {
		t.Fatalf("same parameters, different trees: %s and %s", a, b)
	}
	other := tiny
	other.Seed++
	if c := digest(t, generate(t, other)); c == a {
		t.Fatalf("seeds %d and %d gave the same tree", tiny.Seed, other.Seed)
	}
}

// TestWrittenTree compares what is on disk with the plan's statistics,
// so that the stats the benchmarks report describe the real tree.
func TestWrittenTree(t *testing.T) {
	tr, err := Plan(tiny)
	if err != nil {
		t.Fatal(err)
	}
	dir := generate(t, tiny)
	var got Stats
	seen := map[uint64]bool{}
	var setuid, sticky int
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		got.Entries++
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_ISUID != 0 {
			setuid++
		}
		if st.Mode&unix.S_ISVTX != 0 {
			sticky++
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			got.Dirs++
		case unix.S_IFLNK:
			got.Symlinks++
		case unix.S_IFREG:
			if seen[st.Ino] {
				got.HardLinks++
				return nil
			}
			seen[st.Ino] = true
			got.Files++
			got.ApparentBytes += st.Size
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := tr.Stats
	if got.Entries != tiny.Entries || got.Entries != want.Entries || got.Dirs != want.Dirs ||
		got.Files != want.Files || got.Symlinks != want.Symlinks || got.HardLinks != want.HardLinks ||
		got.ApparentBytes != want.ApparentBytes {
		t.Errorf("on disk %+v, planned %+v", got, want)
	}
	if setuid == 0 || sticky == 0 {
		t.Errorf("%d setuid files, %d sticky directories", setuid, sticky)
	}
	if want.DataBytes != tiny.Bytes {
		t.Errorf("planned %d data bytes, asked for %d", want.DataBytes, tiny.Bytes)
	}
}

// TestPlanShape checks the properties the benchmarks rely on, for the
// sizes they use, without writing anything.
func TestPlanShape(t *testing.T) {
	for _, p := range []Params{
		Default(),
		{Entries: 10000, Bytes: 64 << 20, Seed: 1},
		{Entries: 100000, Bytes: 256 << 20, Seed: 1},
		{Entries: 100, Bytes: 0, Seed: 3},
	} {
		tr, err := Plan(p)
		if err != nil {
			t.Fatal(err)
		}
		s := tr.Stats
		if s.Entries != p.Entries || s.DataBytes != p.Bytes {
			t.Errorf("%+v: %d entries and %d data bytes", p, s.Entries, s.DataBytes)
		}
		if s.Sparse != 3 || s.HardLinks != p.Entries/200 || s.Symlinks == 0 {
			t.Errorf("%+v: %+v", p, s)
		}
		if p.Entries >= 50000 && s.BigDirs < 2 {
			t.Errorf("%+v: %d directories of 10k entries", p, s.BigDirs)
		}
		if p.Bytes >= 1<<30 && s.LargestFile < 16<<20 {
			t.Errorf("%+v: largest file %d bytes", p, s.LargestFile)
		}
		if s.SmallFiles < s.Files/2 {
			t.Errorf("%+v: %d of %d files under 4 KiB", p, s.SmallFiles, s.Files)
		}
		t.Logf("%+v: %+v", p, s)
	}
	if _, err := Plan(Params{Entries: MinEntries - 1}); err == nil {
		t.Error("a tree below MinEntries was planned")
	}
}

func TestNotEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(dir, tiny); err == nil {
		t.Error("Generate wrote into a non-empty directory")
	}
}
