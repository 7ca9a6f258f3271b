// Package oracle helps tests that check hermetic-repart against external
// programs: systemd-repart 252 as the reference implementation, sfdisk and
// sgdisk as independent GPT readers, losetup for 4096-byte sectors.
//
// One rule runs through it: a missing oracle skips the test on a
// developer's machine, but fails it in CI (environment CI=true). A
// differential test that quietly skips in CI would report success while
// proving nothing, and CI is where we rely on these tests.
package oracle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Timeout bounds every oracle run: the tools finish in milliseconds, so a
// run this long is hung (for example on a stuck loop device) and the test
// should say so instead of waiting for go test's global timeout.
const Timeout = 60 * time.Second

// InCI reports whether the tests run in CI, where oracles are mandatory.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable ends the test because an oracle is missing: Fatalf in CI,
// Skipf elsewhere.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s (CI=true: tests that need an oracle must not be skipped)", msg)
	}
	t.Skip(msg)
}

// Require returns the path of tool, ending the test (see Unavailable) if
// it is not installed.
func Require(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		Unavailable(t, "oracle %s not available: %v", tool, err)
	}
	return p
}

// RequireRoot ends the test (see Unavailable) unless it runs as root, which
// losetup needs.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "oracle needs root (losetup), running as uid %d", os.Geteuid())
	}
}

// Run runs name with args and returns its output. err is nil or the
// *exec.ExitError of a non-zero exit; not finding the program, or a run
// exceeding Timeout, fails the test, because then the oracle gave no
// answer at all. It does not use t.Context(): Run is also called from
// t.Cleanup (detaching loop devices), when that context is already done.
func Run(t testing.TB, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %v\nstderr: %s", name, strings.Join(args, " "), Timeout, e.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return o.String(), e.String(), err
}

// ExitCode is the exit status of a Run error (0 for nil).
func ExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// SfdiskTable is the partition table as `sfdisk --json` reports it.
type SfdiskTable struct {
	Label      string `json:"label"` // "gpt"; "dos" when sfdisk sees only a protective MBR
	ID         string `json:"id"`    // disk GUID (label-id), upper case
	Device     string `json:"device"`
	FirstLBA   uint64 `json:"firstlba"`
	LastLBA    uint64 `json:"lastlba"`
	SectorSize int    `json:"sectorsize"`
	// Partitions are in partition-number order; sfdisk omits the key
	// when the table is empty.
	Partitions []SfdiskPartition `json:"partitions"`
}

// SfdiskPartition is one entry. Name and Attrs are empty when unset.
type SfdiskPartition struct {
	Node  string `json:"node"`
	Start uint64 `json:"start"` // in logical sectors
	Size  uint64 `json:"size"`  // in logical sectors
	Type  string `json:"type"`  // type GUID, upper case
	UUID  string `json:"uuid"`  // unique GUID, upper case
	Name  string `json:"name"`
	Attrs string `json:"attrs"` // e.g. "RequiredPartition GUID:59,60"
}

// SfdiskAttrNames are the names libfdisk prints for attribute bits 0-2.
var SfdiskAttrNames = map[string]uint{"RequiredPartition": 0, "NoBlockIOProtocol": 1, "LegacyBIOSBootable": 2}

// SfdiskVisibleAttrs masks the attribute bits sfdisk shows: 0-2 by name
// and 48-63 as "GUID:n"; libfdisk does not print bits 3-47 at all.
const SfdiskVisibleAttrs = 0xffff000000000007

// AttrBits parses Attrs back into the attribute field (visible bits only).
func (p SfdiskPartition) AttrBits() (uint64, error) {
	var bits uint64
	for _, tok := range strings.Fields(p.Attrs) {
		if b, ok := SfdiskAttrNames[tok]; ok {
			bits |= 1 << b
			continue
		}
		list, ok := strings.CutPrefix(tok, "GUID:")
		if !ok {
			return 0, fmt.Errorf("unknown attribute token %q in %q", tok, p.Attrs)
		}
		for _, n := range strings.Split(list, ",") {
			b, err := strconv.ParseUint(n, 10, 6)
			if err != nil {
				return 0, fmt.Errorf("bad GUID attribute bit %q in %q", n, p.Attrs)
			}
			bits |= 1 << b
		}
	}
	return bits, nil
}

// SfdiskDump reads image's partition table with `sfdisk --json`. It fails
// the test if sfdisk cannot read it at all; the caller checks Label,
// because sfdisk reads a 4096-byte-sector image given as a plain file as a
// 512-byte-sector disk and finds only the protective MBR ("dos"): such
// images must be checked through a `losetup -b 4096` device.
func SfdiskDump(t testing.TB, image string) SfdiskTable {
	t.Helper()
	bin := Require(t, "sfdisk")
	out, stderr, err := Run(t, bin, "--json", image)
	if err != nil {
		t.Fatalf("sfdisk --json %s: %v\n%s", image, err, stderr)
	}
	var doc struct {
		PartitionTable *SfdiskTable `json:"partitiontable"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.PartitionTable == nil {
		t.Fatalf("sfdisk --json %s: cannot parse output (%v):\n%s", image, err, out)
	}
	return *doc.PartitionTable
}

// SgdiskVerify fails the test unless `sgdisk -v image` finds no problems.
// sgdisk says "No problems found" also when it found no GPT at all and
// verified the blank table it created in memory (as it does for a
// 4096-byte-sector image given as a plain file), so that case fails too.
func SgdiskVerify(t testing.TB, image string) {
	t.Helper()
	bin := Require(t, "sgdisk")
	out, stderr, err := Run(t, bin, "-v", image)
	all := out + stderr
	switch {
	case err != nil:
		t.Errorf("sgdisk -v %s: %v\n%s", image, err, all)
	case strings.Contains(all, "Creating new GPT entries"):
		t.Errorf("sgdisk -v %s found no GPT:\n%s", image, all)
	case !strings.Contains(all, "No problems found"):
		t.Errorf("sgdisk -v %s:\n%s", image, all)
	}
}
