package definition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hermetic-repart/hermetic-repart/gpt"
	"github.com/hermetic-repart/hermetic-repart/specifier"
)

// Options tell Load how to resolve names and where to report.
type Options struct {
	Types *gpt.Table
	// Architecture, when set, replaces root/usr types by those of that
	// architecture (--architecture=).
	Architecture string
	// Specifiers expand %-specifiers in Label=, CopyBlocks=, ... (system
	// and temporary-directory specifiers).
	Specifiers specifier.Table
	// Warn receives warnings and notices, already prefixed "FILE:LINE: ".
	Warn func(msg string)
}

func (o *Options) warn(file string, line int, msg string) {
	if o.Warn != nil {
		o.Warn(fmt.Sprintf("%s:%d: %s", file, line, msg))
	}
}

// maxPath mirrors PATH_MAX for specifier expansion of paths.
const maxPath = 4096

// Load finds the *.conf files of the definition directories, in repart's
// order (byte order of basenames; for equal basenames the earlier
// directory wins; files that are empty or symlinks to /dev/null mask
// the name), and parses each with its drop-ins.
func Load(dirs []string, opts Options) ([]*Partition, error) {
	files, err := listConf(dirs, ".conf", "")
	if err != nil {
		return nil, err
	}
	var parts []*Partition
	for _, f := range files {
		dropins, err := listConf(dirs, ".conf", filepath.Base(f)+".d")
		if err != nil {
			return nil, err
		}
		p, err := ParseFile(f, dropins, opts)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// listConf returns the unmasked files named *suffix in DIR/sub for every
// DIR, sorted by basename, earlier directories overriding later ones.
func listConf(dirs []string, suffix, sub string) ([]string, error) {
	found := map[string]string{}
	masked := map[string]bool{}
	for _, d := range dirs {
		dir := filepath.Join(d, sub)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading definitions directory %s: %w", dir, err)
		}
		for _, e := range entries {
			name := e.Name()
			if !strings.HasSuffix(name, suffix) || strings.HasPrefix(name, ".") {
				continue
			}
			if _, seen := found[name]; seen || masked[name] {
				continue
			}
			full := filepath.Join(dir, name)
			st, err := os.Stat(full)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // dangling symlink
				}
				return nil, fmt.Errorf("checking definition %s: %w", full, err)
			}
			if isNullOrEmpty(full, st) {
				masked[name] = true
				continue
			}
			if !st.Mode().IsRegular() {
				continue
			}
			found[name] = full
		}
	}
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = found[n]
	}
	return out, nil
}

func isNullOrEmpty(p string, st os.FileInfo) bool {
	if st.Mode().IsRegular() && st.Size() == 0 {
		return true
	}
	if st.Mode()&os.ModeCharDevice != 0 {
		if null, err := os.Stat("/dev/null"); err == nil && os.SameFile(st, null) {
			return true
		}
	}
	return false
}

// ParseFile parses one definition with its drop-ins and applies repart's
// post-parse checks and defaults.
func ParseFile(file string, dropins []string, opts Options) (*Partition, error) {
	p := &Partition{
		Path:       file,
		DropIns:    dropins,
		SizeMin:    Unset,
		SizeMax:    Unset,
		PaddingMin: Unset,
		PaddingMax: Unset,
		Weight:     1000,
		ReadOnly:   TriUnset, NoAuto: TriUnset, GrowFileSystem: TriUnset,
		Encrypt:   "off",
		Verity:    "off",
		Minimize:  "off",
		SplitName: "%t",
		lines:     map[string]int{},
	}
	if opts.Types == nil {
		opts.Types = gpt.NewTable(gpt.NativeArchitecture())
	}
	typeSet := false
	for _, f := range append([]string{file}, dropins...) {
		as, err := readConf(f, opts.warn)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			if a.key == "Type" {
				typeSet = true
			}
			if err := p.assign(a, &opts); err != nil {
				return nil, err
			}
		}
	}
	if err := p.finish(typeSet, &opts); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Partition) errorf(key, format string, args ...any) error {
	line := p.lines[key]
	if line == 0 {
		line = 1
	}
	return &Error{File: p.Path, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// assign handles one Key=Value line.
func (p *Partition) assign(a assignment, o *Options) error {
	fatal := func(format string, args ...any) error {
		return &Error{File: a.file, Line: a.line, Msg: fmt.Sprintf(format, args...)}
	}
	warn := func(format string, args ...any) { o.warn(a.file, a.line, fmt.Sprintf(format, args...)) }
	v := a.value
	// resolvePath expands specifiers and checks a path as repart's
	// path_simplify_and_warn does; what it refuses is ignored with a warning.
	resolvePath := func(raw, what string, keepSlash bool) (string, bool) {
		s, err := specifier.Expand(raw, o.Specifiers, maxPath-1)
		if err != nil {
			warn("Failed to expand specifiers in %s, ignoring: %s", what, raw)
			return "", false
		}
		c, err := cleanPath(s, keepSlash)
		if err != nil {
			warn("%s= %v, ignoring: %s", a.key, err, s)
			return "", false
		}
		return c, true
	}
	expandPath := func() (string, bool) { return resolvePath(v, a.key+"=", false) }
	// An empty size is a parse error, not a reset: repart treats it so.
	sizeValue := func(dst *uint64, roundUp bool) error {
		n, err := ParseSize(v)
		if err != nil {
			return fatal("Failed to parse size value: %s", v)
		}
		r := n &^ 4095
		if roundUp && r != n {
			if n > Unset-4095 {
				return fatal("Failed to parse size value: %s", v)
			}
			r += 4096
		}
		if r != n {
			warn("Rounded %s= size %d → %d, a multiple of 4096.", a.key, n, r)
		}
		*dst = r
		return nil
	}
	tristate := func(dst *Tristate) {
		if v == "" {
			*dst = TriUnset
			return
		}
		b, err := parseBool(v)
		if err != nil {
			warn("Failed to parse boolean value for %s=, ignoring: %s", a.key, v)
			return
		}
		*dst = TriNo
		if b {
			*dst = TriYes
		}
	}
	blockSize := func(dst *uint64) error {
		n, err := ParseSize(v)
		if err != nil {
			return fatal("Failed to parse size value: %s", v)
		}
		if n < 512 || n > 4096 {
			return fatal("Value not between 512 and 4096: %s", v)
		}
		if n&(n-1) != 0 {
			return fatal("Value not a power of 2: %s", v)
		}
		*dst = n
		return nil
	}
	pathList := func(dst *[]string, keepSlash bool) {
		if v == "" {
			*dst = nil
			return
		}
		words, err := splitWords(v)
		if err != nil {
			warn("Invalid syntax, ignoring: %s", v)
			return
		}
		for _, w := range words {
			if s, ok := resolvePath(w, a.key+"=", keepSlash); ok && !contains(*dst, s) {
				*dst = append(*dst, s)
			}
		}
	}

	key := a.key
	switch key {
	case "Type":
		t, err := o.Types.Parse(v)
		if err != nil {
			return fatal("Failed to parse partition type: %s", v)
		}
		if o.Architecture != "" {
			t = o.Types.OverrideArchitecture(t, o.Architecture)
		}
		p.Type = t
	case "Label":
		s, err := specifier.Expand(v, o.Specifiers, gpt.NameUnits)
		if err != nil {
			warn("Failed to expand specifiers in Label=, ignoring: %s", v)
			return nil
		}
		if !utf8.ValidString(s) {
			warn("Partition label not valid UTF-8, ignoring: %s", v)
			return nil
		}
		if len(utf16.Encode([]rune(s))) > gpt.NameUnits {
			warn("Partition label too long for GPT table, ignoring: \"%s\" (from \"%s\")", s, v)
			return nil
		}
		p.Label = &s
	case "UUID":
		switch v {
		case "":
			p.UUID = nil
		case "null":
			u := gpt.NilID
			p.UUID = &u
		default:
			u, err := gpt.ParseID(v)
			if err != nil {
				warn("Failed to parse 128-bit ID/UUID, ignoring: %s", v)
				return nil
			}
			p.UUID = &u
		}
	case "Priority":
		n, err := parseInt32(v)
		if err != nil {
			warn("Failed to parse Priority=%s, ignoring: %v", v, err)
			return nil
		}
		p.Priority = n
	case "Weight", "PaddingWeight":
		n, err := parseUint(v, 32)
		if err != nil {
			warn("Failed to parse weight value, ignoring: %s", v)
			return nil
		}
		if n > 1000*1000 {
			warn("Weight needs to be in range 0…10000000, ignoring: %d", n)
			return nil
		}
		if key == "Weight" {
			p.Weight = uint32(n)
		} else {
			p.PaddingWeight = uint32(n)
		}
	case "SizeMinBytes":
		if err := sizeValue(&p.SizeMin, false); err != nil {
			return err
		}
	case "SizeMaxBytes":
		if err := sizeValue(&p.SizeMax, true); err != nil {
			return err
		}
	case "PaddingMinBytes":
		if err := sizeValue(&p.PaddingMin, false); err != nil {
			return err
		}
	case "PaddingMaxBytes":
		if err := sizeValue(&p.PaddingMax, true); err != nil {
			return err
		}
	case "FactoryReset":
		b, err := parseBool(v)
		if err != nil {
			warn("Failed to parse boolean value for FactoryReset=, ignoring: %s", v)
			return nil
		}
		p.FactoryReset = b
	case "CopyBlocks":
		switch v {
		case "":
			p.CopyBlocks = ""
		case "auto":
			p.CopyBlocks = "auto"
		default:
			if s, ok := expandPath(); ok {
				p.CopyBlocks = s
			}
		}
	case "Format":
		if v == "" {
			p.Format = ""
			break
		}
		if strings.ContainsRune(v, '/') || v == "." || v == ".." || len(v) > 255 {
			return fatal("File system type is not valid, refusing: %s", v)
		}
		p.Format = v
	case "CopyFiles":
		if v == "" {
			p.CopyFiles = nil
			break
		}
		src, rest, _, err := extractWord(v, ':')
		if err != nil {
			return fatal("Failed to extract source path: %s", v)
		}
		dst, rest, ok, err := extractWord(rest, ':')
		if err != nil {
			return fatal("Failed to extract target path: %s", v)
		}
		if rest != "" {
			return fatal("Too many arguments: %s", v)
		}
		if !ok {
			dst = src
		}
		rs, ok := resolvePath(src, "CopyFiles= source", false)
		if !ok {
			return nil
		}
		rt, ok := resolvePath(dst, "CopyFiles= target", false)
		if !ok {
			return nil
		}
		p.CopyFiles = append(p.CopyFiles, CopyFile{Source: rs, Target: rt})
	case "ExcludeFiles":
		pathList(&p.ExcludeFiles, true)
	case "ExcludeFilesTarget":
		pathList(&p.ExcludeFilesTarget, true)
	case "MakeDirectories":
		pathList(&p.MakeDirectories, false)
	case "MakeSymlinks":
		if v == "" {
			p.MakeSymlinks = nil
			break
		}
		words, err := splitWords(v)
		if err != nil {
			warn("Invalid syntax, ignoring: %s", v)
			return nil
		}
		for _, w := range words {
			pth, target, ok := strings.Cut(w, ":")
			if !ok || target == "" {
				warn("Invalid MakeSymlinks= entry, ignoring: %s", w)
				continue
			}
			if rp, ok := resolvePath(pth, "MakeSymlinks=", false); ok {
				p.MakeSymlinks = append(p.MakeSymlinks, Symlink{Path: rp, Target: target})
			}
		}
	case "Subvolumes":
		pathList(&p.Subvolumes, false)
	case "DefaultSubvolume":
		p.DefaultSubvolume = v
	case "Encrypt":
		m, ok := map[string]string{"off": "off", "key-file": "key-file", "tpm2": "tpm2", "key-file+tpm2": "key-file+tpm2"}[v]
		if !ok {
			b, err := parseBool(v)
			if err != nil {
				warn("Failed to parse Encrypt= setting, ignoring: %s", v)
				return nil
			}
			m = "off"
			if b {
				m = "key-file"
			}
		}
		p.Encrypt = m
	case "Verity":
		switch v {
		case "off", "data", "hash", "signature":
			p.Verity = v
		default:
			warn("Invalid verity mode, ignoring: %s", v)
			return nil
		}
	case "VerityMatchKey":
		p.VerityMatchKey = v
	case "VerityDataBlockSizeBytes":
		if err := blockSize(&p.VerityDataBlockSize); err != nil {
			return err
		}
	case "VerityHashBlockSizeBytes":
		if err := blockSize(&p.VerityHashBlockSize); err != nil {
			return err
		}
	case "Flags":
		n, err := parseUint(v, 64)
		if err != nil {
			warn("Failed to parse Flags= value, ignoring: %s", v)
			return nil
		}
		p.Flags = n
	case "ReadOnly":
		tristate(&p.ReadOnly)
	case "NoAuto":
		tristate(&p.NoAuto)
	case "GrowFileSystem":
		tristate(&p.GrowFileSystem)
	case "SplitName":
		switch v {
		case "":
			p.SplitName = "%t"
		case "-":
			p.SplitName = ""
		default:
			p.SplitName = v
		}
	case "Minimize":
		switch v {
		case "off", "best", "guess":
			p.Minimize = v
		default:
			b, err := parseBool(v)
			if err != nil {
				warn("Failed to parse Minimize= parameter, ignoring: %s", v)
				return nil
			}
			p.Minimize = "off"
			if b {
				p.Minimize = "best"
			}
		}
	case "MountPoint":
		if v == "" {
			p.MountPoints = nil
		} else {
			p.MountPoints = append(p.MountPoints, v)
		}
	case "EncryptedVolume":
		p.EncryptedVolume = v
	case "Compression":
		p.Compression = v
	case "CompressionLevel":
		p.CompressionLevel = v
	case "SupplementFor":
		p.SupplementFor = v
	default:
		if !strings.HasPrefix(key, "X-") {
			warn("Unknown key '%s' in section [Partition], ignoring.", key)
		}
		return nil
	}
	p.lines[key] = a.line
	return nil
}

// populates reports whether the definition puts files into a file system.
func (p *Partition) populates() bool {
	return len(p.CopyFiles) > 0 || len(p.MakeDirectories) > 0 || len(p.MakeSymlinks) > 0
}

// finish applies repart's post-parse checks and defaults, in repart's order.
func (p *Partition) finish(typeSet bool, o *Options) error {
	if p.SizeMin != Unset && p.SizeMax != Unset && p.SizeMin > p.SizeMax {
		return p.errorf("SizeMinBytes", "SizeMinBytes= larger than SizeMaxBytes=, refusing.")
	}
	if p.PaddingMin != Unset && p.PaddingMax != Unset && p.PaddingMin > p.PaddingMax {
		return p.errorf("PaddingMinBytes", "PaddingMinBytes= larger than PaddingMaxBytes=, refusing.")
	}
	// The null type marks unused GPT entries; repart treats it as unset.
	if !typeSet || p.Type.UUID == gpt.NilID {
		return &Error{File: p.Path, Line: 1, Msg: "Type= not defined, refusing."}
	}
	if p.CopyBlocks != "" && (p.Format != "" || p.populates()) {
		return p.errorf("CopyBlocks", "Format=/CopyFiles=/MakeDirectories=/MakeSymlinks= and CopyBlocks= cannot be combined, refusing.")
	}
	if p.Format == "swap" && p.populates() {
		return p.errorf("Format", "Format=swap and CopyFiles=/MakeDirectories=/MakeSymlinks= cannot be combined, refusing.")
	}
	if p.Format == "" {
		switch {
		case p.Type.Designator == gpt.Swap:
			p.Format = "swap"
		case p.populates() || (p.Encrypt != "off" && p.CopyBlocks == ""):
			p.Format = "ext4"
			if p.Type.Designator == gpt.ESP || p.Type.Designator == gpt.XBootLdr {
				p.Format = "vfat"
			}
		}
	}
	if p.Minimize != "off" && p.Format == "" && p.Verity != "hash" {
		return p.errorf("Minimize", "Minimize= can only be enabled if Format= or Verity=hash are set.")
	}
	// repart allows best only where it can build once and measure; our
	// writers compute the exact minimum of ext2/3/4 without building.
	if p.Minimize == "best" && !ReadOnlyFS(p.Format) && !WritesFS(p.Format) && p.Verity != "hash" {
		return p.errorf("Minimize", "Minimize=best can only be used with read-only filesystems or Verity=hash.")
	}
	if ReadOnlyFS(p.Format) && !p.populates() {
		return p.errorf("Format", "Cannot format %s filesystem without source files, refusing.", p.Format)
	}
	if p.Verity != "off" || p.VerityMatchKey != "" {
		if p.Verity != "off" && p.VerityMatchKey == "" {
			return p.errorf("Verity", "VerityMatchKey= must be set if Verity=%s.", p.Verity)
		}
		if p.Verity == "off" && p.VerityMatchKey != "" {
			return p.errorf("VerityMatchKey", "VerityMatchKey= can only be set if Verity= is not \"off\".")
		}
		if (p.Verity == "hash" || p.Verity == "signature") && (p.CopyBlocks != "" || p.Format != "" || p.populates()) {
			return p.errorf("Verity", "CopyBlocks=/CopyFiles=/Format=/MakeDirectories=/MakeSymlinks= cannot be used with Verity=%s.", p.Verity)
		}
		if p.Verity != "off" && p.Encrypt != "off" {
			return p.errorf("Verity", "Encrypting verity hash/data partitions is not supported.")
		}
		if p.Verity == "signature" && (p.SizeMin != Unset || p.SizeMax != Unset) {
			return p.errorf("Verity", "SizeMinBytes=/SizeMaxBytes= cannot be used with Verity=signature.")
		}
	}
	if p.DefaultSubvolume != "" && !contains(p.Subvolumes, p.DefaultSubvolume) {
		return p.errorf("DefaultSubvolume", "DefaultSubvolume= must be one of the paths in Subvolumes=.")
	}
	if p.ReadOnly == TriUnset && (p.Type.IsVerity() || p.Verity == "data") {
		p.ReadOnly = TriYes
	}
	// repart turns GrowFileSystem= on for every type that knows it unless the
	// partition is read-only, overriding an explicit "no". Images made by
	// repart carry the bit, so ours do too.
	if p.Type.KnowsGrowFS() && p.ReadOnly != TriYes {
		p.GrowFileSystem = TriYes
	}
	return p.unsupported()
}

// WritesFS reports whether hermetic-repart writes and populates file
// systems of the Format= value fs itself.
func WritesFS(fs string) bool {
	switch fs {
	case "ext2", "ext3", "ext4", "vfat":
		return true
	}
	return false
}

// unsupported refuses, by name, what hermetic-repart cannot build yet.
// Populate settings (CopyFiles=, MakeDirectories=, ...) need no check of
// their own: they imply Format=ext4 or vfat (rule 6 above), which we write.
func (p *Partition) unsupported() error {
	refuse := func(key, what string) error {
		return p.errorf(key, "%s is not supported by hermetic-repart yet, refusing.", what)
	}
	switch {
	case p.Encrypt != "off":
		return refuse("Encrypt", "Encrypt="+p.Encrypt)
	case p.Verity != "off":
		return refuse("Verity", "Verity="+p.Verity)
	case len(p.Subvolumes) > 0 || p.DefaultSubvolume != "":
		return refuse("Subvolumes", "Subvolumes= (btrfs)")
	case p.SupplementFor != "":
		return refuse("SupplementFor", "SupplementFor=")
	case p.CopyBlocks == "auto":
		return refuse("CopyBlocks", "CopyBlocks=auto (copying from the running system)")
	case p.Minimize != "off" && !WritesFS(p.Format):
		return refuse("Minimize", "Minimize="+p.Minimize+" with Format="+p.Format)
	case p.Format != "" && p.Format != "swap" && !WritesFS(p.Format):
		return refuse("Format", "Format="+p.Format)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
