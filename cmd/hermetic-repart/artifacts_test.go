package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// artifactTree writes a small source tree and root + swap definitions
// into dir, and returns the tree's path.
func artifactTree(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	os.WriteFile(filepath.Join(src, "etc", "os-release"), []byte("ID=appliance\n"), 0o644)
	writeDefs(t, dir, map[string]string{
		"10-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\nMinimize=guess\n",
		"20-swap.conf": "[Partition]\nType=swap\nSizeMinBytes=16M\nSizeMaxBytes=16M\n",
	})
	return src
}

// TestImageName: --image-name/--image-version/--output-dir name the image
// and its split files as NixOS image.repart does, compressed ones too,
// and --json-file holds the document --json prints.
func TestImageName(t *testing.T) {
	zstd := oracle.Require(t, "zstd")
	dir := t.TempDir()
	src := artifactTree(t, dir)
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	env := []string{"SOURCE_DATE_EPOCH=315532800"}
	common := []string{"--empty=create", "--size=auto", seedArg, "--definitions=defs", "--copy-source=" + src, "--split=yes"}

	res := runCLI(t, dir, env, append(common, "--image-name=appliance", "--image-version=1.0-rc1", "--output-dir=out",
		"--compress=zstd", "--json=pretty", "--json-file=out/repart-output.json")...)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	want := []string{"appliance_1.0-rc1.raw.zst", "appliance_1.0-rc1.root-x86-64.raw.zst", "appliance_1.0-rc1.swap.raw.zst", "repart-output.json"}
	if got := entriesOf(t, filepath.Join(dir, "out")); !slices.Equal(got, want) {
		t.Errorf("output directory holds %q, want %q", got, want)
	}
	doc, err := os.ReadFile(filepath.Join(dir, "out", "repart-output.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != res.stdout {
		t.Errorf("--json-file holds\n%s\nbut --json=pretty printed\n%s", doc, res.stdout)
	}
	if !strings.Contains(string(doc), `"split_path" : "out/appliance_1.0-rc1.root-x86-64.raw"`) {
		t.Errorf("JSON does not name the split file as repart would:\n%s", doc)
	}
	for _, f := range want[:3] {
		if !strings.Contains(res.stderr, filepath.Join("out", f)) {
			t.Errorf("the summary does not list %s:\n%s", f, res.stderr)
		}
	}

	// The same build under a plain path has the same bytes.
	ref := runCLI(t, dir, env, append(common, "--pretty=no", "ref.raw")...)
	if ref.code != 0 {
		t.Fatalf("reference: exit %d\n%s", ref.code, ref.stderr)
	}
	for i, name := range []string{"ref.raw", "ref.root-x86-64.raw", "ref.swap.raw"} {
		got, stderr, err := oracle.Run(t, zstd, "-dcq", filepath.Join(dir, "out", want[i]))
		if err != nil {
			t.Fatalf("zstd -d %s: %v %s", want[i], err, stderr)
		}
		ref, _ := os.ReadFile(filepath.Join(dir, name))
		if !bytes.Equal([]byte(got), ref) {
			t.Errorf("%s does not decompress to %s", want[i], name)
		}
	}

	// Without a version the name has no "_"; without compression the
	// JSON file is written all the same, in the --json= format.
	res = runCLI(t, dir, env, append(common, "--image-name=plain", "--pretty=no", "--json=short", "--json-file=plain.json")...)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	for _, f := range []string{"plain.raw", "plain.root-x86-64.raw", "plain.swap.raw"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if doc, _ := os.ReadFile(filepath.Join(dir, "plain.json")); string(doc) != res.stdout || strings.Count(string(doc), "\n") != 1 {
		t.Errorf("short JSON file %q, stdout %q", doc, res.stdout)
	}
}

func TestImageNameUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--image-name=a", "img.raw"}, "do not give a path as well"},
		{[]string{"--image-version=1", "img.raw"}, "need --image-name="},
		{[]string{"--output-dir=out", "img.raw"}, "need --image-name="},
		{[]string{"--image-name=a/b"}, "cannot be part of a file name"},
		{[]string{"--image-name=.."}, "cannot be part of a file name"},
		{[]string{"--image-name=a", "--image-version=1/2"}, "cannot be part of a file name"},
		{[]string{"--json-file=", "img.raw"}, "--json-file= needs a path"},
	} {
		res := runCLI(t, t.TempDir(), nil, tt.args...)
		if res.code != 2 || !strings.Contains(res.stderr, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, res.code, res.stderr, tt.msg)
		}
	}
}

// TestCompressFailureLeavesNothing: when a compressed file cannot be put
// in place, the build fails naming it and leaves no file behind, neither
// the raw image nor temporary files.
func TestCompressFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	src := artifactTree(t, dir)
	// A directory where the compressed split file should go: the last
	// step, the rename, fails.
	os.Mkdir(filepath.Join(dir, "img.swap.raw.zst"), 0o755)
	os.WriteFile(filepath.Join(dir, "img.swap.raw.zst", "keep"), nil, 0o644)
	res := runCLI(t, dir, nil, "--empty=create", "--size=auto", seedArg, "--definitions=defs", "--copy-source="+src,
		"--split=yes", "--compress=zstd", "--keep-raw", "img.raw")
	if res.code != 1 || !strings.Contains(res.stderr, "img.swap.raw.zst") {
		t.Errorf("exit %d, stderr %q; want 1 naming img.swap.raw.zst", res.code, res.stderr)
	}
	if got, want := entriesOf(t, dir), []string{"defs", "img.swap.raw.zst", "src"}; !slices.Equal(got, want) {
		t.Errorf("left behind: %q, want only %q", got, want)
	}
}

// openPTY returns a pseudo-terminal's master and its slave, for a child
// whose stderr must be a terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	unlock := 0
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, m.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 100}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestProgressOnTerminal: on a terminal, the compression of a build that
// takes a while shows a status line with its progress, which is cleared
// before the summary; --quiet shows neither.
func TestProgressOnTerminal(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	// Text for xz with one thread, so that compressing takes long
	// enough (a second or two) for a few redraws of the status line.
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("partition image seed label root usr esp verity ext4 vfat zstd xz block group inode extent journal")
	var data []byte
	for len(data) < 4<<20 {
		data = append(data, words[rng.IntN(len(words))]...)
		data = append(data, " \n"[rng.IntN(8)/7])
		data = strconv.AppendUint(data, rng.Uint64()%1000, 10)
	}
	os.WriteFile(filepath.Join(src, "blob"), data, 0o644)
	writeDefs(t, dir, map[string]string{"10-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\nMinimize=guess\n"})

	run := func(extra ...string) string {
		t.Helper()
		m, s := openPTY(t)
		args := append([]string{"--empty=create", "--size=auto", seedArg, "--definitions=defs", "--copy-source=" + src,
			"--pretty=no", "--compress=xz", "--compress-threads=1"}, extra...)
		cmd := exec.Command(binPath, args...)
		cmd.Dir = dir
		cmd.Stderr = s
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		s.Close()
		var out bytes.Buffer
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			out.Write(buf[:n])
			if err != nil { // EIO once the child has closed the terminal
				break
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		t.Logf("%v took %v:\n%q", extra, time.Since(start), out.String())
		return out.String()
	}

	out := run("img.raw")
	if !strings.Contains(out, "\rCompressing img.raw.xz: ") || !strings.Contains(out, "\x1b[K") {
		t.Errorf("no status line for the compression:\n%q", out)
	}
	// The summary comes after the status is cleared, on lines of its own.
	i := strings.LastIndex(out, "Wrote:")
	if i < 0 || !strings.HasSuffix(out[:i], "\r\x1b[K") || !strings.Contains(out[i:], "img.raw.xz") {
		t.Errorf("summary missing or not after a cleared status line:\n%q", out)
	}
	if strings.Contains(out, "img.raw ") && !strings.Contains(out, "img.raw.xz") {
		t.Errorf("raw image listed though not kept:\n%q", out)
	}

	out = run("--quiet", "img2.raw")
	// (The terminal turns "\n" into "\r\n"; a status line needs "\x1b[K".)
	if strings.Contains(out, "\x1b[K") || strings.Contains(out, "Wrote:") {
		t.Errorf("--quiet still shows progress or the summary:\n%q", out)
	}
}
