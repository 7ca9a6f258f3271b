// Package appliance_test boots the image that hermetic-repart builds from
// this directory's definitions: OVMF (UEFI firmware) in QEMU starts
// systemd-boot from our FAT ESP, systemd-boot starts Debian's kernel with
// our initrd, the initrd mounts our ext4 root by its GPT partition label,
// and /init-script on it grows the file system online, prints what it
// found and powers off. The serial console is the test's only view.
//
// TestApplianceSectorSize4096 builds the same appliance with
// --sector-size=4096 and records what OVMF does with it on a disk of
// 512-byte and of 4096-byte logical blocks.
package appliance_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
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
	seed        = "5b9d1c1e-8f0a-4b7e-9a31-0c2d6e4f7a10"
)

// The disk as the guest sees it: QEMU's default virtio disk has 512-byte
// logical blocks; the other one reports 4096-byte logical (and physical)
// blocks to OVMF and to Linux.
var (
	virtio512  = func(img string) []string { return []string{"-drive", "file=" + img + ",format=raw,if=virtio"} }
	virtio4096 = func(img string) []string {
		return []string{"-drive", "file=" + img + ",format=raw,if=none,id=disk",
			"-device", "virtio-blk-pci,drive=disk,logical_block_size=4096,physical_block_size=4096"}
	}
)

// ansi matches the terminal control sequences that OVMF and the kernel's
// console write around the text.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?=]*[a-zA-Z]`)

// shell is where OVMF's EFI shell, started when nothing on the disk
// boots, counts down before running startup.nsh and waiting for input: a
// boot that gets there has failed, and need not wait for bootTimeout.
var shell = regexp.MustCompile(`startup\.nsh`)

// shared is the staged --copy-source tree and the CLI, made once for
// both tests in work (a directory TestMain removes): staging downloads
// three Debian packages.
var (
	work   string
	shared struct {
		once       sync.Once
		stage, bin string
		err        error
	}
)

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "appliance-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	work = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// setup returns QEMU's path, the staged tree and our CLI, built as the
// README says, ending the test if QEMU or OVMF is missing (see
// oracle.Unavailable).
func setup(t *testing.T) (qemu, stage, bin string) {
	t.Helper()
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb", "cpio", "gzip"} {
		oracle.Require(t, tool)
	}
	qemu = oracle.Require(t, "qemu-system-x86_64")
	for _, f := range []string{ovmfCode, ovmfVars} {
		if _, err := os.Stat(f); err != nil {
			oracle.Unavailable(t, "OVMF firmware (Debian package ovmf): %v", err)
		}
	}
	shared.once.Do(func() {
		// Stage the --copy-source tree (downloads three Debian packages
		// unless $APPLIANCE_DEBS already holds them).
		out := filepath.Join(work, "out")
		if b, err := exec.Command("./stage.sh", out).CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("stage.sh %s: %w\n%s", out, err, b)
			return
		}
		bin := filepath.Join(work, "hermetic-repart")
		if b, err := exec.Command(goTool(t), "build", "-o", bin, "../../cmd/hermetic-repart").CombinedOutput(); err != nil {
			shared.err = fmt.Errorf("building hermetic-repart: %w\n%s", err, b)
			return
		}
		shared.stage, shared.bin = filepath.Join(out, "stage"), bin
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return qemu, shared.stage, shared.bin
}

func TestApplianceBoots(t *testing.T) {
	for _, tool := range []string{"resize2fs", "sfdisk", "e2fsck"} {
		oracle.Require(t, tool)
	}
	repart := oracle.Require(t, "systemd-repart")
	qemu, stage, bin := setup(t)
	dir := t.TempDir()

	// Build with our CLI, exactly as the README says.
	img := filepath.Join(dir, "appliance.raw")
	run(t, bin, "--definitions=.", "--copy-source="+stage, "--empty=create",
		"--size=auto", "--seed="+seed, "--pretty=no", img)
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

	console, code, inShell := boot(t, qemu, dir, virtio512(img), shell)
	if inShell || code != 0 {
		t.Errorf("qemu exited with %d, OVMF in its shell: %v", code, inShell)
	}

	message, err := os.ReadFile("content/sysroot/etc/appliance-message")
	if err != nil {
		t.Fatal(err)
	}
	// In boot order: each marker must follow the one before it.
	markers := []marker{
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
	inOrder(t, console, markers)

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

// TestApplianceSectorSize4096 records what OVMF does with the appliance
// built with --sector-size=4096: its GPT header is at byte 4096 (LBA 1 of
// 4096-byte sectors) and its ESP has 4096-byte logical sectors, so the
// image only makes sense on a disk of 4096-byte logical blocks.
//
//   - On QEMU's default virtio disk (512-byte blocks) OVMF finds no GPT
//     (it looks at byte 512), so neither the ESP nor a file system: its
//     removable-media boot option fails with Not Found and it falls
//     through to the EFI shell, whose mapping table lists the disk only as
//     a raw block device. This is why NixOS builds its images with
//     512-byte sectors (NixOS PR #284174).
//   - On a virtio disk of 4096-byte logical blocks OVMF reads the GPT,
//     its FAT driver reads our 4096-byte-sector ESP, and the appliance
//     boots as it does with 512-byte sectors.
//
// If either outcome changes (a firmware that finds the 4096-byte GPT on a
// 512-byte disk, or one that no longer boots ours from a 4096-byte disk),
// this test fails.
func TestApplianceSectorSize4096(t *testing.T) {
	qemu, stage, bin := setup(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "appliance-4096.raw")
	run(t, bin, "--definitions=.", "--copy-source="+stage, "--empty=create",
		"--size=auto", "--seed="+seed, "--sector-size=4096", "--pretty=no", img)

	// What the firmware gets: the GPT at LBA 1 of 4096 bytes and nothing
	// at LBA 1 of 512 bytes; the ESP (the first entry) a FAT with
	// 4096-byte sectors. 64 MiB of 4096-byte sectors give only 4092
	// clusters of 16 KiB, too few for FAT32, so it is FAT16 (a FAT32 this
	// small, as mkfs.fat -F 32 makes it, is what OVMF refused in systemd
	// issue #37801). fsck.fat checks it.
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	read := func(off int64, n int) []byte {
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatalf("reading %s at %d: %v", img, off, err)
		}
		return b
	}
	if string(read(512, 8)) == "EFI PART" || string(read(4096, 8)) != "EFI PART" {
		t.Fatalf("%s: the GPT header is not (only) at byte 4096", img)
	}
	entries := int64(binary.LittleEndian.Uint64(read(4096+72, 8))) * 4096
	esp := read(entries, 128)
	espStart, espEnd := int64(binary.LittleEndian.Uint64(esp[32:])), int64(binary.LittleEndian.Uint64(esp[40:]))
	root := read(entries+int64(binary.LittleEndian.Uint32(read(4096+84, 4))), 128)
	rootSectors := binary.LittleEndian.Uint64(root[40:]) - binary.LittleEndian.Uint64(root[32:]) + 1
	bpb := read(espStart*4096, 64)
	if ss, kind := binary.LittleEndian.Uint16(bpb[11:]), string(bpb[54:62]); ss != 4096 || kind != "FAT16   " {
		t.Errorf("ESP: %d bytes per sector, %q; want 4096, FAT16", ss, kind)
	}
	espImg := filepath.Join(dir, "esp.img")
	extract(t, img, espImg, espStart*4096, (espEnd-espStart+1)*4096)
	oracle.FsckFATClean(t, espImg)
	os.Remove(espImg)

	t.Run("512-byte logical blocks", func(t *testing.T) {
		// The shell prints its mapping table, then counts down 5 s
		// before its prompt; the countdown is where the test stops.
		console, _, stopped := boot(t, qemu, dir, virtio512(img), shell)
		if !stopped {
			t.Errorf("OVMF did not start its shell")
		}
		inOrder(t, console, []marker{
			{"OVMF finds nothing to start on the disk", `BdsDxe: failed to load Boot[0-9A-F]+ "UEFI Misc Device" from PciRoot\(0x0\)/Pci\(0x[0-9A-F]+,0x0\): Not Found`},
			{"and falls through to its shell", `BdsDxe: starting Boot[0-9A-F]+ "EFI Internal Shell"`},
			{"which lists the block devices", `Mapping table\n +BLK0: `},
			{"and is about to run startup.nsh", `startup\.nsh`},
		})
		// Had OVMF read the GPT, the mapping table would list the
		// partitions (HD(1,GPT,...)) and the ESP's file system (FS0:).
		if strings.Contains(console, "HD(") || regexp.MustCompile(`FS[0-9]+:`).MatchString(console) {
			t.Errorf("OVMF found a partition or a file system")
		}
		if t.Failed() {
			t.Logf("serial console:\n%s", console)
		}
	})

	t.Run("4096-byte logical blocks", func(t *testing.T) {
		console, code, inShell := boot(t, qemu, dir, virtio4096(img), shell)
		if inShell || code != 0 {
			t.Errorf("qemu exited with %d, OVMF in its shell: %v", code, inShell)
		}
		inOrder(t, console, []marker{
			{"OVMF starts the disk's removable-media loader", `BdsDxe: starting Boot[0-9A-F]+ "UEFI Misc Device"`},
			{"systemd-boot hands over the initrd of our entry", `EFI stub: Loaded initrd from LINUX_EFI_INITRD_MEDIA_GUID device path`},
			{"the kernel gets our entry's options", `Command line: initrd=\\initrd\.img root=PARTLABEL=root .*init=/init-script`},
			{"the kernel sees 4096-byte sectors", `virtio_blk virtio\d+: \[vda\] \d+ 4096-byte logical blocks`},
			{"and reads our GPT", `vda: vda1 vda2`},
			{"the initrd finds the root partition by label", `initrd: PARTLABEL=root is /dev/vda2`},
			{"the kernel mounts our ext4", `EXT4-fs \(vda2\): mounted filesystem`},
			{"our /init-script runs from it, read-write", `appliance: root is /dev/vda2 / ext4 rw`},
			{"it writes", `appliance: root is writable`},
			{"systemd-boot ran", `appliance: LoaderInfo=systemd-boot \d+`},
			{"from our entry", `appliance: LoaderEntrySelected=appliance\.conf`},
			{"the partition has the size of our GPT entry", `appliance: partition vda2 has ` + strconv.FormatUint(rootSectors*4, 10) + ` KiB`},
			{"the file system is clean enough to go read-only", `appliance: root remounted read-only`},
			{"the VM powers off", `reboot: Power down`},
		})
		if t.Failed() {
			t.Logf("serial console:\n%s", console)
		}
	})
}

// boot runs QEMU with OVMF under TCG on the disk that the drive options
// describe, until the guest powers off or, if stop is not nil, until the
// console shows stop (QEMU is then killed). It returns the serial console
// as text, QEMU's exit code and whether stop was seen. No network card:
// a firmware that finds nothing to boot on the disk goes on to its shell
// at once instead of trying PXE for minutes.
func boot(t *testing.T, qemu, dir string, drive []string, stop *regexp.Regexp) (string, int, bool) {
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
	args := append([]string{"-accel", "tcg", "-m", "512",
		"-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio", "-nic", "none",
		"-drive", "if=pflash,format=raw,readonly=on,file=" + ovmfCode,
		"-drive", "if=pflash,format=raw,file=" + vars}, drive...)
	cmd := exec.CommandContext(ctx, qemu, args...)
	o := &consoleWriter{stop: stop, seen: cancel}
	cmd.Stdout, cmd.Stderr = o, o
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err = cmd.Run()
	t.Logf("boot took %v", time.Since(start).Round(time.Millisecond))
	console := ansi.ReplaceAllString(strings.ReplaceAll(o.String(), "\r", ""), "")
	if o.stopped() {
		return console, 0, true
	}
	if ctx.Err() != nil {
		t.Fatalf("the VM did not power off within %v; serial console:\n%s", bootTimeout, console)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", qemu, err)
	}
	return console, code, false
}

// consoleWriter collects QEMU's output and calls seen once stop appears
// in it. Only the new bytes and a window before them are searched, since
// QEMU writes the console a few bytes at a time.
type consoleWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	stop *regexp.Regexp
	seen func()
	hit  bool
}

func (c *consoleWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	from := max(0, c.buf.Len()-256)
	c.buf.Write(p)
	if c.stop != nil && !c.hit && c.stop.Match(c.buf.Bytes()[from:]) {
		c.hit = true
		c.seen()
	}
	return len(p), nil
}

func (c *consoleWriter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func (c *consoleWriter) stopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hit
}

// A marker is a regular expression the serial console must show, and
// what it means.
type marker struct{ what, re string }

// inOrder checks that console shows each marker after the one before it.
func inOrder(t *testing.T, console string, markers []marker) {
	t.Helper()
	rest := console
	for _, m := range markers {
		loc := regexp.MustCompile(m.re).FindStringIndex(rest)
		if loc == nil {
			t.Errorf("serial console lacks %q (%s) after the previous marker", m.re, m.what)
			continue
		}
		rest = rest[loc[1]:]
	}
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
