package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// TestCompress: --compress= writes IMAGE.raw.zst/.xz and one compressed
// file per split file, whose decompressed bytes are those of the raw
// build, and removes the raw files unless --keep-raw.
func TestCompress(t *testing.T) {
	zstd, xz := oracle.Require(t, "zstd"), oracle.Require(t, "xz")
	dir := t.TempDir()
	src := artifactTree(t, dir)
	env := []string{"SOURCE_DATE_EPOCH=1700000000"}
	build := func(name string, extra ...string) {
		t.Helper()
		args := append([]string{"--empty=create", "--size=auto", seedArg, "--definitions=defs",
			"--copy-source=" + src, "--split=yes", "--pretty=no"}, extra...)
		res := runCLI(t, dir, env, append(args, name)...)
		if res.code != 0 {
			t.Fatalf("%v: exit %d\n%s", extra, res.code, res.stderr)
		}
	}
	build("ref.raw")
	splits := []string{"root-x86-64", "swap"}
	files := func(base string) []string {
		out := []string{base + ".raw"}
		for _, s := range splits {
			out = append(out, base+"."+s+".raw")
		}
		return out
	}
	for _, f := range files("ref") {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("reference build: %v", err)
		}
	}
	for _, tt := range []struct {
		format, tool, suffix string
		keep                 bool
	}{
		{"zstd", zstd, ".zst", false},
		{"zstd-seekable", zstd, ".zst", false},
		{"xz", xz, ".xz", true},
	} {
		base := "img-" + tt.format
		extra := []string{"--compress=" + tt.format, "--compress-threads=2"}
		if tt.keep {
			extra = append(extra, "--keep-raw")
		}
		build(base+".raw", extra...)
		for i, raw := range files(base) {
			_, err := os.Stat(filepath.Join(dir, raw))
			if tt.keep != (err == nil) {
				t.Errorf("%s: raw file %s present: %v, want %v", tt.format, raw, err == nil, tt.keep)
			}
			got, stderr, err := oracle.Run(t, tt.tool, "-dc", filepath.Join(dir, raw+tt.suffix))
			if err != nil {
				t.Errorf("%s -dc %s: %v %s", tt.tool, raw+tt.suffix, err, stderr)
				continue
			}
			want, err := os.ReadFile(filepath.Join(dir, files("ref")[i]))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal([]byte(got), want) {
				t.Errorf("%s: %s decompresses to other bytes than the raw build", tt.format, raw+tt.suffix)
			}
		}
	}
}

func TestCompressUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--compress=lz4", "img.raw"}, "Failed to parse --compress= parameter: lz4"},
		{[]string{"--compress=xz", "--compress-level=12", "img.raw"}, "xz levels are 1 to 9"},
		{[]string{"--compress=zstd", "--compress-threads=many", "img.raw"}, "Failed to parse --compress-threads= parameter"},
		{[]string{"--keep-raw", "img.raw"}, "--keep-raw needs --compress=."},
	} {
		res := runCLI(t, t.TempDir(), nil, tt.args...)
		if res.code != 2 || !strings.Contains(res.stderr, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, res.code, res.stderr, tt.msg)
		}
	}
}
