// Package definition reads systemd-repart's repart.d partition definitions
// into typed values, with repart's value syntax, defaults, warnings and
// errors ("FILE:LINE: message").
package definition

import (
	"math"

	"github.com/google/uuid"

	"github.com/hermetic-repart/hermetic-repart/gpt"
)

// Unset marks a size that was not configured (repart's UINT64_MAX).
const Unset = math.MaxUint64

// Tristate is a boolean that may be left unset.
type Tristate int8

const (
	TriUnset Tristate = -1
	TriNo    Tristate = 0
	TriYes   Tristate = 1
)

// CopyFile is one CopyFiles= entry.
type CopyFile struct {
	Source, Target string
}

// Symlink is one MakeSymlinks= entry.
type Symlink struct {
	Path, Target string
}

// Partition is one definition file (plus its drop-ins) after parsing and
// after repart's post-parse defaults.
type Partition struct {
	Path    string   // the definition file, as found in its directory
	DropIns []string // drop-in files applied, in order

	Type     gpt.Type
	Label    *string    // nil: derive from the type
	UUID     *uuid.UUID // nil: derive from the seed; uuid.Nil for UUID=null
	Priority int32

	Weight, PaddingWeight  uint32
	SizeMin, SizeMax       uint64 // Unset or a multiple of 4096
	PaddingMin, PaddingMax uint64

	FactoryReset       bool
	CopyBlocks         string // absolute path, "auto", or ""
	Format             string
	CopyFiles          []CopyFile
	ExcludeFiles       []string
	ExcludeFilesTarget []string
	MakeDirectories    []string
	MakeSymlinks       []Symlink
	Subvolumes         []string
	DefaultSubvolume   string

	Encrypt                                  string // off, key-file, tpm2, key-file+tpm2
	Verity                                   string // off, data, hash, signature
	VerityMatchKey                           string
	VerityDataBlockSize, VerityHashBlockSize uint64 // 0: default

	Flags                            uint64
	ReadOnly, NoAuto, GrowFileSystem Tristate

	SplitName string // "" when disabled with "-"
	Minimize  string // off, best, guess

	MountPoints      []string
	EncryptedVolume  string
	Compression      string
	CompressionLevel string
	SupplementFor    string

	lines map[string]int // line of the last assignment of each key
}

// Line returns the line of the last assignment of key in the main file or
// its drop-ins (0 if never assigned).
func (p *Partition) Line(key string) int { return p.lines[key] }

// MergedFlags applies NoAuto=, ReadOnly= and GrowFileSystem= to Flags= for
// types that know these bits; warn receives repart's notice for the others.
func (p *Partition) MergedFlags(warn func(string)) uint64 {
	f := p.Flags
	set := func(tri Tristate, knows bool, bit uint64, key string) {
		if tri == TriUnset {
			return
		}
		if !knows {
			yn := "no"
			if tri == TriYes {
				yn = "yes"
			}
			warn("Configured " + key + "=" + yn + " for partition type '" + p.Type.String() + "' that doesn't support it, ignoring.")
			return
		}
		if tri == TriYes {
			f |= bit
		} else {
			f &^= bit
		}
	}
	set(p.NoAuto, p.Type.KnowsNoAuto(), gpt.FlagNoAuto, "NoAuto")
	set(p.ReadOnly, p.Type.KnowsReadOnly(), gpt.FlagReadOnly, "ReadOnly")
	set(p.GrowFileSystem, p.Type.KnowsGrowFS(), gpt.FlagGrowFS, "GrowFileSystem")
	return f
}

// ReadOnlyFS reports whether fs is a file system repart treats as
// read-only (built once, sized by its content).
func ReadOnlyFS(fs string) bool {
	switch fs {
	case "squashfs", "erofs", "cramfs", "iso9660", "DM_verity_hash":
		return true
	}
	return false
}
