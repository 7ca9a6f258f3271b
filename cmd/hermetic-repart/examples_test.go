package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// TestReadmeExample runs the example command of README.md as it is written
// there and checks the image with sfdisk, sgdisk, swaplabel, e2fsck and
// debugfs.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```sh\ngo run ./cmd/hermetic-repart (.*?)\n```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no `go run ./cmd/hermetic-repart` example")
	}
	args := strings.Fields(strings.ReplaceAll(string(m[1]), "\\\n", " "))
	dir := t.TempDir()
	for i, a := range args {
		for _, flag := range []string{"--definitions=", "--copy-source="} {
			if v, ok := strings.CutPrefix(a, flag); ok {
				abs, _ := filepath.Abs(filepath.Join("../..", v))
				args[i] = flag + abs
			}
		}
	}
	res := runCLI(t, dir, nil, args...)
	if res.code != 0 {
		t.Fatalf("README example failed (exit %d):\n%s", res.code, res.stderr)
	}
	img := filepath.Join(dir, args[len(args)-1])
	table := oracle.SfdiskDump(t, img)
	oracle.SgdiskVerify(t, img)
	var names []string
	for _, p := range table.Partitions {
		names = append(names, p.Name)
	}
	if strings.Join(names, " ") != "esp root swap home" {
		t.Errorf("partitions %v", names)
	}
	if len(table.Partitions) != 4 {
		t.FailNow()
	}
	extract := func(i int, name string) string {
		p := table.Partitions[i]
		blob := make([]byte, p.Size*512)
		f, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.ReadAt(blob, int64(p.Start*512)); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, blob, 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	out, stderr, err := oracle.Run(t, oracle.Require(t, "swaplabel"), extract(2, "swap.img"))
	if err != nil || !strings.Contains(out, "LABEL: swap") {
		t.Errorf("swaplabel: %v %s %s", err, out, stderr)
	}

	// The ESP holds /efi of the content tree, as FAT32.
	esp := extract(0, "esp.img")
	if out, stderr, err := oracle.Run(t, oracle.Require(t, "fsck.fat"), "-n", esp); err != nil {
		t.Errorf("fsck.fat -n: %v\n%s%s", err, out, stderr)
	}
	if out, _, err := oracle.Run(t, oracle.Require(t, "blkid"), "-p", "-o", "export", esp); err != nil || !strings.Contains(out, "VERSION=FAT32") || !strings.Contains(out, "LABEL=ESP") {
		t.Errorf("blkid: %v\n%s", err, out)
	}
	mtype := oracle.Require(t, "mtype")
	for _, f := range []string{"loader/loader.conf", "loader/entries/example.conf"} {
		want, err := os.ReadFile(filepath.Join("../../examples/basic/content/efi", f))
		if err != nil {
			t.Fatal(err)
		}
		got, stderr, err := oracle.Run(t, "env", "MTOOLS_SKIP_CHECK=1", mtype, "-i", esp, "::/"+f)
		if err != nil || got != string(want) {
			t.Errorf("ESP %s reads %q (%v %s), want %q", f, got, err, stderr, want)
		}
	}

	// The root and home file systems hold the content tree, split at /home.
	e2fsck, debugfs := oracle.Require(t, "e2fsck"), oracle.Require(t, "debugfs")
	src := "../../examples/basic/content"
	for _, fs := range []struct {
		part  int
		name  string
		files map[string]string // image path -> source path
		gone  string
	}{
		{1, "root.img", map[string]string{
			"/usr/lib/os-release":           "usr/lib/os-release",
			"/usr/bin/hello":                "usr/bin/hello",
			"/usr/share/doc/example/README": "usr/share/doc/example/README",
		}, "/home/demo"},
		{1, "root.img", nil, "/efi/loader"},
		{3, "home.img", map[string]string{"/demo/NOTE": "home/demo/NOTE"}, "/usr"},
	} {
		file := extract(fs.part, fs.name)
		if out, stderr, err := oracle.Run(t, e2fsck, "-fn", file); err != nil {
			t.Errorf("e2fsck -fn %s: %v\n%s%s", fs.name, err, out, stderr)
		}
		for path, srcPath := range fs.files {
			want, err := os.ReadFile(filepath.Join(src, srcPath))
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := oracle.Run(t, debugfs, "-R", "cat "+path, file)
			if err != nil || got != string(want) {
				t.Errorf("%s:%s reads %q (%v), want %q", fs.name, path, got, err, want)
			}
		}
		if out, _, _ := oracle.Run(t, debugfs, "-R", "stat "+fs.gone, file); !strings.Contains(out, "File not found") && strings.Contains(out, "Inode:") {
			t.Errorf("%s holds %s, which belongs to another partition", fs.name, fs.gone)
		}
	}
}
