package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// runAsNobody runs the CLI (a copy the user can execute) in dir as uid and
// gid 65534.
func runAsNobody(t *testing.T, bin, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running hermetic-repart as nobody: %v", err)
	}
	return result{code, o.String(), e.String()}
}

// entriesOf lists the names in dir.
func entriesOf(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestExt4BadSources: sources the CLI cannot read fail the build with a
// message naming the definition file and the source, exit status 1, and
// nothing left in the output directory. Unreadable needs EACCES, which
// root never gets, so the CLI runs as nobody.
func TestExt4BadSources(t *testing.T) {
	oracle.RequireRoot(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, src string)
		bad   string // the source path the message names, relative to src
	}{
		{"unreadable file", func(t *testing.T, src string) {
			os.WriteFile(filepath.Join(src, "etc/secret"), []byte("secret"), 0o000)
		}, "etc/secret"},
		{"directory that cannot be opened", func(t *testing.T, src string) {
			os.Mkdir(filepath.Join(src, "etc/closed"), 0o755)
			os.WriteFile(filepath.Join(src, "etc/closed/x"), nil, 0o644)
			os.Chmod(filepath.Join(src, "etc/closed"), 0o000)
		}, "etc/closed"},
		{"directory that can be listed but not entered", func(t *testing.T, src string) {
			os.Mkdir(filepath.Join(src, "etc/noexec"), 0o755)
			os.WriteFile(filepath.Join(src, "etc/noexec/x"), nil, 0o644)
			os.Chmod(filepath.Join(src, "etc/noexec"), 0o644)
		}, "etc/noexec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			out := filepath.Join(dir, "out")
			for _, d := range []string{src, src + "/etc", out} {
				os.Mkdir(d, 0o755)
			}
			os.WriteFile(filepath.Join(src, "etc/ok"), []byte("ok"), 0o644)
			tt.setup(t, src)
			os.Chown(out, 65534, 65534)
			openUp(t, dir)
			bin := copyBinary(t, dir)
			writeDefs(t, out, map[string]string{"10-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/etc:/etc\n"})
			res := runAsNobody(t, bin, out, "--empty=create", "--size=auto", seedArg, "--definitions=defs", "--copy-source="+src, "img.raw")
			def := filepath.Join(out, "defs/10-root.conf")
			bad := filepath.Join(src, tt.bad)
			if res.code != 1 || !strings.Contains(res.stderr, def) || !strings.Contains(res.stderr, bad) || !strings.Contains(res.stderr, "permission denied") {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and a message naming %s, %s and \"permission denied\"", res.code, res.stderr, def, bad)
			}
			if l := entriesOf(t, out); !slices.Equal(l, []string{"defs"}) {
				t.Errorf("left in the output directory: %v", l)
			}
		})
	}
}

// TestExt4BadContent: definitions whose content cannot be written are
// refused before anything is created, naming the definition file.
func TestExt4BadContent(t *testing.T) {
	long := strings.Repeat("n", 256)
	tests := []struct {
		name  string
		def   string
		files map[string]int64 // source files to create: path -> size
		size  string           // --size=, auto if empty
		msg   []string         // substrings of the message (DIR for the directory)
	}{
		{
			name: "CopyFiles target component over 255 bytes",
			def:  "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/etc:/x/" + long + "/y\n",
			msg:  []string{"DIR/defs/10-a.conf", long, "255"},
		},
		{
			name:  "CopyFiles file target over 255 bytes",
			def:   "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/etc/f:/" + long + "\n",
			files: map[string]int64{"etc/f": 1},
			msg:   []string{"DIR/defs/10-a.conf", long, "255"},
		},
		{
			name: "MakeDirectories component over 255 bytes",
			def:  "[Partition]\nType=root\nFormat=ext4\nMakeDirectories=/a/" + long + "/b\n",
			msg:  []string{"DIR/defs/10-a.conf", long, "255"},
		},
		{
			name: "MakeSymlinks name over 255 bytes",
			def:  "[Partition]\nType=root\nFormat=ext4\nMakeSymlinks=/" + long + ":target\n",
			msg:  []string{"DIR/defs/10-a.conf", long, "255"},
		},
		{
			// the image has room, but the partition may not grow past 40M
			name:  "content over SizeMaxBytes",
			def:   "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/etc:/etc\nSizeMaxBytes=40M\n",
			files: map[string]int64{"etc/big1": 30 << 20, "etc/big2": 30 << 20},
			size:  "200M",
			msg:   []string{"DIR/defs/10-a.conf", "the content needs a file system of at least", "the partition is 40M", "raise SizeMaxBytes="},
		},
		{
			name:  "content over the default size without Minimize",
			def:   "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/etc:/etc\n",
			files: map[string]int64{"etc/big1": 30 << 20, "etc/big2": 30 << 20},
			msg:   []string{"DIR/defs/10-a.conf", "the content needs a file system of at least", "Minimize=guess"},
		},
		{
			name:  "Minimize=guess over SizeMaxBytes",
			def:   "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/etc:/etc\nMinimize=guess\nSizeMaxBytes=40M\n",
			files: map[string]int64{"etc/big1": 30 << 20, "etc/big2": 30 << 20},
			msg:   []string{"DIR/defs/10-a.conf", "Minimize=guess", "SizeMaxBytes=40M"},
		},
		{
			name:  "Minimize=best over SizeMaxBytes",
			def:   "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/etc:/etc\nMinimize=best\nSizeMaxBytes=40M\n",
			files: map[string]int64{"etc/big1": 30 << 20, "etc/big2": 30 << 20},
			msg:   []string{"DIR/defs/10-a.conf", "Minimize=best", "SizeMaxBytes=40M"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := t.TempDir()
			os.Mkdir(filepath.Join(src, "etc"), 0o755)
			for p, size := range tt.files {
				f, err := os.Create(filepath.Join(src, p))
				if err != nil {
					t.Fatal(err)
				}
				// real data: holes would take no space in the file system
				if _, err := f.Write(bytes.Repeat([]byte{0x5a}, int(size))); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
			writeDefs(t, dir, map[string]string{"10-a.conf": tt.def})
			for _, dry := range []string{"--empty=create", "--empty=force"} {
				if dry == "--empty=force" {
					os.WriteFile(filepath.Join(dir, "img.raw"), []byte("keep"), 0o644)
				}
				size := "--size=auto"
				if tt.size != "" {
					size = "--size=" + tt.size
				}
				res := runCLI(t, dir, nil, dry, size, "--dry-run=no", seedArg, "--definitions=defs", "--copy-source="+src, "img.raw")
				ok := res.code == 1
				for _, m := range tt.msg {
					ok = ok && strings.Contains(res.stderr, strings.ReplaceAll(m, "DIR", dir))
				}
				if !ok {
					t.Errorf("%s: exit %d, stderr:\n%s\nwant exit 1 and %q", dry, res.code, res.stderr, tt.msg)
				}
				want := "defs"
				if dry == "--empty=force" {
					want = "defs img.raw"
					if b, _ := os.ReadFile(filepath.Join(dir, "img.raw")); string(b) != "keep" {
						t.Errorf("%s: the existing image was changed", dry)
					}
				}
				if l := strings.Join(entriesOf(t, dir), " "); l != want {
					t.Errorf("%s: output directory holds %s, want %s", dry, l, want)
				}
			}
		})
	}
}

// TestExt4DiskFull: ENOSPC while writing file data: the error names the
// image, and no image or temporary file is left on the full file system.
func TestExt4DiskFull(t *testing.T) {
	oracle.RequireRoot(t)
	full := mountTmpfs(t, "20M")
	src := t.TempDir()
	os.Mkdir(filepath.Join(src, "etc"), 0o755)
	data := bytes.Repeat([]byte("hermetic-repart "), 1<<20/16)
	for i := range 40 { // 40 MiB of real data into a 64 MiB partition
		if err := os.WriteFile(filepath.Join(src, "etc", fmt.Sprint("f", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeDefs(t, full, map[string]string{"10-a.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/etc:/etc\nSizeMinBytes=64M\nSizeMaxBytes=64M\n"})
	res := runCLI(t, full, nil, "--empty=create", "--size=auto", seedArg, "--definitions=defs", "--copy-source="+src, "img.raw")
	if res.code != 1 || !strings.Contains(res.stderr, "no space left on device") || !strings.Contains(res.stderr, "img.raw") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and \"no space left on device\" naming img.raw", res.code, res.stderr)
	}
	if l := strings.Join(entriesOf(t, full), " "); l != "defs" {
		t.Errorf("left on the full file system: %s", l)
	}
}

// TestExt4Interrupted sends SIGINT while the image is being written: the
// CLI exits non-zero and leaves neither the image nor its temporary file.
// The signal is sent when the temporary file appears (inotify), with the
// process stopped, so that a fast machine cannot finish first. With
// compression, it comes when the compressed file's temporary file
// appears, while the compressors wait for the partitions.
func TestExt4Interrupted(t *testing.T) {
	t.Run("raw", func(t *testing.T) { testInterrupted(t, ".img.raw.") })
	t.Run("compressed", func(t *testing.T) {
		testInterrupted(t, ".img.raw.zst.", "--compress=zstd", "--split=yes")
	})
}

func testInterrupted(t *testing.T, trigger string, extra ...string) {
	dir := t.TempDir()
	src := t.TempDir()
	os.Mkdir(filepath.Join(src, "etc"), 0o755)
	data := bytes.Repeat([]byte("interrupt me "), 1<<20/13)
	for i := range 100 {
		if err := os.WriteFile(filepath.Join(src, "etc", fmt.Sprint("f", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeDefs(t, dir, map[string]string{"10-a.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/etc:/etc\nSizeMinBytes=256M\n"})
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, dir, unix.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--empty=create", "--size=auto", seedArg, "--definitions=defs", "--copy-source=" + src}, extra...)
	cmd := exec.Command(binPath, append(args, "img.raw")...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	buf := make([]byte, 4096)
	deadline := time.Now().Add(60 * time.Second)
	for created := false; !created; {
		// poll, not a blocking read: a CLI that fails before it creates
		// the file must not hang the test
		fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, 100); err != nil && err != unix.EINTR {
			t.Fatal(err)
		} else if n == 0 {
			select {
			case err := <-done:
				t.Fatalf("the CLI ended (%v) before it created the image:\n%s", err, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("the CLI did not create the image within 60 s")
			}
			continue
		}
		n, err := unix.Read(in, buf)
		if err != nil {
			t.Fatal(err)
		}
		created = bytes.Contains(buf[:n], []byte(trigger))
	}
	cmd.Process.Signal(syscall.SIGSTOP)
	cmd.Process.Signal(os.Interrupt)
	cmd.Process.Signal(syscall.SIGCONT)
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the CLI did not stop after SIGINT")
	}
	if err == nil || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %v, stderr:\n%s\nwant a failure saying it was interrupted", err, stderr.String())
	}
	if l := strings.Join(entriesOf(t, dir), " "); l != "defs" {
		t.Errorf("left after SIGINT: %s", l)
	}
}
