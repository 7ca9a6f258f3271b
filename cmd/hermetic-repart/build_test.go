package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/golden"
	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

var vectorA = map[string]string{
	"00-esp.conf":   "[Partition]\nType=esp\nSizeMinBytes=64M\nSizeMaxBytes=64M\n",
	"10-root.conf":  "[Partition]\nType=root-x86-64\nSizeMinBytes=100M\nSizeMaxBytes=100M\n",
	"20-home.conf":  "[Partition]\nType=home\nSizeMinBytes=20M\n",
	"30-home2.conf": "[Partition]\nType=home\n",
	"40-swap.conf":  "[Partition]\nType=swap\nSizeMinBytes=8M\nSizeMaxBytes=8M\n",
}

// The human table and the pretty JSON keep repart's layout.
func TestOutputFormats(t *testing.T) {
	dir := t.TempDir()
	writeDefs(t, dir, vectorA)
	env := []string{"LANG=C.UTF-8", "LC_ALL=", "LC_CTYPE=", "SYSTEMD_UTF8=", "COLUMNS="}
	res := runCLI(t, dir, env, "--definitions=defs", seedArg, "--empty=create", "--size=auto", "img.raw")
	if res.code != 0 {
		t.Fatal(res.stderr)
	}
	golden.Check(t, "table.golden", res.stdout)
	golden.Check(t, "stderr.golden", res.stderr)

	res = runCLI(t, dir, env, "--definitions=defs", seedArg, "--empty=force", "--json=pretty", "img.raw")
	if res.code != 0 {
		t.Fatal(res.stderr)
	}
	golden.Check(t, "json-pretty.golden", strings.ReplaceAll(res.stdout, dir, "DIR"))

	res = runCLI(t, dir, []string{"LANG=C", "LC_ALL=", "LC_CTYPE=", "SYSTEMD_UTF8=", "COLUMNS=60"}, "--definitions=defs", seedArg, "--empty=force", "--no-legend", "img.raw")
	if res.code != 0 {
		t.Fatal(res.stderr)
	}
	golden.Check(t, "table-ascii.golden", res.stdout)

	res = runCLI(t, dir, nil, "--definitions=defs", seedArg, "--empty=force", "--pretty=no", "img.raw")
	if res.code != 0 || res.stdout != "" {
		t.Errorf("--pretty=no printed %q", res.stdout)
	}
}

func sha(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// The same inputs give the same bytes whatever the umask, temporary
// directory, CPU count or working directory.
func TestReproducible(t *testing.T) {
	var sums [][32]byte
	for i, env := range [][]string{
		{"GOMAXPROCS=1", "TMPDIR=/tmp"},
		{"GOMAXPROCS=8", "TMPDIR=" + t.TempDir()},
	} {
		dir := t.TempDir()
		writeDefs(t, dir, vectorA)
		writeDefs(t, dir, map[string]string{"30-home2.conf": "[Partition]\nType=home\nSplitName=%t-%n\n"})
		cmd := exec.Command("sh", "-c", `umask "$1"; exec "$2" --definitions=defs --seed=e2a40bf9-73f1-4278-9160-49c031e7aef8 --empty=create --size=auto --split=yes img.raw`,
			"sh", []string{"022", "077"}[i], binPath)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		sums = append(sums, sha(t, filepath.Join(dir, "img.raw")), sha(t, filepath.Join(dir, "img.swap.raw")))
		st, _ := os.Stat(filepath.Join(dir, "img.raw"))
		if want := []os.FileMode{0o644, 0o600}[i]; st.Mode().Perm() != want {
			t.Errorf("umask %d: mode %v, want %v", i, st.Mode().Perm(), want)
		}
	}
	if sums[0] != sums[2] || sums[1] != sums[3] {
		t.Error("output differs between runs")
	}
}

// Dry runs (the default without --empty=create) write nothing.
func TestDryRun(t *testing.T) {
	dir := t.TempDir()
	writeDefs(t, dir, vectorA)
	img := filepath.Join(dir, "img.raw")
	os.WriteFile(img, nil, 0o644)
	os.Truncate(img, 300<<20)
	res := runCLI(t, dir, nil, "--definitions=defs", seedArg, "--empty=force", "--json=short", "img.raw")
	if res.code != 0 {
		t.Fatal(res.stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil || len(rows) != 5 {
		t.Fatalf("rows %v, %v", rows, err)
	}
	if rows[0]["node"] != img+"1" {
		t.Errorf("node %v: an existing image is named by its absolute path", rows[0]["node"])
	}
	b, _ := os.ReadFile(img)
	if !bytes.Equal(b, make([]byte, 300<<20)) {
		t.Error("dry run modified the image")
	}
	if l := leftovers(t, dir); len(l) != 1 {
		t.Errorf("leftovers %v", l)
	}
}

// CopyBlocks= data lands at the partition offset, holes stay holes, the
// split file holds the same bytes, --defer-partitions leaves a partition
// out of the table and --discard=no allocates the image.
func TestCopyBlocksSplitDefer(t *testing.T) {
	dir := t.TempDir()
	blob := filepath.Join(dir, "blob.img")
	f, _ := os.Create(blob)
	f.WriteAt(bytes.Repeat([]byte{0xa5}, 4096), 0)
	f.WriteAt(bytes.Repeat([]byte{0x5a}, 4096), 3<<20)
	f.Truncate(4 << 20)
	f.Close()
	writeDefs(t, dir, map[string]string{
		"10-blob.conf": "[Partition]\nType=linux-generic\nCopyBlocks=" + blob + "\n",
		"20-home.conf": "[Partition]\nType=home\nSizeMinBytes=1M\n",
		"30-var.conf":  "[Partition]\nType=var\nSizeMinBytes=1M\n",
	})
	res := runCLI(t, dir, nil, "--definitions=defs", seedArg, "--empty=create", "--size=auto", "--split=yes",
		"--defer-partitions=var", "--json=short", "img.raw")
	if res.code != 0 {
		t.Fatal(res.stderr)
	}
	var rows []map[string]any
	json.Unmarshal([]byte(res.stdout), &rows)
	// Without SizeMinBytes= the partition gets repart's 10 MiB minimum.
	if len(rows) != 3 || rows[0]["raw_size"].(float64) != 10<<20 || rows[2]["split_path"] != "-" {
		t.Fatalf("rows %v", rows)
	}
	img, _ := os.ReadFile(filepath.Join(dir, "img.raw"))
	src, _ := os.ReadFile(blob)
	off := int(rows[0]["offset"].(float64))
	if !bytes.Equal(img[off:off+len(src)], src) {
		t.Error("CopyBlocks data not at the partition offset")
	}
	split, _ := os.ReadFile(filepath.Join(dir, "img.linux-generic.raw"))
	if len(split) != 10<<20 || !bytes.Equal(split[:len(src)], src) || !bytes.Equal(split[len(src):], make([]byte, len(split)-len(src))) {
		t.Error("split file differs from the CopyBlocks source")
	}
	if _, err := os.Stat(filepath.Join(dir, "img.var.raw")); err == nil {
		t.Error("deferred partition was split")
	}
	var st syscall.Stat_t
	syscall.Stat(filepath.Join(dir, "img.raw"), &st)
	if st.Blocks*512 > 1<<20 {
		t.Errorf("image uses %d bytes on disk: holes were filled", st.Blocks*512)
	}
	if table := oracle.SfdiskDump(t, filepath.Join(dir, "img.raw")); len(table.Partitions) != 2 {
		t.Errorf("deferred partition is in the table: %+v", table.Partitions)
	}

	res = runCLI(t, dir, nil, "--definitions=defs", seedArg, "--empty=force", "--dry-run=no", "--discard=no", "img.raw")
	if res.code != 0 {
		t.Fatal(res.stderr)
	}
	syscall.Stat(filepath.Join(dir, "img.raw"), &st)
	if st.Blocks*512 < st.Size {
		t.Errorf("--discard=no: %d of %d bytes allocated", st.Blocks*512, st.Size)
	}
}

// --empty=force through a symlink replaces the file it points to and keeps
// the symlink and the file's permissions.
func TestForceThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	writeDefs(t, dir, simpleDefs)
	real := filepath.Join(dir, "real.raw")
	os.WriteFile(real, nil, 0o640)
	os.Chmod(real, 0o640)
	os.Truncate(real, 64<<20)
	if err := os.Symlink("real.raw", filepath.Join(dir, "link.raw")); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, dir, nil, "--definitions=defs", seedArg, "--empty=force", "--dry-run=no", "--json=short", "link.raw")
	if res.code != 0 {
		t.Fatal(res.stderr)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "link.raw")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced")
	}
	st, _ := os.Stat(real)
	if st.Mode().Perm() != 0o640 || st.Size() != 64<<20 {
		t.Errorf("real file: mode %v size %d", st.Mode().Perm(), st.Size())
	}
	if !strings.Contains(res.stdout, `"node":"`+real+`1"`) {
		t.Errorf("node does not name the resolved path: %s", res.stdout)
	}
}
