package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

const seedArg = "--seed=e2a40bf9-73f1-4278-9160-49c031e7aef8"

var simpleDefs = map[string]string{
	"10-esp.conf":  "[Partition]\nType=esp\nSizeMinBytes=8M\nSizeMaxBytes=8M\n",
	"20-root.conf": "[Partition]\nType=root-x86-64\nSizeMinBytes=20M\n",
}

// leftovers lists every file in dir except the definitions.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "defs" {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"--root=/", "img.raw"}, "--root is not supported"},
		{[]string{"--image=x.raw", "img.raw"}, "--image is not supported"},
		{[]string{"--key-file=/k", "img.raw"}, "--key-file is not supported"},
		{[]string{"--tpm2-device=auto", "img.raw"}, "--tpm2-device is not supported"},
		{[]string{"--tpm2-pcrs=7", "img.raw"}, "--tpm2-pcrs is not supported"},
		{[]string{"--factory-reset=yes", "img.raw"}, "--factory-reset is not supported"},
		{[]string{"--can-factory-reset", "img.raw"}, "--can-factory-reset is not supported"},
		{[]string{"--copy-from=/x.raw", "img.raw"}, "--copy-from is not supported"},
		{[]string{"--copy-source=", "img.raw"}, "--copy-source= needs a directory."},
		{[]string{"--keep-ownership=perhaps", "img.raw"}, "Failed to parse boolean argument to --keep-ownership=: perhaps."},
		{[]string{"--make-ddi=sysext"}, "--make-ddi is not supported"},
		{[]string{"--include-partitions=esp", "img.raw"}, "--include-partitions is not supported"},
		{[]string{"--private-key=/k", "img.raw"}, "--private-key is not supported"},
		{[]string{"--generate-fstab=/f", "img.raw"}, "--generate-fstab is not supported"},
		{[]string{"--frobnicate", "img.raw"}, "unrecognized option '--frobnicate'"},
		{[]string{"-x", "img.raw"}, "invalid option -- 'x'"},
		{[]string{"--definitions"}, "option '--definitions' requires an argument"},
		{[]string{"--no-legend=yes", "img.raw"}, "doesn't allow an argument"},
		{[]string{"--empty=create"}, "must be specified"},
		{[]string{"--empty=create", "img.raw"}, "If --empty=create is specified, --size= must be specified, too."},
		{[]string{"--empty=sometimes", "img.raw"}, "Failed to parse --empty= parameter: sometimes"},
		{[]string{"--size=lots", "img.raw"}, "Failed to parse --size= parameter: lots"},
		{[]string{"--size=0", "img.raw"}, "Specified image size too small, refusing."},
		{[]string{"--sector-size=3000", "img.raw"}, "Sector size not power of 2: 3000"},
		{[]string{"--sector-size=8192", "img.raw"}, "Sector size not between 512 and 4096: 8192"},
		{[]string{"--architecture=vax", "img.raw"}, "Invalid architecture 'vax'."},
		{[]string{"--json=xml", "img.raw"}, "Unknown argument to --json= switch: xml"},
		{[]string{"--dry-run=maybe", "img.raw"}, "Failed to parse boolean argument to --dry-run=: maybe."},
		{[]string{"--seed=xyz", "img.raw"}, "Failed to parse seed: xyz"},
		{[]string{"a.raw", "b.raw"}, "Expected at most one argument"},
		{[]string{"--split=yes"}, "A path to an image file must be specified when --split is used."},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		res := runCLI(t, dir, nil, tt.args...)
		if res.code != 2 || !strings.Contains(res.stderr, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, res.code, res.stderr, tt.msg)
		}
		if l := leftovers(t, dir); len(l) > 0 {
			t.Errorf("%v left %v", tt.args, l)
		}
	}
}

// Without definitions and with --empty=refuse there is nothing to do.
func TestNothingToDo(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "defs"), 0o755)
	os.WriteFile(filepath.Join(dir, "img.raw"), make([]byte, 1<<20), 0o644)
	res := runCLI(t, dir, nil, "--definitions=defs", "--dry-run=no", "img.raw")
	if res.code != 0 || !strings.Contains(res.stderr, "nothing to do") {
		t.Errorf("exit %d: %s", res.code, res.stderr)
	}
}

func TestHelpVersion(t *testing.T) {
	for _, a := range []string{"--help", "-h", "--version", "--json=help"} {
		res := runCLI(t, t.TempDir(), nil, a)
		if res.code != 0 || res.stdout == "" {
			t.Errorf("%s: exit %d, stdout %q", a, res.code, res.stdout)
		}
	}
}

// TestBuildErrors covers failures after the command line was accepted: the
// message names what failed and no output file is left behind.
func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name  string
		defs  map[string]string
		setup func(t *testing.T, dir string)
		args  []string
		code  int
		msg   string // with DIR for the temporary directory
	}{
		{
			name: "bad type",
			defs: map[string]string{"10-x.conf": "[Partition]\nType=bogus\n"},
			args: []string{"--empty=create", "--size=auto"},
			code: 1, msg: "DIR/defs/10-x.conf:2: Failed to parse partition type: bogus",
		},
		{
			name: "no type",
			defs: map[string]string{"10-x.conf": "[Partition]\nLabel=x\n"},
			args: []string{"--empty=create", "--size=auto"},
			code: 1, msg: "DIR/defs/10-x.conf:1: Type= not defined, refusing.",
		},
		{
			name: "unsupported format",
			defs: map[string]string{"10-x.conf": "[Partition]\nType=root\nFormat=xfs\n"},
			args: []string{"--empty=create", "--size=auto"},
			code: 1, msg: "DIR/defs/10-x.conf:3: Format=xfs is not supported by hermetic-repart yet, refusing.",
		},
		{
			name: "does not fit",
			defs: simpleDefs,
			args: []string{"--empty=create", "--size=20M"},
			code: 1, msg: "Can't fit requested partitions into available free space (18.9M), refusing.\nAutomatically determined minimal disk image size as 29M, current image size is 20M.",
		},
		{
			name:  "create over existing file",
			defs:  simpleDefs,
			setup: func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, "img.raw"), []byte("keep"), 0o644) },
			args:  []string{"--empty=create", "--size=auto"},
			code:  1, msg: "Failed to create 'img.raw': file already exists",
		},
		{
			name: "force on missing file",
			defs: simpleDefs,
			args: []string{"--empty=force", "--dry-run=no"},
			code: 1, msg: "Failed to open file or determine backing device of img.raw: no such file or directory",
		},
		{
			name: "refuse without GPT",
			defs: simpleDefs,
			setup: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "img.raw"), make([]byte, 40<<20), 0o644)
			},
			args: []string{"--empty=refuse", "--dry-run=no"},
			code: 77, msg: "Disk DIR/img.raw has no GPT disk label, not repartitioning.",
		},
		{
			name: "split names collide",
			defs: map[string]string{
				"10-a.conf": "[Partition]\nType=var\nSizeMinBytes=1M\n",
				"20-b.conf": "[Partition]\nType=var\nSizeMinBytes=1M\n",
			},
			args: []string{"--empty=create", "--size=auto", "--split=yes"},
			code: 1, msg: "DIR/defs/10-a.conf and DIR/defs/20-b.conf have the same resolved split name \"img.var.raw\", refusing.",
		},
		{
			name:  "split file exists",
			defs:  map[string]string{"10-a.conf": "[Partition]\nType=var\nSizeMinBytes=1M\n"},
			setup: func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, "img.var.raw"), []byte("keep"), 0o644) },
			args:  []string{"--empty=create", "--size=auto", "--split=yes"},
			code:  1, msg: "Failed to create split file img.var.raw: file already exists",
		},
		{
			name: "CopyBlocks source missing",
			defs: map[string]string{"10-a.conf": "[Partition]\nType=linux-generic\nCopyBlocks=/nonexistent/blob.img\n"},
			args: []string{"--empty=create", "--size=auto"},
			code: 1, msg: "DIR/defs/10-a.conf: CopyBlocks=/nonexistent/blob.img: open /nonexistent/blob.img: no such file or directory",
		},
		{
			name: "CopyBlocks size not a multiple of 512",
			defs: map[string]string{"10-a.conf": "[Partition]\nType=linux-generic\nCopyBlocks=DIR/blob.img\n"},
			setup: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "blob.img"), make([]byte, 1000), 0o644)
			},
			args: []string{"--empty=create", "--size=auto"},
			code: 1, msg: "DIR/defs/10-a.conf: CopyBlocks=DIR/blob.img: has size that is not multiple of 512 (1000 bytes), refusing",
		},
		{
			name: "swap too small",
			defs: map[string]string{"10-s.conf": "[Partition]\nType=swap\nSizeMinBytes=16K\nSizeMaxBytes=16K\n"},
			args: []string{"--empty=create", "--size=auto"},
			code: 1, msg: "DIR/defs/10-s.conf: swap partition of 16384 bytes is too small: a swap area needs at least 40960 bytes (set SizeMinBytes=)",
		},
		{
			name: "duplicate UUID=",
			defs: map[string]string{
				"10-a.conf": "[Partition]\nType=var\nUUID=11111111-2222-3333-4444-555555555555\n",
				"20-b.conf": "[Partition]\nType=srv\nUUID=11111111-2222-3333-4444-555555555555\n",
			},
			args: []string{"--empty=create", "--size=auto"},
			code: 1, msg: "DIR/defs/10-a.conf and DIR/defs/20-b.conf both set UUID=11111111-2222-3333-4444-555555555555; partition UUIDs must be unique",
		},
		{
			name: "derived UUID taken by UUID=",
			defs: map[string]string{
				"10-a.conf": "[Partition]\nType=home\nUUID=34cf7fec-8be1-486f-8bd9-614094ea5c3d\n",
				"20-b.conf": "[Partition]\nType=esp\n",
			},
			args: []string{"--empty=create", "--size=auto"},
			code: 1, msg: "UUID derived from the seed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			defs := map[string]string{}
			for k, v := range tt.defs {
				defs[k] = strings.ReplaceAll(v, "DIR", dir)
			}
			writeDefs(t, dir, defs)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			before := leftovers(t, dir)
			args := append([]string{"--definitions=defs", seedArg, "--json=off"}, tt.args...)
			res := runCLI(t, dir, nil, append(args, "img.raw")...)
			msg := strings.ReplaceAll(tt.msg, "DIR", dir)
			if res.code != tt.code || !strings.Contains(res.stderr, msg) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and:\n%s", res.code, res.stderr, tt.code, msg)
			}
			if after := leftovers(t, dir); strings.Join(after, " ") != strings.Join(before, " ") {
				t.Errorf("files before %v, after %v", before, after)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "img.raw")); err == nil && len(b) == 4 && string(b) != "keep" {
				t.Errorf("existing file was modified")
			}
		})
	}
}

// A failing --empty=force run leaves the previous image exactly as it was.
func TestForceFailureKeepsOldImage(t *testing.T) {
	dir := t.TempDir()
	writeDefs(t, dir, simpleDefs)
	if res := runCLI(t, dir, nil, "--definitions=defs", seedArg, "--empty=create", "--size=auto", "img.raw"); res.code != 0 {
		t.Fatal(res.stderr)
	}
	old, _ := os.ReadFile(filepath.Join(dir, "img.raw"))
	writeDefs(t, dir, map[string]string{"30-big.conf": "[Partition]\nType=home\nSizeMinBytes=1G\n"})
	res := runCLI(t, dir, nil, "--definitions=defs", seedArg, "--empty=force", "--dry-run=no", "img.raw")
	if res.code != 1 {
		t.Fatalf("exit %d", res.code)
	}
	now, _ := os.ReadFile(filepath.Join(dir, "img.raw"))
	if !bytes.Equal(old, now) {
		t.Error("failed --empty=force changed the image")
	}
	if l := leftovers(t, dir); len(l) != 1 {
		t.Errorf("leftovers %v", l)
	}
}

// Existing partition tables are not grown: that is refused, not half done.
func TestExistingPartitionsRefused(t *testing.T) {
	dir := t.TempDir()
	writeDefs(t, dir, simpleDefs)
	if res := runCLI(t, dir, nil, "--definitions=defs", seedArg, "--empty=create", "--size=100M", "img.raw"); res.code != 0 {
		t.Fatal(res.stderr)
	}
	for _, mode := range []string{"allow", "refuse"} {
		res := runCLI(t, dir, nil, "--definitions=defs", seedArg, "--empty="+mode, "--dry-run=no", "img.raw")
		if res.code != 1 || !strings.Contains(res.stderr, "already has partitions") {
			t.Errorf("--empty=%s: exit %d: %s", mode, res.code, res.stderr)
		}
	}
	res := runCLI(t, dir, nil, "--definitions=defs", seedArg, "--empty=require", "--dry-run=no", "img.raw")
	if res.code != 77 || !strings.Contains(res.stderr, "already has a disk label, refusing.") {
		t.Errorf("--empty=require: exit %d: %s", res.code, res.stderr)
	}
}

// ENOSPC while writing: the error names the image and nothing is left.
func TestDiskFull(t *testing.T) {
	oracle.RequireRoot(t)
	oracle.Require(t, "mount")
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4M", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	blob := filepath.Join(dir, "blob.img")
	data := bytes.Repeat([]byte("hermetic"), 8<<20/8)
	if err := os.WriteFile(blob, data, 0o644); err != nil {
		t.Fatal(err)
	}
	writeDefs(t, mnt, map[string]string{"10-a.conf": "[Partition]\nType=linux-generic\nCopyBlocks=" + blob + "\n"})
	res := runCLI(t, mnt, nil, "--definitions=defs", seedArg, "--empty=create", "--size=auto", "img.raw")
	if res.code != 1 || !strings.Contains(res.stderr, "no space left on device") {
		t.Errorf("exit %d: %s", res.code, res.stderr)
	}
	if l := leftovers(t, mnt); len(l) != 0 {
		t.Errorf("left %v on the full file system", l)
	}
}
