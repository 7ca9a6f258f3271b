package seedrand

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
)

// Vectors from spec/repart.md §15.1, produced by systemd-repart.
var seed = Seed(uuid.MustParse("e2a40bf9-73f1-4278-9160-49c031e7aef8"))

func TestMAC(t *testing.T) {
	esp := uuid.MustParse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
	if got := hex.EncodeToString(mac(uuid.UUID(seed), esp[:])); got != "34cf7fec8be1d86f8bd9614094ea5c3dc978ef19cecff67ca0a9284c3d25ed95" {
		t.Errorf("HMAC(seed, esp) = %s", got)
	}
}

func TestDerivations(t *testing.T) {
	home := uuid.MustParse("933ac7e1-2eb4-4f13-b844-0e14e2aef915")
	esp := uuid.MustParse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
	root := uuid.MustParse("4f68bce3-e8cd-4db1-96e7-fbcaf984b709")
	swap := uuid.MustParse("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f")
	tests := []struct {
		name string
		got  uuid.UUID
		want string
	}{
		{"disk", seed.DiskGUID(), "ef7f7ee2-47b3-4251-b1a1-09ea8bf12d5d"},
		{"esp", seed.PartitionUUID(esp, 0), "34cf7fec-8be1-486f-8bd9-614094ea5c3d"},
		{"root", seed.PartitionUUID(root, 0), "ce9c76eb-a8f1-40ff-813c-11dca6c0a55b"},
		{"home", seed.PartitionUUID(home, 0), "a6005774-f558-4330-a8e5-d6d2c01c01d6"},
		{"home#2", seed.PartitionUUID(home, 1), "9105c380-e2a3-4b25-8c3f-b7aab4f56826"},
		{"swap", seed.PartitionUUID(swap, 0), "2aa78cdb-59c7-4173-af11-c7453737a5d1"},
		{"esp fs", FileSystemUUID(seed.PartitionUUID(esp, 0)), "3057d4fe-b54e-4423-ba7a-456c1a08c018"},
		{"root fs", FileSystemUUID(seed.PartitionUUID(root, 0)), "2f552d51-0e30-4275-9686-30acc38cd88c"},
		{"swap fs", FileSystemUUID(seed.PartitionUUID(swap, 0)), "e116f556-26a3-42a6-9578-dd6194876f39"},
		// Ours, not repart's (mke2fs picks it at random); checked with
		// Python's hmac module.
		{"root ext4 hash seed", Ext4HashSeed(FileSystemUUID(seed.PartitionUUID(root, 0))), "872785a1-240c-4852-b874-814918cd8505"},
		{"verity uuid", seed.VerityUUID(), "ae9578dc-39f1-4c39-9498-f6d9311960d4"},
	}
	for _, tt := range tests {
		if tt.got.String() != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	if id := VFATVolumeID(FileSystemUUID(seed.PartitionUUID(esp, 0))); id != 0x3057d4fe {
		t.Errorf("vfat volume ID %08x, want 3057d4fe", id)
	}
	salt := seed.VeritySalt()
	if got := hex.EncodeToString(salt[:]); got != "64677cd9b5340bcbb7f73ecb0cb03db408f8a5ac6a6e5e810f6a7754f052c952" {
		t.Errorf("verity salt %s", got)
	}
}

func TestMachineID(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		content string
		want    string
		err     bool
	}{
		{"3d1219c7c4c5404aaa1f6d2a48adfda4\n", "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4", false},
		{"", "", true},
		{"uninitialized\n", "", true},
		{"nonsense", "", true},
	} {
		p := filepath.Join(dir, "machine-id")
		os.WriteFile(p, []byte(tt.content), 0o644)
		s, err := MachineID(p)
		if (err != nil) != tt.err || (!tt.err && s.String() != tt.want) {
			t.Errorf("MachineID(%q) = %v, %v", tt.content, s, err)
		}
	}
	if _, err := MachineID(filepath.Join(dir, "missing")); err != ErrNoMachineID {
		t.Errorf("missing file: %v", err)
	}
}
