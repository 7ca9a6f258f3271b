package fstree

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/definition"
)

// Helpers that make source trees with exact metadata: every file and
// directory gets an explicit mode and mtime, so that nothing depends on
// the umask or the clock.

// baseTime is the mtime test sources get unless a test sets another one.
var baseTime = time.Unix(1_600_000_000, 123_456_789)

func mkdir(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	chmod(t, path, mode)
	stamp(t, path, baseTime)
}

func writeFile(t *testing.T, path string, mode os.FileMode, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	chmod(t, path, mode)
	stamp(t, path, baseTime)
}

// chmod sets all 12 permission bits (os.Chmod's FileMode needs the
// setuid/setgid/sticky flags spelled separately).
func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := unix.Chmod(path, uint32(mode)); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	lstamp(t, path, baseTime)
}

func hardlink(t *testing.T, old, new string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(new), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(old, new); err != nil {
		t.Fatal(err)
	}
}

func stamp(t *testing.T, path string, tm time.Time) {
	t.Helper()
	if err := os.Chtimes(path, tm, tm); err != nil {
		t.Fatal(err)
	}
}

func lstamp(t *testing.T, path string, tm time.Time) {
	t.Helper()
	ts := unix.NsecToTimespec(tm.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
}

// restamp gives every directory under root baseTime again (adding entries
// changed their mtimes).
func restamp(t *testing.T, root string) {
	t.Helper()
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			stamp(t, p, baseTime)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func cf(pairs ...string) []definition.CopyFile {
	var out []definition.CopyFile
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, definition.CopyFile{Source: pairs[i], Target: pairs[i+1]})
	}
	return out
}

func build(t *testing.T, root string, spec Spec, opts Options) *Tree {
	t.Helper()
	opts.SourceRoot = root
	tree, err := Build(context.Background(), spec, opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return tree
}

func buildErr(t *testing.T, root string, spec Spec, opts Options) error {
	t.Helper()
	opts.SourceRoot = root
	_, err := Build(context.Background(), spec, opts)
	if err == nil {
		t.Fatal("Build succeeded, want an error")
	}
	return err
}

// paths lists every path of the tree in walk order.
func paths(tr *Tree) []string {
	var out []string
	tr.Walk(func(p string, _ *Inode) error {
		out = append(out, p)
		return nil
	})
	return out
}

func dump(t *testing.T, tr *Tree) string {
	t.Helper()
	var b strings.Builder
	if err := tr.Dump(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func must(t *testing.T, tr *Tree, path string) *Inode {
	t.Helper()
	ino := tr.Lookup(path)
	if ino == nil {
		t.Fatalf("%s missing; tree:\n%s", path, dump(t, tr))
	}
	return ino
}

func mustNot(t *testing.T, tr *Tree, path string) {
	t.Helper()
	if tr.Lookup(path) != nil {
		t.Fatalf("%s present; tree:\n%s", path, dump(t, tr))
	}
}

func i64(v int64) *int64 { return &v }

// xattrsSupported probes whether user.* xattrs work in dir.
func xattrsSupported(t *testing.T, dir string) bool {
	t.Helper()
	p := filepath.Join(dir, ".xattr-probe")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	err := unix.Setxattr(p, "user.probe", []byte("1"), 0)
	return !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EOPNOTSUPP) && err == nil
}

func setxattr(t *testing.T, path, name, value string) {
	t.Helper()
	if err := unix.Setxattr(path, name, []byte(value), 0); err != nil {
		t.Fatal(err)
	}
}
