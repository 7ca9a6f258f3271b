// Package repart is the image-building pipeline: it reads definitions,
// derives identifiers from the seed, lays out the partitions and writes
// the image (and split files) so that they appear only when complete.
package repart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/hermetic-repart/hermetic-repart/compress"
	"github.com/hermetic-repart/hermetic-repart/definition"
	"github.com/hermetic-repart/hermetic-repart/gpt"
	"github.com/hermetic-repart/hermetic-repart/layout"
	"github.com/hermetic-repart/hermetic-repart/mkfs/swap"
	"github.com/hermetic-repart/hermetic-repart/progress"
	"github.com/hermetic-repart/hermetic-repart/seedrand"
	"github.com/hermetic-repart/hermetic-repart/specifier"
)

// Empty modes of --empty=.
const (
	EmptyRefuse  = "refuse"
	EmptyAllow   = "allow"
	EmptyRequire = "require"
	EmptyForce   = "force"
	EmptyCreate  = "create"
)

// DefaultDefinitionDirs are searched when no --definitions= is given.
var DefaultDefinitionDirs = []string{"/etc/repart.d", "/run/repart.d", "/usr/local/lib/repart.d", "/usr/lib/repart.d"}

// Options are the inputs of one build (the CLI flags).
type Options struct {
	Definitions []string // directories; DefaultDefinitionDirs if empty
	Image       string
	Empty       string // one of the Empty* modes; EmptyRefuse if ""
	Size        uint64 // requested image size; 0 if not given
	SizeAuto    bool
	// Seed is the key of every derived ID. Nil means the machine ID
	// (MachineIDPath), or a random seed if there is none.
	Seed          *seedrand.Seed
	RandomSeed    bool // --seed=random: derived IDs may not be reproducible
	MachineIDPath string
	DryRun        bool
	Split         bool
	SectorSize    int    // 0: 512
	Architecture  string // --architecture=, "" for none
	// Discard=false preallocates the image instead of leaving it sparse.
	NoDiscard       bool
	DeferPartitions []string // type names or UUIDs (--defer-partitions=)
	// CopySource is --copy-source=: CopyFiles= and ExcludeFiles= sources
	// resolve below it ("" means "/").
	CopySource string
	// KeepOwnership (--keep-ownership) keeps the sources' uid and gid in
	// the file systems; otherwise everything is owned by 0:0.
	KeepOwnership bool
	// SourceDateEpoch is SOURCE_DATE_EPOCH when set: later source times
	// are clamped to it and it is the time of everything created.
	SourceDateEpoch *int64
	// Compress, when set, also writes IMAGE.zst or IMAGE.xz (and one per
	// split file), compressed while the image is built. Without KeepRaw
	// the raw files are then not kept: an existing image at the path is
	// left as it was.
	Compress *compress.Options
	KeepRaw  bool
	// Progress, when set, is told about the long phases as they run.
	Progress *progress.Board
	// Log receives informational messages and warnings (stderr).
	Log func(msg string)
}

// Partition is one definition's outcome.
type Partition struct {
	Def      *definition.Partition
	Type     gpt.Type
	Label    string
	UUID     uuid.UUID
	FSUUID   uuid.UUID // file system / swap UUID
	PartNo   int       // -1 when dropped
	Offset   uint64
	Size     uint64
	Padding  uint64
	Flags    uint64 // attribute field as written to the GPT
	Dropped  bool
	Deferred bool
	// Node is the partition's device-style name (image path + number).
	Node string
	// SplitPath is the split file written for it ("" for none).
	SplitPath string
}

// Result describes the image that was (or, in dry-run mode, would be)
// written.
type Result struct {
	Node       string // the image path as repart reports it
	Size       uint64
	SectorSize int
	DiskGUID   uuid.UUID
	Partitions []*Partition
	Written    bool
	// Artifacts are the files written, by path.
	Artifacts []Artifact
}

// ExitError carries a specific exit status (77: no GPT with --empty=refuse).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ErrNothingToDo means there are no definitions and --empty=refuse asks
// for no new partition table: repart then exits successfully.
var ErrNothingToDo = errors.New("Didn't find any partition definition files, nothing to do.")

// NoFitError is repart's refusal when the partitions do not fit: its
// message is repart's two lines, the minimal image size last.
type NoFitError struct {
	LargestFree, MinimalSize, CurrentSize uint64
}

func (e *NoFitError) Error() string {
	return fmt.Sprintf("Can't fit requested partitions into available free space (%s), refusing.\n"+
		"Automatically determined minimal disk image size as %s, current image size is %s.",
		FormatBytes(e.LargestFree), FormatBytes(e.MinimalSize), FormatBytes(e.CurrentSize))
}

type build struct {
	o       Options
	types   *gpt.Table
	log     func(string)
	seed    seedrand.Seed
	parts   []*Partition
	size    uint64 // image size in bytes
	cur     uint64 // size of the existing file
	ss      int
	node    string
	disk    *gpt.Disk // existing empty table to reuse, or nil
	blocks  map[*Partition]*os.File
	content map[*Partition]*content

	artifacts []Artifact
	// discarded, when set, sees every range the reclaimer frees (tests).
	discarded func(off, n int64)
}

// Build runs the pipeline. Files are written only when o.DryRun is false.
func Build(ctx context.Context, o Options) (*Result, error) {
	p, err := NewPlan(ctx, o)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if o.DryRun {
		return p.Result, nil
	}
	if err := p.Write(ctx); err != nil {
		return nil, err
	}
	return p.Result, nil
}

// Plan is a laid-out image that has not been written yet.
type Plan struct {
	Result *Result
	b      *build
}

// NewPlan reads the definitions, derives the IDs, scans the sources of
// the file systems and lays out the image and every file system in it,
// without writing anything.
func NewPlan(ctx context.Context, o Options) (*Plan, error) {
	b := &build{o: o, log: o.Log, blocks: map[*Partition]*os.File{}, content: map[*Partition]*content{}}
	if b.log == nil {
		b.log = func(string) {}
	}
	if err := b.prepare(); err != nil {
		b.close()
		return nil, err
	}
	if err := b.plan(ctx); err != nil {
		b.close()
		return nil, err
	}
	res := &Result{Node: b.node, Size: b.size, SectorSize: b.ss, DiskGUID: b.diskGUID(), Partitions: b.parts}
	return &Plan{Result: res, b: b}, nil
}

// Write writes the image and split files; they appear only when complete.
func (p *Plan) Write(ctx context.Context) error {
	if err := p.b.write(ctx); err != nil {
		return err
	}
	p.Result.Written = true
	p.Result.Artifacts = p.b.artifacts
	return nil
}

// Close releases the CopyBlocks= sources.
func (p *Plan) Close() { p.b.close() }

func (b *build) close() {
	for _, f := range b.blocks {
		f.Close()
	}
	b.blocks = nil
}

func (b *build) diskGUID() uuid.UUID {
	if b.disk != nil {
		return b.disk.GUID
	}
	return b.seed.DiskGUID()
}

// prepare validates the options, reads the definitions and the seed, and
// looks at the target file.
func (b *build) prepare() error {
	o := &b.o
	if o.Image == "" {
		return errors.New("a path to an image file is required")
	}
	if o.Empty == "" {
		o.Empty = EmptyRefuse
	}
	b.ss = o.SectorSize
	if b.ss == 0 {
		b.ss = 512
	}
	if !gpt.ValidSectorSize(b.ss) {
		return fmt.Errorf("Sector size not between 512 and 4096 or not a power of 2: %d", b.ss)
	}
	if o.Empty == EmptyCreate && o.Size == 0 && !o.SizeAuto {
		return errors.New("If --empty=create is specified, --size= must be specified, too.")
	}
	native := gpt.NativeArchitecture()
	b.types = gpt.NewTable(native)
	if o.Architecture != "" && !gpt.ValidArchitecture(o.Architecture) {
		return fmt.Errorf("Invalid architecture '%s'.", o.Architecture)
	}
	dirs := o.Definitions
	if len(dirs) == 0 {
		dirs = DefaultDefinitionDirs
	}
	var absDirs []string
	seen := map[string]bool{}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		a, err := filepath.Abs(d)
		if err != nil {
			return fmt.Errorf("definitions directory %s: %w", d, err)
		}
		if !seen[a] {
			seen[a] = true
			absDirs = append(absDirs, a)
		}
	}
	host := specifier.Host{Arch: native}
	defs, err := definition.Load(absDirs, definition.Options{
		Types:        b.types,
		Architecture: o.Architecture,
		Specifiers:   host.System(true),
		Warn:         b.log,
	})
	if err != nil {
		return err
	}
	if len(defs) == 0 && o.Empty == EmptyRefuse {
		return ErrNothingToDo
	}
	deferred := map[uuid.UUID]bool{}
	for _, name := range o.DeferPartitions {
		t, err := b.types.Parse(name)
		if err != nil {
			return fmt.Errorf("Failed to parse partition type in --defer-partitions=: %s", name)
		}
		if o.Architecture != "" {
			t = b.types.OverrideArchitecture(t, o.Architecture)
		}
		deferred[t.UUID] = true
	}
	for _, d := range defs {
		b.parts = append(b.parts, &Partition{Def: d, Type: d.Type, Deferred: deferred[d.Type.UUID], PartNo: -1})
	}
	if err := b.readSeed(); err != nil {
		return err
	}
	return b.openTarget()
}

func (b *build) readSeed() error {
	switch {
	case b.o.Seed != nil:
		b.seed = *b.o.Seed
	default:
		p := b.o.MachineIDPath
		if p == "" {
			p = "/etc/machine-id"
		}
		s, err := seedrand.MachineID(p)
		if errors.Is(err, seedrand.ErrNoMachineID) {
			b.log("No machine ID set, using randomized partition UUIDs.")
			s, err = seedrand.Random()
			b.o.RandomSeed = true
		}
		if err != nil {
			return err
		}
		b.seed = s
	}
	return nil
}

// openTarget checks the image file against --empty= and finds its size.
func (b *build) openTarget() error {
	img := b.o.Image
	st, err := os.Stat(img)
	if b.o.Empty == EmptyCreate {
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			if err == nil {
				err = os.ErrExist
			}
			return fmt.Errorf("Failed to create '%s': %w", img, unwrapPathError(err))
		}
		b.node = img
		return nil
	}
	if err != nil {
		return fmt.Errorf("Failed to open file or determine backing device of %s: %w", img, unwrapPathError(err))
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file: hermetic-repart writes image files, not devices", img)
	}
	if abs, err := filepath.Abs(img); err == nil {
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		b.node = abs
	} else {
		b.node = img
	}
	b.cur = uint64(st.Size())
	if b.o.Empty == EmptyForce {
		return nil
	}
	f, err := os.Open(img)
	if err != nil {
		return fmt.Errorf("opening %s: %w", img, err)
	}
	defer f.Close()
	d, err := gpt.Read(f, st.Size(), b.ss)
	switch {
	case errors.Is(err, gpt.ErrNoGPT):
		if b.o.Empty == EmptyRefuse {
			return &ExitError{Code: 77, Err: fmt.Errorf("Disk %s has no GPT disk label, not repartitioning.", b.node)}
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading partition table of %s: %w", img, err)
	}
	if b.o.Empty == EmptyRequire {
		return &ExitError{Code: 77, Err: fmt.Errorf("Disk %s already has a disk label, refusing.", b.node)}
	}
	for _, e := range d.Entries {
		if e.Used() {
			return fmt.Errorf("%s already has partitions: hermetic-repart builds images from scratch and does not grow existing partition tables (use --empty=force to replace it)", img)
		}
	}
	b.disk = d
	return nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// plan derives IDs and labels, sizes the image and places the partitions.
func (b *build) plan(ctx context.Context) error {
	if err := b.acquireIDs(); err != nil {
		return err
	}
	if err := b.scanContent(ctx); err != nil {
		return err
	}
	reqs := make([]layout.Request, len(b.parts))
	for i, p := range b.parts {
		r, err := b.request(p)
		if err != nil {
			return err
		}
		reqs[i] = r
	}
	b.size = b.cur
	if b.o.Size > 0 {
		b.size = max(b.size, b.o.Size)
	}
	if b.o.SizeAuto {
		auto := layout.AutoSize(reqs, nil)
		if b.cur > 0 {
			b.log(fmt.Sprintf("Automatically determined minimal disk image size as %s, current image size is %s.", FormatBytes(auto), FormatBytes(b.cur)))
		} else {
			b.log(fmt.Sprintf("Automatically determined minimal disk image size as %s.", FormatBytes(auto)))
		}
		b.size = max(b.size, auto)
	}
	if b.size == 0 {
		return fmt.Errorf("%s is empty: give its size with --size=", b.o.Image)
	}
	disk, err := b.table()
	if err != nil {
		return err
	}
	ss := uint64(b.ss)
	start := (disk.FirstUsableLBA*ss + layout.Grain - 1) &^ (layout.Grain - 1)
	end := ((disk.LastUsableLBA + 1) * ss) &^ (layout.Grain - 1)
	placed, err := layout.Plan(reqs, start, end, func(i int) {
		b.parts[i].Dropped = true
		b.log(fmt.Sprintf("Can't fit partition %s of priority %d, dropping.", b.parts[i].Def.Path, b.parts[i].Def.Priority))
	})
	if err != nil {
		var nf *layout.NoFitError
		if errors.As(err, &nf) {
			dropped := make([]bool, len(b.parts))
			for i, p := range b.parts {
				dropped[i] = p.Dropped
			}
			return &NoFitError{LargestFree: nf.LargestFree, MinimalSize: layout.AutoSize(reqs, dropped), CurrentSize: b.size}
		}
		return err
	}
	for i, p := range b.parts {
		pl := placed[i]
		p.Dropped, p.PartNo, p.Offset, p.Size, p.Padding = pl.Dropped, pl.PartNo, pl.Offset, pl.Size, pl.Padding
		if !p.Dropped {
			p.Node = partName(b.node, p.PartNo+1)
		}
	}
	if err := b.checkSwap(); err != nil {
		return err
	}
	if err := b.layoutContent(ctx); err != nil {
		return err
	}
	return b.resolveSplitNames()
}

// table is the partition table the layout starts from: the existing empty
// one, or a fresh one for the final size.
func (b *build) table() (*gpt.Disk, error) {
	d, err := gpt.Fresh(b.size, b.ss, b.diskGUID())
	if err != nil {
		return nil, err
	}
	if b.disk != nil {
		// libfdisk keeps the first usable LBA of a table it resizes.
		d.FirstUsableLBA = b.disk.FirstUsableLBA
	}
	return d, nil
}

// partName appends a partition number to a device or image name, with a
// "p" in between if the name ends in a digit (as libfdisk names them).
func partName(node string, n int) string {
	if node != "" && node[len(node)-1] >= '0' && node[len(node)-1] <= '9' {
		return fmt.Sprintf("%sp%d", node, n)
	}
	return fmt.Sprintf("%s%d", node, n)
}

// acquireIDs gives every partition its UUID, file system UUID, label and
// attribute flags, in definition order.
func (b *build) acquireIDs() error {
	explicit := map[uuid.UUID]*Partition{}
	for _, p := range b.parts {
		if p.Def.UUID != nil && *p.Def.UUID != uuid.Nil {
			if q, dup := explicit[*p.Def.UUID]; dup {
				return fmt.Errorf("%s and %s both set UUID=%s; partition UUIDs must be unique", q.Def.Path, p.Def.Path, *p.Def.UUID)
			}
			explicit[*p.Def.UUID] = p
		}
	}
	for i, p := range b.parts {
		var k uint64
		for _, q := range b.parts[:i] {
			if q.Type.UUID == p.Type.UUID {
				k++
			}
		}
		derived := b.seed.PartitionUUID(p.Type.UUID, k)
		if p.Def.UUID != nil {
			p.UUID = *p.Def.UUID
		} else {
			p.UUID = derived
			if q, taken := explicit[derived]; taken && q != p {
				if !b.o.RandomSeed {
					return fmt.Errorf("%s: the UUID derived from the seed (%s) is already set with UUID= by %s; set UUID= for one of them", p.Def.Path, derived, q.Def.Path)
				}
				b.log(fmt.Sprintf("Partition UUID calculated from seed for partition %s already used, reverting to randomized UUID.", p.Def.Path))
				p.UUID = uuid.New()
			}
		}
		p.FSUUID = seedrand.FileSystemUUID(p.UUID)
		if p.Def.Label != nil {
			p.Label = *p.Def.Label
		} else {
			p.Label = uniqueLabel(p.Type, b.parts[:i])
		}
		p.Flags = gpt.FdiskAttributes(p.Def.MergedFlags(b.log))
	}
	return nil
}

// uniqueLabel is the type's name, or "linux" for unknown types, with
// "-2", "-3", ... appended while an earlier partition has that label.
func uniqueLabel(t gpt.Type, earlier []*Partition) string {
	prefix := t.Name
	if prefix == "" {
		prefix = "linux"
	}
	cand := prefix
	for n := 2; ; n++ {
		taken := false
		for _, q := range earlier {
			if q.Label == cand {
				taken = true
				break
			}
		}
		if !taken {
			return cand
		}
		cand = fmt.Sprintf("%s-%d", prefix, n)
	}
}

// fsMinSize is the smallest file system repart's mkfs can make of a type.
func fsMinSize(format string) uint64 {
	switch format {
	case "":
		return 0
	case "ext2", "ext3", "ext4":
		return 32 << 20
	case "btrfs":
		return 256 << 20
	case "xfs":
		return 300 << 20
	}
	return layout.Unset
}

// request turns a definition into a layout request, opening CopyBlocks=
// sources to learn their sizes.
func (b *build) request(p *Partition) (layout.Request, error) {
	d := p.Def
	r := layout.Request{
		SizeMin: d.SizeMin, SizeMax: d.SizeMax,
		PaddingMin: d.PaddingMin, PaddingMax: d.PaddingMax,
		Weight: d.Weight, PaddingWeight: d.PaddingWeight,
		Priority:        d.Priority,
		FSMinSize:       fsMinSize(d.Format),
		Encrypted:       d.Encrypt != "off",
		SmallDefault:    definition.ReadOnlyFS(d.Format) || d.Verity != "off",
		VeritySigType:   p.Type.IsVeritySig(),
		VeritySignature: d.Verity == "signature",
	}
	if c := b.content[p]; c != nil && c.minimized > 0 {
		r.ContentSize = c.minimized
	}
	if d.CopyBlocks != "" {
		f, size, err := openCopyBlocks(d.CopyBlocks)
		if err != nil {
			return r, fmt.Errorf("%s: CopyBlocks=%s: %w", d.Path, d.CopyBlocks, err)
		}
		b.blocks[p] = f
		r.ContentSize = size
	}
	return r, nil
}

func openCopyBlocks(path string) (*os.File, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, errors.New("not a regular file (block devices and directories are not supported)")
	}
	size := uint64(st.Size())
	if size == 0 {
		f.Close()
		return nil, 0, errors.New("source is empty, refusing")
	}
	if size%512 != 0 {
		f.Close()
		return nil, 0, fmt.Errorf("has size that is not multiple of 512 (%d bytes), refusing", size)
	}
	return f, size, nil
}

// checkSwap refuses swap partitions mkswap could not format.
func (b *build) checkSwap() error {
	for _, p := range b.parts {
		if p.Dropped || p.Deferred || p.Def.Format != "swap" {
			continue
		}
		if p.Size < swap.MinPages*swap.PageSize {
			return fmt.Errorf("%s: swap partition of %d bytes is too small: a swap area needs at least %d bytes (set SizeMinBytes=)", p.Def.Path, p.Size, swap.MinPages*swap.PageSize)
		}
	}
	return nil
}

// mangleLabel cuts a label to at most n bytes without splitting a UTF-8
// character, as repart does for ext4 (16) and swap (15) labels.
func mangleLabel(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && (s[i]&0xc0) == 0x80 {
		i--
	}
	return s[:i]
}

// splitTable is the specifier table of SplitName=.
func (b *build) splitTable(p *Partition) specifier.Table {
	t := specifier.Host{Arch: gpt.NativeArchitecture()}.System(false)
	t['t'] = func() (string, error) { return p.Type.String(), nil }
	t['T'] = func() (string, error) { return strings.ReplaceAll(p.Type.UUID.String(), "-", ""), nil }
	t['U'] = func() (string, error) { return strings.ReplaceAll(p.UUID.String(), "-", ""), nil }
	t['n'] = func() (string, error) { return fmt.Sprint(p.PartNo), nil }
	return t
}

// resolveSplitNames computes the split file of every partition when
// --split=yes and refuses duplicates and existing files up front, so that
// nothing is written when splitting would fail.
func (b *build) resolveSplitNames() error {
	if !b.o.Split {
		return nil
	}
	dir, base := filepath.Split(b.node)
	ext := ""
	if strings.HasSuffix(base, ".raw") {
		base, ext = strings.TrimSuffix(base, ".raw"), ".raw"
	}
	byName := map[string]*Partition{}
	for _, p := range b.parts {
		if p.Dropped || p.Deferred || p.Def.SplitName == "" {
			continue
		}
		s, err := specifier.Expand(p.Def.SplitName, b.splitTable(p), 255)
		if err != nil {
			return fmt.Errorf("%s: Failed to resolve specifiers in %s: %w", p.Def.Path, p.Def.SplitName, err)
		}
		name := dir + base + "." + s + ext
		if strings.Contains(s, "/") || len(filepath.Base(name)) > 255 {
			return fmt.Errorf("%s: split name %q is not a valid file name", p.Def.Path, s)
		}
		if q, dup := byName[name]; dup {
			return fmt.Errorf("%s and %s have the same resolved split name \"%s\", refusing.", q.Def.Path, p.Def.Path, name)
		}
		byName[name] = p
		p.SplitPath = name
		if _, err := os.Lstat(name); err == nil {
			return fmt.Errorf("Failed to create split file %s: %w", name, os.ErrExist)
		}
	}
	return nil
}

// section is the part of the image that belongs to one partition; writes
// outside it are refused, so a writer can never touch a neighbour.
type section struct {
	w interface {
		WriteAt([]byte, int64) (int, error)
	}
	off, size int64
}

func (s *section) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > s.size {
		return 0, fmt.Errorf("write of %d bytes at %d outside partition of %d bytes", len(p), off, s.size)
	}
	return s.w.WriteAt(p, s.off+off)
}
