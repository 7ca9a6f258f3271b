package main

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
	"github.com/hermetic-repart/hermetic-repart/internal/treecmp"
)

// readdirOrder lists a directory in the order the kernel returns it.
func readdirOrder(t *testing.T, dir string) []string {
	t.Helper()
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

// TestExt4Deterministic builds realTree's image once as a baseline and
// again with one thing changed at a time that must not matter; each image
// must equal the baseline byte for byte.
func TestExt4Deterministic(t *testing.T) {
	oracle.RequireRoot(t) // the tree has devices and owners; the shuffled copy lives on a tmpfs
	dir := t.TempDir()
	nodes := realTree(3000)
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o755)
	makeTree(t, src, nodes, nil)
	writeDefs(t, dir, map[string]string{
		"10-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\nSizeMinBytes=256M\n",
		"20-big.conf":  "[Partition]\nType=linux-generic\nFormat=ext4\nCopyFiles=/big:/\nCopyFiles=/links:/links\nMinimize=guess\n",
		"30-best.conf": "[Partition]\nType=linux-generic\nFormat=ext4\nCopyFiles=/files:/\nMinimize=best\n",
	})
	epochEnv := "SOURCE_DATE_EPOCH=" + strconv.Itoa(testEpoch)
	const flags = `--empty=create --size=auto --seed=e2a40bf9-73f1-4278-9160-49c031e7aef8 --definitions=defs --json=off --pretty=no`

	// build runs the CLI through sh with the given umask and environment.
	build := func(t *testing.T, name, umask, source string, env ...string) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", `umask "$1"; exec "$2" `+flags+` --copy-source="$3" "$4"`, "sh", umask, binPath, source, name)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return filepath.Join(dir, name)
	}
	base := build(t, "base.raw", "022", src, epochEnv, "GOMAXPROCS=1", "TMPDIR=/tmp")
	same := func(t *testing.T, img string) {
		t.Helper()
		if err := treecmp.SameData(base, img); err != nil {
			t.Errorf("image differs from the baseline: %v", err)
		}
		os.Remove(img)
	}

	t.Run("umask", func(t *testing.T) {
		same(t, build(t, "umask.raw", "077", src, epochEnv, "GOMAXPROCS=1", "TMPDIR=/tmp"))
	})
	t.Run("GOMAXPROCS and TMPDIR", func(t *testing.T) {
		same(t, build(t, "procs.raw", "022", src, epochEnv, "GOMAXPROCS=8", "TMPDIR="+t.TempDir()))
	})
	t.Run("readdir order", func(t *testing.T) {
		// The same tree, created in another order on a tmpfs, lists its
		// directories in another order (ext4 lists in hash order, tmpfs
		// newest first) and has other inode numbers.
		other := filepath.Join(mountTmpfs(t, "1G"), "src")
		os.Mkdir(other, 0o755)
		makeTree(t, other, nodes, rand.New(rand.NewPCG(7, 7)))
		if slices.Equal(readdirOrder(t, filepath.Join(src, "big")), readdirOrder(t, filepath.Join(other, "big"))) {
			t.Fatal("the shuffled copy lists big/ in the same order: the test would prove nothing")
		}
		reportDiffs(t, "shuffled copy", treecmp.Diff(scanTree(t, src, nil), scanTree(t, other, nil), treecmp.Options{
			Fields: treecmp.All &^ treecmp.Times,
		}))
		same(t, build(t, "shuffled.raw", "022", other, epochEnv, "GOMAXPROCS=1", "TMPDIR=/tmp"))
	})
	t.Run("dry-run=no twice", func(t *testing.T) {
		img := filepath.Join(dir, "force.raw")
		copySparse(t, base, img)
		for range 2 {
			res := runCLI(t, dir, []string{epochEnv}, "--empty=force", "--dry-run=no", seedArg, "--definitions=defs",
				"--copy-source="+src, "--json=off", "--pretty=no", "force.raw")
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			if err := treecmp.SameData(base, img); err != nil {
				t.Errorf("rewritten image differs from the baseline: %v", err)
			}
		}
		os.Remove(img)
	})
	// Last, as it changes the source: times after SOURCE_DATE_EPOCH are
	// clamped, so moving them further into the future changes nothing.
	t.Run("source times after the epoch", func(t *testing.T) {
		moved := 0
		for _, n := range nodes {
			if n.mtime.Sec > testEpoch || n.mtime.Sec == testEpoch && n.mtime.Nsec > 0 {
				ts := unix.Timespec{Sec: n.mtime.Sec + 86400*365, Nsec: 42}
				p := filepath.Join(src, n.path)
				if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					t.Fatal(err)
				}
				moved++
			}
		}
		if moved < 3 {
			t.Fatalf("only %d source times after the epoch", moved)
		}
		same(t, build(t, "later.raw", "022", src, epochEnv, "GOMAXPROCS=1", "TMPDIR=/tmp"))
	})
}
