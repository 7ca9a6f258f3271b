package treecmp

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// makeTree writes a small tree with every kind of difference Diff finds.
func makeTree(t *testing.T, root string) {
	must(t, os.MkdirAll(filepath.Join(root, "d/sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "d/f"), []byte("hello"), 0o644))
	must(t, os.Link(filepath.Join(root, "d/f"), filepath.Join(root, "d/g")))
	must(t, os.WriteFile(filepath.Join(root, "other"), []byte("other"), 0o600))
	must(t, os.Symlink("d/f", filepath.Join(root, "l")))
	f, err := os.Create(filepath.Join(root, "sparse"))
	must(t, err)
	must(t, f.Truncate(1<<20))
	_, err = f.WriteAt([]byte("tail"), 1<<20-4)
	must(t, err)
	f.Close()
	ts := []unix.Timespec{{Sec: 1000, Nsec: 5}, {Sec: 1000, Nsec: 5}}
	for _, p := range []string{"l", "d/f", "other", "sparse", "d/sub", "d", "."} {
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, p), ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

func scan(t *testing.T, root string) *Tree {
	t.Helper()
	tr, err := Scan(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestDiff(t *testing.T) {
	fields := Type | Perm | Mtime | Data | Holes | Target | Links | Xattrs
	tests := []struct {
		name   string
		change func(root string) error
		want   string // a substring of one difference; "" for none
	}{
		{"equal", func(string) error { return nil }, ""},
		{"data", func(r string) error { return os.WriteFile(filepath.Join(r, "other"), []byte("Other"), 0o600) }, `"other": data differs at byte 0`},
		{"size", func(r string) error { return os.WriteFile(filepath.Join(r, "other"), []byte("other!"), 0o600) }, `"other": size 6, want 5`},
		{"mode", func(r string) error { return unix.Chmod(filepath.Join(r, "other"), 0o4600) }, `"other": mode 04600, want 0600`},
		{"mtime", func(r string) error {
			return unix.UtimesNano(filepath.Join(r, "other"), []unix.Timespec{{Sec: 1000, Nsec: 6}, {Sec: 1000, Nsec: 6}})
		}, `"other": mtime 1000.000000006, want 1000.000000005`},
		{"target", func(r string) error {
			os.Remove(filepath.Join(r, "l"))
			return os.Symlink("d/g", filepath.Join(r, "l"))
		}, `"l": symlink target "d/g", want "d/f"`},
		{"missing", func(r string) error { return os.Remove(filepath.Join(r, "other")) }, `"other": missing`},
		{"extra", func(r string) error { return os.Mkdir(filepath.Join(r, "new"), 0o755) }, `"new": unexpected directory`},
		{"type", func(r string) error {
			os.Remove(filepath.Join(r, "other"))
			return os.Mkdir(filepath.Join(r, "other"), 0o600)
		}, `"other": type directory, want file`},
		{"link broken", func(r string) error {
			os.Remove(filepath.Join(r, "d/g"))
			return os.WriteFile(filepath.Join(r, "d/g"), []byte("hello"), 0o644)
		}, `"d/f": hard links ["d/f"], want ["d/f" "d/g"]`},
		{"link added", func(r string) error {
			os.Remove(filepath.Join(r, "other"))
			return os.Link(filepath.Join(r, "d/f"), filepath.Join(r, "other"))
		}, `hard links ["d/f" "d/g" "other"]`},
		{"hole filled", func(r string) error {
			f, err := os.OpenFile(filepath.Join(r, "sparse"), os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt(make([]byte, 4096), 0)
			return err
		}, `"sparse": data at [0, 4096) where the source has a hole`},
		{"xattr", func(r string) error { return unix.Setxattr(filepath.Join(r, "other"), "user.x", []byte("1"), 0) }, `"other": xattrs {user.x="1"}, want {}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			makeTree(t, a)
			makeTree(t, b)
			must(t, tt.change(b))
			// restore the times the change touched, except where the time is the point
			if tt.name != "mtime" {
				for _, p := range []string{"l", "d", ".", "other", "d/f"} {
					unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(b, p), []unix.Timespec{{Sec: 1000, Nsec: 5}, {Sec: 1000, Nsec: 5}}, unix.AT_SYMLINK_NOFOLLOW)
				}
			}
			diffs := Diff(scan(t, a), scan(t, b), Options{Fields: fields})
			got := strings.Join(diffs, "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("differences:\n%s\nwant one containing %q", got, tt.want)
			}
		})
	}
}

func TestExpectAndTimes(t *testing.T) {
	a := t.TempDir()
	makeTree(t, a)
	tr := scan(t, a)
	// the trees are the same, but Expect says all files are owned by 7
	diffs := Diff(tr, tr, Options{Fields: Owner, Expect: func(e Entry) Entry { e.UID = 7; return e }})
	if len(diffs) != len(tr.Entries) {
		t.Errorf("Expect not applied: %q", diffs)
	}
	// a file just written has ctime != the mtime we set
	diffs = Diff(tr, tr, Options{Fields: Times, Ignore: func(p string) bool { return p != "other" }})
	if len(diffs) != 1 || !strings.Contains(diffs[0], "times differ") {
		t.Errorf("Times: %q", diffs)
	}
	if c := Clamp(unix.Timespec{Sec: 10, Nsec: 1}, 10); c != (unix.Timespec{Sec: 10}) {
		t.Errorf("Clamp %v", c)
	}
	if c := Clamp(unix.Timespec{Sec: 9, Nsec: 1}, 10); c != (unix.Timespec{Sec: 9, Nsec: 1}) {
		t.Errorf("Clamp %v", c)
	}
}

func TestLinkCounts(t *testing.T) {
	a := t.TempDir()
	makeTree(t, a)
	tr := scan(t, a)
	// leaving d/g out of the tree makes d/f's link count wrong
	tr2, err := Scan(a, func(p string) bool { return p == "d/g" })
	must(t, err)
	if d := Diff(tr, tr, Options{Fields: Links}); len(d) != 0 {
		t.Errorf("%q", d)
	}
	d := Diff(tr2, tr2, Options{Fields: Links})
	if len(d) != 1 || !strings.Contains(d[0], `"d/f": link count 2, but 1 names`) {
		t.Errorf("%q", d)
	}
}

func TestSameData(t *testing.T) {
	a := t.TempDir()
	makeTree(t, a)
	if err := SameData(filepath.Join(a, "sparse"), filepath.Join(a, "sparse")); err != nil {
		t.Error(err)
	}
	if err := SameData(filepath.Join(a, "d/f"), filepath.Join(a, "other")); err == nil || !strings.Contains(err.Error(), "differs at byte 0") {
		t.Errorf("different files: %v", err)
	}
	if err := SameData(filepath.Join(a, "d/f"), filepath.Join(a, "sparse")); err == nil || !strings.Contains(err.Error(), "has 1048576 bytes") {
		t.Errorf("different sizes: %v", err)
	}
}

// Entries deeper than PATH_MAX are scanned and compared, and the root's
// own xattrs are read.
func TestLongPaths(t *testing.T) {
	root := t.TempDir()
	must(t, unix.Setxattr(root, "user.root", []byte("r"), 0))
	rel := ""
	for i := range 20 {
		rel += fmt.Sprintf("%03d-%s/", i, strings.Repeat("x", 250))
		dfd, name, err := OpenParent(root, strings.TrimSuffix(rel, "/"))
		must(t, err)
		must(t, unix.Mkdirat(dfd, name, 0o755))
		unix.Close(dfd)
	}
	dfd, _, err := OpenParent(root, rel+"f")
	must(t, err)
	fd, err := unix.Openat(dfd, "f", unix.O_CREAT|unix.O_WRONLY, 0o644)
	must(t, err)
	unix.Write(fd, []byte("deep"))
	unix.Close(fd)
	unix.Close(dfd)
	tr := scan(t, root)
	if len(root)+len(rel) < unix.PathMax || len(tr.Entries) != 22 || tr.Entries["."].Xattrs["user.root"] != "r" {
		t.Fatalf("%d entries, root xattrs %v", len(tr.Entries), tr.Entries["."].Xattrs)
	}
	if d := Diff(tr, tr, Options{Fields: All &^ Times}); len(d) != 0 {
		t.Errorf("%q", d)
	}
}
