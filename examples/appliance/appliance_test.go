// Package appliance_test boots the image that hermetic-repart builds from
// this directory's definitions: OVMF (UEFI firmware) in QEMU starts
// systemd-boot from our FAT ESP, systemd-boot starts Debian's kernel with
// our initrd, the initrd mounts our ext4 root by its GPT partition label,
// and /init-script on it grows the file system online, prints what it
// found and powers off. The serial console is the test's only view.
package appliance_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS.fd"
	// Under TCG a boot takes about 10 s here; the limit is for a slow CI
	// machine, and a hang (no poweroff) is a failure, not a wait for go
	// test's global timeout.
	bootTimeout = 4 * time.Minute
	grownSize   = 256 << 20
)

// ansi matches the terminal control sequences that OVMF and the kernel's
// console write around the text.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?=]*[a-zA-Z]`)

func TestApplianceBoots(t *testing.T) {
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb", "cpio", "gzip", "resize2fs", "sfdisk", "e2fsck"} {
		oracle.Require(t, tool)
	}
	repart := oracle.Require(t, "systemd-repart")
	qemu := oracle.Require(t, "qemu-system-x86_64")
	for _, f := range []string{ovmfCode, ovmfVars} {
		if _, err := os.Stat(f); err != nil {
			oracle.Unavailable(t, "OVMF firmware (Debian package ovmf): %v", err)
		}
	}
	dir := t.TempDir()

	// Stage the --copy-source tree (downloads three Debian packages unless
	// $APPLIANCE_DEBS already holds them).
	out := filepath.Join(dir, "out")
	run(t, "./stage.sh", out)
	stage := filepath.Join(out, "stage")

	// Build with our CLI, exactly as the README says.
	bin := filepath.Join(dir, "hermetic-repart")
	run(t, goTool(t), "build", "-o", bin, "../../cmd/hermetic-repart")
	img := filepath.Join(dir, "appliance.raw")
	run(t, bin, "--definitions=.", "--copy-source="+stage, "--empty=create",
		"--size=auto", "--seed=5b9d1c1e-8f0a-4b7e-9a31-0c2d6e4f7a10", "--pretty=no", img)
	built := oracle.SfdiskDump(t, img)
	if len(built.Partitions) != 2 {
		t.Fatalf("partitions: %+v", built.Partitions)
	}

	// Enlarge the disk and let systemd-repart 252 grow the root partition
	// into the new space, as it does on an appliance's first boot: it must
	// take the partitions we wrote for the ones its definitions describe.
	// The guest then has to grow the file system online.
	if err := os.Truncate(img, grownSize); err != nil {
		t.Fatal(err)
	}
	if o, e, err := oracle.Run(t, repart, "--dry-run=no", "--definitions=.", img); err != nil {
		t.Fatalf("systemd-repart growing the image: %v\n%s%s", err, o, e)
	}
	grown := oracle.SfdiskDump(t, img)
	root := grown.Partitions[1]
	if root.Size <= built.Partitions[1].Size || root.Start != built.Partitions[1].Start || root.UUID != built.Partitions[1].UUID {
		t.Fatalf("root partition not grown in place: %+v, built as %+v", root, built.Partitions[1])
	}

	console, code := boot(t, qemu, dir, img)
	if code != 0 {
		t.Errorf("qemu exited with %d", code)
	}

	message, err := os.ReadFile("content/sysroot/etc/appliance-message")
	if err != nil {
		t.Fatal(err)
	}
	// In boot order: each marker must follow the one before it.
	markers := []struct{ what, re string }{
		{"OVMF starts the disk's removable-media loader", `BdsDxe: starting Boot[0-9A-F]+ "UEFI Misc Device"`},
		{"systemd-boot hands over the initrd of our entry", `EFI stub: Loaded initrd from LINUX_EFI_INITRD_MEDIA_GUID device path`},
		{"the kernel gets our entry's options", `Command line: initrd=\\initrd\.img root=PARTLABEL=root .*init=/init-script`},
		{"the kernel reads our GPT", `vda: vda1 vda2`},
		{"the initrd finds the root partition by label", `initrd: PARTLABEL=root is /dev/vda2`},
		{"the kernel mounts our ext4", `EXT4-fs \(vda2\): mounted filesystem`},
		{"our /init-script runs from it, read-write", `appliance: root is /dev/vda2 / ext4 rw`},
		{"it reads our file", `appliance: ` + regexp.QuoteMeta(strings.TrimSpace(string(message)))},
		{"it writes", `appliance: root is writable`},
		{"systemd-boot ran", `appliance: LoaderInfo=systemd-boot \d+`},
		{"from our entry", `appliance: LoaderEntrySelected=appliance\.conf`},
		{"the partition is the grown one", `appliance: partition vda2 has ` + strconv.FormatUint(root.Size/2, 10) + ` KiB`},
		{"resize2fs grows it online", `EXT4-fs \(vda2\): resized filesystem to \d+`},
		{"and it is clean enough to go read-only", `appliance: root remounted read-only`},
		{"the VM powers off", `reboot: Power down`},
	}
	rest := console
	for _, m := range markers {
		loc := regexp.MustCompile(m.re).FindStringIndex(rest)
		if loc == nil {
			t.Errorf("serial console lacks %q (%s) after the previous marker", m.re, m.what)
			continue
		}
		rest = rest[loc[1]:]
	}

	// The file system sizes before and after the online resize: the root
	// starts at repart's Minimize=guess size and ends filling its partition.
	sizes := regexp.MustCompile(`appliance: file system has (\d+) KiB`).FindAllStringSubmatch(console, -1)
	if len(sizes) != 2 {
		t.Errorf("file system sizes on the console: %q", sizes)
	} else {
		before, _ := strconv.ParseUint(sizes[0][1], 10, 64)
		after, _ := strconv.ParseUint(sizes[1][1], 10, 64)
		if part := root.Size / 2; before >= after || after < part*9/10 || after > part {
			t.Errorf("file system %d KiB before, %d KiB after resize2fs, partition %d KiB", before, after, part)
		}
	}

	// What the guest left behind is a clean ext4 with its new size.
	if !t.Failed() {
		rootImg := filepath.Join(dir, "root.img")
		extract(t, img, rootImg, int64(root.Start)*512, int64(root.Size)*512)
		if o, e, err := oracle.Run(t, "e2fsck", "-fn", rootImg); err != nil {
			t.Errorf("e2fsck -fn of the booted root: %v\n%s%s", err, o, e)
		}
	}
	if t.Failed() {
		t.Logf("serial console:\n%s", console)
	}
}

// boot runs QEMU with OVMF on img under TCG until the guest powers off and
// returns the serial console as text, and QEMU's exit code.
func boot(t *testing.T, qemu, dir, img string) (string, int) {
	t.Helper()
	vars := filepath.Join(dir, "OVMF_VARS.fd")
	b, err := os.ReadFile(ovmfVars)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), bootTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg", "-m", "512",
		"-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio",
		"-drive", "if=pflash,format=raw,readonly=on,file="+ovmfCode,
		"-drive", "if=pflash,format=raw,file="+vars,
		"-drive", "file="+img+",format=raw,if=virtio")
	var o bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &o
	start := time.Now()
	err = cmd.Run()
	t.Logf("boot took %v", time.Since(start).Round(time.Millisecond))
	console := ansi.ReplaceAllString(strings.ReplaceAll(o.String(), "\r", ""), "")
	if ctx.Err() != nil {
		t.Fatalf("the VM did not power off within %v; serial console:\n%s", bootTimeout, console)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", qemu, err)
	}
	return console, code
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
}

func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command to build hermetic-repart with: %v", err)
	}
	return p
}

func extract(t *testing.T, img, dst string, off, size int64) {
	t.Helper()
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	buf := make([]byte, size)
	if _, err := src.ReadAt(buf, off); err != nil {
		t.Fatalf("reading %s: %v", img, err)
	}
	if err := os.WriteFile(dst, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}
