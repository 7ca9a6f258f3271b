// Package seedrand derives every identifier of an image from one 128-bit
// seed, exactly as systemd-repart does, so that the same seed gives the same
// disk GUID, partition UUIDs and file system IDs.
//
// All derivations are HMAC-SHA256 keyed by a 128-bit ID in its textual
// (RFC 4122 string) byte order; a 16-byte result is marked as a version 4
// UUID.
package seedrand

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/uuid"
)

// Seed is the key of every derivation.
type Seed uuid.UUID

func (s Seed) String() string { return uuid.UUID(s).String() }

func mac(key uuid.UUID, msg []byte) []byte {
	h := hmac.New(sha256.New, key[:])
	h.Write(msg)
	return h.Sum(nil)
}

// makeV4 turns the first 16 bytes of b into a version 4, RFC 4122 variant UUID.
func makeV4(b []byte) uuid.UUID {
	var u uuid.UUID
	copy(u[:], b[:16])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// Derive returns make_v4(HMAC-SHA256(key, token)); repart's derive_uuid.
func Derive(key uuid.UUID, token string) uuid.UUID {
	return makeV4(mac(key, []byte(token)))
}

// DiskGUID is the GUID of the partition table header.
func (s Seed) DiskGUID() uuid.UUID { return Derive(uuid.UUID(s), "disk-uuid") }

// PartitionUUID is the UUID of the partition that has k earlier partitions
// of the same type in definition order.
func (s Seed) PartitionUUID(typ uuid.UUID, k uint64) uuid.UUID {
	msg := typ[:]
	if k > 0 {
		msg = binary.LittleEndian.AppendUint64(append([]byte(nil), typ[:]...), k)
	}
	return makeV4(mac(uuid.UUID(s), msg))
}

// FileSystemUUID is the UUID of the file system (or swap area) in the
// partition whose UUID is part.
func FileSystemUUID(part uuid.UUID) uuid.UUID { return Derive(part, "file-system-uuid") }

// Ext4HashSeed is the directory hash seed (s_hash_seed) of an ext2/3/4
// file system with UUID fsUUID. repart leaves it to mke2fs, which picks it
// at random; deriving it keeps directory indexes, and with them the image
// bytes, reproducible. The token is ours (repart has none).
func Ext4HashSeed(fsUUID uuid.UUID) uuid.UUID { return Derive(fsUUID, "ext4-hash-seed") }

// VFATVolumeID is the 32-bit volume serial derived from the file system
// UUID: its first four bytes, read big-endian (mkfs.vfat -i takes the
// 8-hex-digit form of this value).
func VFATVolumeID(fsUUID uuid.UUID) uint32 { return binary.BigEndian.Uint32(fsUUID[:4]) }

// VeritySalt is the 32-byte dm-verity salt (not v4-marked).
func (s Seed) VeritySalt() [32]byte {
	var salt [32]byte
	copy(salt[:], mac(uuid.UUID(s), []byte("verity-salt")))
	return salt
}

// VerityUUID is the UUID in the dm-verity superblock.
func (s Seed) VerityUUID() uuid.UUID { return Derive(uuid.UUID(s), "verity-uuid") }

// Random returns a seed from the system's random source (--seed=random).
func Random() (Seed, error) {
	var s Seed
	if _, err := rand.Read(s[:]); err != nil {
		return s, fmt.Errorf("reading random seed: %w", err)
	}
	return s, nil
}

// ErrNoMachineID means the machine ID is missing, empty or uninitialized.
var ErrNoMachineID = errors.New("no machine ID set")

// MachineID reads the machine ID file (normally /etc/machine-id), which
// repart uses as the seed when --seed= is not given.
func MachineID(path string) (Seed, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Seed{}, ErrNoMachineID
	}
	if err != nil {
		return Seed{}, fmt.Errorf("reading machine ID: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" || s == "uninitialized" {
		return Seed{}, ErrNoMachineID
	}
	if len(s) != 32 {
		return Seed{}, fmt.Errorf("machine ID in %s is not 32 hex digits", path)
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return Seed{}, fmt.Errorf("machine ID in %s: %w", path, err)
	}
	return Seed(u), nil
}
