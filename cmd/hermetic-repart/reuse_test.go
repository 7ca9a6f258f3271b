package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// An image holding an empty GPT is partitioned in place with --empty=allow
// or refuse, keeping its disk GUID, and refused with --empty=require; a
// blank file gets a new table with allow and require and is refused with
// refuse: the same bytes and exit status as systemd-repart 252.
func TestReuseEmptyTable252(t *testing.T) {
	bin := oracle.Require(t, "systemd-repart")
	for _, c := range []struct {
		mode  string
		blank bool // start from a zero-filled file instead of an empty GPT
	}{{"allow", false}, {"refuse", false}, {"require", false}, {"allow", true}, {"require", true}, {"refuse", true}} {
		mode := c.mode
		dir := t.TempDir()
		none := filepath.Join(dir, "none")
		os.Mkdir(none, 0o755)
		defs := writeDefs(t, dir, map[string]string{
			"a.conf": "[Partition]\nType=home\nSizeMinBytes=5M\n",
			"b.conf": "[Partition]\nType=srv\nWeight=300\n",
		})
		empty := filepath.Join(dir, "empty.raw")
		if res := runCLI(t, dir, nil, "--definitions="+none, "--empty=create", "--size=64M", seedArg, empty); res.code != 0 {
			t.Fatalf("creating an empty table: %s", res.stderr)
		}
		theirs, ours := filepath.Join(dir, "252.raw"), filepath.Join(dir, "ours.raw")
		for _, p := range []string{theirs, ours} {
			copyFile(t, empty, p)
			if c.blank {
				os.Truncate(p, 0)
				os.Truncate(p, 64<<20)
			}
		}
		args := []string{"--definitions=" + defs, "--empty=" + mode, "--dry-run=no", "--seed=5f2c3a9e-1d4b-4c8e-9a7f-3b6d2e1c0f9a"}
		_, stderr, err := oracle.Run(t, bin, append(args, theirs)...)
		res := runCLI(t, dir, nil, append(args, ours)...)
		if code := oracle.ExitCode(err); code != res.code {
			t.Fatalf("--empty=%s: exit %d, systemd-repart %d\nours: %s\ntheirs: %s", mode, res.code, code, res.stderr, stderr)
		}
		a, _ := os.ReadFile(theirs)
		b, _ := os.ReadFile(ours)
		if !bytes.Equal(a, b) {
			t.Errorf("--empty=%s (blank %v): image differs from systemd-repart 252's at byte %d", mode, c.blank, firstDiff(a, b))
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
