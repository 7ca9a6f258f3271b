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
// there and checks the image with sfdisk, sgdisk and swaplabel.
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
		if v, ok := strings.CutPrefix(a, "--definitions="); ok {
			abs, _ := filepath.Abs(filepath.Join("../..", v))
			args[i] = "--definitions=" + abs
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
	swapPart := table.Partitions[2]
	blob := make([]byte, swapPart.Size*512)
	f, _ := os.Open(img)
	f.ReadAt(blob, int64(swapPart.Start*512))
	f.Close()
	swapFile := filepath.Join(dir, "swap.img")
	os.WriteFile(swapFile, blob, 0o644)
	out, stderr, err := oracle.Run(t, oracle.Require(t, "swaplabel"), swapFile)
	if err != nil || !strings.Contains(out, "LABEL: swap") {
		t.Errorf("swaplabel: %v %s %s", err, out, stderr)
	}
}
