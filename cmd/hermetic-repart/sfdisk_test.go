package main

// Our images read back with sfdisk and checked with sgdisk -v, on the
// vectors of spec/repart.md §15 (produced there by systemd-repart 252).

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

const specSeed = "e2a40bf9-73f1-4278-9160-49c031e7aef8"

type wantPart struct {
	name, uuid, typ string
	start, size     uint64
	attrs           uint64
}

func checkSfdiskTable(t *testing.T, image string, ss int, first, last uint64, want []wantPart) {
	t.Helper()
	tab := oracle.SfdiskDump(t, image)
	if tab.Label != "gpt" || !strings.EqualFold(tab.ID, "ef7f7ee2-47b3-4251-b1a1-09ea8bf12d5d") ||
		tab.SectorSize != ss || tab.FirstLBA != first || tab.LastLBA != last {
		t.Errorf("sfdisk %s: label %s id %s sector size %d first/last %d/%d; want gpt EF7F7EE2-… %d %d/%d",
			image, tab.Label, tab.ID, tab.SectorSize, tab.FirstLBA, tab.LastLBA, ss, first, last)
	}
	if len(tab.Partitions) != len(want) {
		t.Fatalf("sfdisk %s: %d partitions, want %d", image, len(tab.Partitions), len(want))
	}
	for i, w := range want {
		p := tab.Partitions[i]
		attrs, err := p.AttrBits()
		if err != nil {
			t.Error(err)
		}
		if p.Name != w.name || !strings.EqualFold(p.UUID, w.uuid) || !strings.EqualFold(p.Type, w.typ) ||
			p.Start != w.start || p.Size != w.size || attrs != w.attrs {
			t.Errorf("partition %d: %+v; want %+v", i+1, p, w)
		}
	}
}

// TestSfdiskVectorA: spec §15.2 (512-byte sectors, --size=auto). The GPT
// must be what 252 wrote; the swap signature we add (257 behaviour, §14)
// is outside the table.
func TestSfdiskVectorA(t *testing.T) {
	oracle.Require(t, "sfdisk")
	oracle.Require(t, "sgdisk")
	dir := t.TempDir()
	defs := writeDefs(t, dir, map[string]string{
		"00-esp.conf":   "[Partition]\nType=esp\nSizeMinBytes=64M\nSizeMaxBytes=64M\n",
		"10-root.conf":  "[Partition]\nType=root-x86-64\nSizeMinBytes=100M\nSizeMaxBytes=100M\n",
		"20-home.conf":  "[Partition]\nType=home\nSizeMinBytes=20M\n",
		"30-home2.conf": "[Partition]\nType=home\n",
		"40-swap.conf":  "[Partition]\nType=swap\nSizeMinBytes=8M\nSizeMaxBytes=8M\n",
	})
	img := filepath.Join(dir, "img1.raw")
	r := runCLI(t, dir, nil, "--definitions="+defs, "--empty=create", "--size=auto", "--seed="+specSeed,
		"--dry-run=no", "--json=pretty", "--sector-size=512", img)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	const grow = 1 << 59
	checkSfdiskTable(t, img, 512, 2048, 415750, []wantPart{
		{"esp", "34cf7fec-8be1-486f-8bd9-614094ea5c3d", typeGUIDs["esp"], 2048, 131072, 0},
		{"root-x86-64", "ce9c76eb-a8f1-40ff-813c-11dca6c0a55b", typeGUIDs["root-x86-64"], 133120, 204800, grow},
		{"home", "a6005774-f558-4330-a8e5-d6d2c01c01d6", typeGUIDs["home"], 337920, 40960, grow},
		{"home-2", "9105c380-e2a3-4b25-8c3f-b7aab4f56826", typeGUIDs["home"], 378880, 20480, grow},
		{"swap", "2aa78cdb-59c7-4173-af11-c7453737a5d1", "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f", 399360, 16384, 0},
	})
	oracle.SgdiskVerify(t, img)
}

// recordTB catches Errorf so a test can see a helper fail.
type recordTB struct {
	testing.TB
	failures []string
}

func (r *recordTB) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// TestSfdiskVectorC4096: spec §15.4 (4096-byte sectors). Neither sfdisk
// (util-linux 2.38) nor sgdisk (1.0.9) can be told the sector size of a
// plain file: given the file, sfdisk reports only the protective MBR and
// sgdisk "verifies" a blank table it made up. This test pins that down,
// then checks the image through a read-only `losetup -b 4096` device, as
// TestDiff252Sector4096 does.
func TestSfdiskVectorC4096(t *testing.T) {
	oracle.Require(t, "sfdisk")
	oracle.Require(t, "sgdisk")
	oracle.RequireRoot(t)
	oracle.Require(t, "losetup")
	dir := t.TempDir()
	defs := writeDefs(t, dir, map[string]string{
		"a.conf": "[Partition]\nType=esp\nSizeMinBytes=8M\nSizeMaxBytes=8M\n",
		"b.conf": "[Partition]\nType=root-x86-64\n",
	})
	img := filepath.Join(dir, "c.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, dir, nil, "--definitions="+defs, "--empty=force", "--seed="+specSeed,
		"--dry-run=no", "--sector-size=4096", img)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != "a4b363935eaea16da781f5667aee33074aa8849f73fc7645cfcdf9774b9448be" {
		t.Errorf("image sha256 %x differs from 252's (spec §15.4)", sum)
	}

	if tab := oracle.SfdiskDump(t, img); tab.Label == "gpt" {
		t.Logf("sfdisk now reads 4096-byte-sector images from plain files; the loop devices could go")
	}
	rec := &recordTB{TB: t}
	oracle.SgdiskVerify(rec, img)
	if len(rec.failures) == 0 {
		t.Errorf("SgdiskVerify accepted a 4096-byte-sector image given as a plain file, which sgdisk cannot read")
	}

	dev, detach := attachLoop(t, img, true)
	defer detach()
	checkSfdiskTable(t, dev, 4096, 256, 16378, []wantPart{
		{"esp", "34cf7fec-8be1-486f-8bd9-614094ea5c3d", typeGUIDs["esp"], 256, 2048, 0},
		{"root-x86-64", "ce9c76eb-a8f1-40ff-813c-11dca6c0a55b", typeGUIDs["root-x86-64"], 2304, 14075, 1 << 59},
	})
	oracle.SgdiskVerify(t, dev)
}
