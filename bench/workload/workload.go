// Package workload generates a deterministic, distro-like source tree for
// the file-system benchmarks: many small files and a long tail of large
// ones, a few sparse files, a few flat directories of 10k+ entries, deep
// nesting, short and long symlinks, hard links, user.* extended
// attributes, and modes including setuid, setgid and sticky.
//
// The same Params give the same tree (names, contents, modes, mtimes,
// xattrs, link structure) on every run and host: the tree is planned in
// memory from a seeded generator first, then written. Only ownership (the
// invoking user) and the on-disk allocation of the sources are outside
// its control.
package workload

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Params choose the size of the tree.
type Params struct {
	// Entries is the number of names below the root: directories,
	// regular files, symlinks and hard-link names. At least MinEntries.
	Entries int
	// Bytes is the number of data bytes of regular files (each inode
	// once; holes of the sparse files are not counted).
	Bytes int64
	// Seed selects one tree among the trees of this size.
	Seed uint64
	// NoXattrs leaves out the extended attributes, for sources on file
	// systems without user.* xattrs.
	NoXattrs bool
}

// MinEntries is the smallest tree Plan accepts: below it the fixed
// skeleton would be most of the tree.
const MinEntries = 100

// Default is a tree of about the size of a small distribution's /usr.
func Default() Params { return Params{Entries: 60000, Bytes: 1 << 30, Seed: 1} }

// Kind is the type of a planned node.
type Kind uint8

const (
	Dir Kind = iota + 1
	File
	Symlink
	HardLink // another name for an earlier File
)

// Xattr is one extended attribute.
type Xattr struct {
	Name  string
	Value []byte
}

// Chunk is a data range of a sparse file.
type Chunk struct{ Off, Len int64 }

// Node is one planned name.
type Node struct {
	Name string
	Kind Kind
	// Mode holds the permission bits, with setuid, setgid and sticky.
	Mode          uint32
	MtimeSec      int64
	MtimeNsec     int64
	Size          int64   // apparent size of a File
	Chunks        []Chunk // data ranges of a sparse File; nil: all of Size
	PoolOff       int64   // where a File's content starts in the pool
	Target        string  // Symlink target
	Link          *Node   // HardLink: the File it names
	Xattrs        []Xattr
	Children      []*Node // Dir entries, in creation order
	Parent        *Node
	childCounter  int  // unique suffixes of the children's names
	big, skeleton bool // a flat 10k+ directory; a fixed distro directory
}

// Path is the node's path relative to the root ("" for the root).
func (n *Node) Path() string {
	if n.Parent == nil {
		return ""
	}
	if p := n.Parent.Path(); p != "" {
		return p + "/" + n.Name
	}
	return n.Name
}

// DataBytes is the number of non-hole bytes of a File.
func (n *Node) DataBytes() int64 {
	if n.Chunks == nil {
		return n.Size
	}
	var s int64
	for _, c := range n.Chunks {
		s += c.Len
	}
	return s
}

// Tree is a planned tree.
type Tree struct {
	Params Params
	Root   *Node
	Stats  Stats
}

// Stats describe a planned tree.
type Stats struct {
	Entries       int   `json:"entries"`
	Dirs          int   `json:"dirs"` // without the root
	Files         int   `json:"files"`
	Sparse        int   `json:"sparse"`
	Symlinks      int   `json:"symlinks"`
	HardLinks     int   `json:"hard_links"`
	Xattrs        int   `json:"xattrs"`
	DataBytes     int64 `json:"data_bytes"`
	ApparentBytes int64 `json:"apparent_bytes"`
	SmallFiles    int   `json:"small_files"` // under 4 KiB
	LargestFile   int64 `json:"largest_file"`
	LargestDir    int   `json:"largest_dir"`
	BigDirs       int   `json:"big_dirs"` // 10k entries or more
	MaxDepth      int   `json:"max_depth"`
}

// Size classes of regular files, before the byte budget scales the tail.
const (
	smallLimit = 4 << 10  // "small": under one block
	tailStart  = 64 << 10 // files from here on take the rest of the budget
	maxFile    = 96 << 20 // no single file above this (unless the budget forces it)
)

// The skeleton every tree starts from; bin directories hold executables.
var skeleton = []string{
	"etc", "etc/default", "etc/systemd", "etc/systemd/system",
	"usr", "usr/bin", "usr/sbin", "usr/lib", "usr/libexec", "usr/include",
	"usr/share", "usr/share/doc", "usr/share/man", "usr/lib/modules",
	"var", "var/lib", "var/cache", "var/log", "opt", "srv", "var/spool",
}

// Flat directories, in the order they are used.
var bigDirNames = []string{
	"usr/share/man/man3", "usr/lib/python3/site-packages", "usr/share/locale",
	"usr/share/icons/hicolor", "usr/lib/firmware", "usr/share/zoneinfo",
	"usr/include/linux", "usr/share/perl5",
}

var words = strings.Fields(`lib core util gnome kde qt gtk x11 xcb perl python ruby
	boost glib dbus systemd udev kmod crypt ssl tls zlib bz2 lzma zstd xml json yaml
	icu font config data cache share doc man locale sound video audio net http dns
	mail print scan disk fs block bus usb pci acpi power input kbd mouse gl vulkan
	mesa drm wayland sway term shell bash zsh vim emacs git svn make cmake ninja`)

var exts = []string{"", "", "", ".so", ".so.1", ".py", ".pyc", ".h", ".gz", ".conf",
	".txt", ".html", ".svg", ".png", ".mo", ".json", ".pm", ".ko.zst", ".service", ".1.gz"}

// Mtimes are drawn from the year starting at mtimeBase
// (2024-01-01T00:00:00Z), 70% of them with nanoseconds.
const mtimeBase = 1704067200

type planner struct {
	p    Params
	r    *rand.Rand
	root *Node
	// Directories that take ordinary entries, in creation order (shallow
	// ones first).
	dirs  []*Node
	files []*Node
}

// Plan decides the whole tree without touching the file system.
func Plan(p Params) (*Tree, error) {
	if p.Entries < MinEntries {
		return nil, fmt.Errorf("workload: %d entries; at least %d are needed", p.Entries, MinEntries)
	}
	if p.Bytes < 0 {
		return nil, fmt.Errorf("workload: negative byte count %d", p.Bytes)
	}
	pl := &planner{p: p, r: rand.New(rand.NewPCG(p.Seed, 0x7265706172742d62))}
	pl.root = &Node{Kind: Dir, Mode: 0o755, skeleton: true}
	pl.stamp(pl.root)
	t := &Tree{Params: p, Root: pl.root}
	pl.build()
	t.Stats = stats(t.Root)
	return t, nil
}

func (pl *planner) stamp(n *Node) {
	n.MtimeSec = mtimeBase + pl.r.Int64N(365*86400)
	if pl.r.IntN(10) < 7 {
		n.MtimeNsec = pl.r.Int64N(1e9)
	}
}

// mkdirAll creates the directories of path below the root that do not
// exist yet and returns the last; it counts what it created.
func (pl *planner) mkdirAll(path string, created *int) *Node {
	cur := pl.root
	for _, c := range strings.Split(path, "/") {
		var next *Node
		for _, ch := range cur.Children {
			if ch.Name == c {
				next = ch
				break
			}
		}
		if next == nil {
			next = pl.add(cur, &Node{Name: c, Kind: Dir, Mode: 0o755, skeleton: true})
			*created++
		}
		cur = next
	}
	return cur
}

func (pl *planner) add(parent, n *Node) *Node {
	n.Parent = parent
	parent.Children = append(parent.Children, n)
	if n.Kind != HardLink {
		pl.stamp(n)
	}
	return n
}

// name returns a new name, unique in dir: one to three words, the
// directory's counter in base 36, and an extension; a few are long or
// not ASCII.
func (pl *planner) name(dir *Node, ext bool) string {
	dir.childCounter++
	var b strings.Builder
	switch k := pl.r.IntN(400); {
	case k == 0: // long, as some generated names are
		for b.Len() < 120+pl.r.IntN(100) {
			b.WriteString(words[pl.r.IntN(len(words))])
			b.WriteByte('_')
		}
	case k == 1:
		b.WriteString("ünïcødé-名前-")
	default:
		for i := range 1 + pl.r.IntN(3) {
			if i > 0 {
				b.WriteByte("-_."[pl.r.IntN(3)])
			}
			b.WriteString(words[pl.r.IntN(len(words))])
		}
		b.WriteByte('-')
	}
	b.WriteString(strconv.FormatInt(int64(dir.childCounter), 36))
	if ext {
		b.WriteString(exts[pl.r.IntN(len(exts))])
	}
	return b.String()
}

// pickDir chooses a directory for an ordinary entry, favouring the
// earlier (shallower) ones, as real trees have a few crowded directories
// and many sparse ones.
func (pl *planner) pickDir() *Node {
	u := pl.r.Float64()
	return pl.dirs[int(float64(len(pl.dirs))*u*u)]
}

func (pl *planner) build() {
	E := pl.p.Entries
	nSparse := 3
	nHard := E / 200
	nSym := E * 12 / 100
	nDir := max(E*8/100, len(skeleton)+1)

	// Directories: the skeleton, the flat directories, one deep chain,
	// then random ones attached anywhere below the skeleton.
	madeDirs := 0
	for _, s := range skeleton {
		pl.dirs = append(pl.dirs, pl.mkdirAll(s, &madeDirs))
	}
	pl.dirs[len(pl.dirs)-1].Mode = 0o1777 // var/spool, world-writable with the sticky bit
	nBig, bigSize := bigDirs(E)
	var big []*Node
	for i := range nBig {
		path := fmt.Sprintf("usr/share/bulk-%d", i)
		if i < len(bigDirNames) {
			path = bigDirNames[i]
		}
		d := pl.mkdirAll(path, &madeDirs)
		d.big = true
		big = append(big, d)
	}
	// The deep chain, 32 levels below usr/share.
	deep := pl.dirs[slices.IndexFunc(pl.dirs, func(n *Node) bool { return n.Name == "share" })]
	for i := 0; i < 32 && madeDirs < nDir; i++ {
		deep = pl.add(deep, &Node{Name: "level-" + strconv.Itoa(i), Kind: Dir, Mode: 0o755})
		madeDirs++
		pl.dirs = append(pl.dirs, deep)
	}
	for madeDirs < nDir {
		parent := pl.dirs[pl.r.IntN(len(pl.dirs))]
		mode := uint32(0o755)
		switch pl.r.IntN(200) {
		case 0:
			mode = 0o700
		case 1:
			mode = 0o1777
		case 2:
			mode = 0o2775
		}
		d := pl.add(parent, &Node{Name: pl.name(parent, false), Kind: Dir, Mode: mode})
		pl.dirs = append(pl.dirs, d)
		madeDirs++
	}

	// Regular files and symlinks: the flat directories take bigSize
	// entries each (a fifth of them symlinks), the rest go anywhere.
	nFile := E - madeDirs - nSym - nHard - nSparse
	bigFiles := min(nBig*bigSize*4/5, nFile)
	bigSyms := min(nBig*bigSize-bigFiles, nSym)
	for i := range bigFiles {
		pl.file(big[i%nBig])
	}
	for i := range bigSyms {
		pl.symlink(big[i%nBig])
	}
	for range nFile - bigFiles {
		pl.file(pl.pickDir())
	}
	for range nSym - bigSyms {
		pl.symlink(pl.pickDir())
	}
	pl.sizes()
	pl.sparse(nSparse)
	pl.modes()
	pl.hardLinks(nHard)
	if !pl.p.NoXattrs {
		pl.xattrs()
	}
}

// bigDirs is the number and size of the flat directories: about a third
// of the tree, in directories of 10k entries or more once the tree is
// large enough for that, else one directory of a quarter of the tree.
func bigDirs(entries int) (n, size int) {
	if entries < 25000 {
		return 1, entries / 4
	}
	n = min(entries/25000, len(bigDirNames)+4)
	return n, max(10000, entries*35/100/n)
}

func (pl *planner) file(dir *Node) *Node {
	return pl.add(dir, &Node{Name: pl.name(dir, true), Kind: File, Mode: 0o644, PoolOff: pl.r.Int64N(poolSize)})
}

func (pl *planner) symlink(dir *Node) {
	n := &Node{Name: pl.name(dir, pl.r.IntN(2) == 0), Kind: Symlink, Mode: 0o777}
	var t strings.Builder
	switch k := pl.r.IntN(1000); {
	case k < 700: // short: a sibling or a neighbour, stored in the inode
		if pl.r.IntN(2) == 0 {
			t.WriteString("../")
		}
		t.WriteString(words[pl.r.IntN(len(words))])
		t.WriteString(".so.")
		t.WriteString(strconv.Itoa(pl.r.IntN(100)))
	case k < 950: // an absolute path: 60 to 160 bytes, one block
		t.WriteString("/usr")
		for t.Len() < 60+pl.r.IntN(100) {
			t.WriteByte('/')
			t.WriteString(words[pl.r.IntN(len(words))])
		}
	case k < 998: // a long relative path
		for t.Len() < 200+pl.r.IntN(800) {
			t.WriteString("../")
			t.WriteString(words[pl.r.IntN(len(words))])
			t.WriteByte('/')
		}
		t.WriteString("target")
	default: // close to the 4095-byte limit
		for t.Len() < 3900 {
			t.WriteString(words[pl.r.IntN(len(words))])
			t.WriteByte('/')
		}
		t.WriteString("end")
	}
	n.Target = t.String()
	pl.add(dir, n)
}

// logUniform draws from [lo, hi) with a log-uniform density.
func (pl *planner) logUniform(lo, hi float64) int64 {
	return int64(math.Exp(math.Log(lo) + pl.r.Float64()*(math.Log(hi)-math.Log(lo))))
}

// sizes draws every file's size from a mixture (2% empty, 58% under
// 4 KiB, 36% up to 64 KiB, 4% up to 1 MiB, 0.06% up to 64 MiB), then
// scales to the byte budget: the tail alone when the small files fit in
// it, every file otherwise.
func (pl *planner) sizes() {
	pl.files = pl.files[:0]
	collectFiles(pl.root, &pl.files)
	var head, tail int64
	for _, f := range pl.files {
		switch k := pl.r.IntN(10000); {
		case k < 200:
			f.Size = 0
		case k < 6000:
			f.Size = pl.logUniform(16, smallLimit)
		case k < 9594:
			f.Size = pl.logUniform(smallLimit, tailStart)
		case k < 9994:
			f.Size = pl.logUniform(tailStart, 1<<20)
		default:
			f.Size = pl.logUniform(1<<20, 64<<20)
		}
		if f.Size < tailStart {
			head += f.Size
		} else {
			tail += f.Size
		}
	}
	budget := pl.p.Bytes
	// The sparse files take a small part of the budget later.
	budget -= sparseData(pl.p.Bytes) * 3
	budget = max(budget, 0)
	if head > budget || tail == 0 {
		scaleAll(pl.files, head+tail, budget)
		return
	}
	// Water-fill the tail: scale it to the rest of the budget, capping
	// files at limit and spreading what the caps cut off over the others.
	var tails []*Node
	for _, f := range pl.files {
		if f.Size >= tailStart {
			tails = append(tails, f)
		}
	}
	slices.SortStableFunc(tails, func(a, b *Node) int { return cmp.Compare(b.Size, a.Size) })
	limit := max(int64(maxFile), (budget-head)/int64(len(tails))+1)
	rem, sumRaw := float64(budget-head), float64(tail)
	capped := 0
	for capped < len(tails) && rem/sumRaw*float64(tails[capped].Size) >= float64(limit) {
		rem -= float64(limit)
		sumRaw -= float64(tails[capped].Size)
		capped++
	}
	k := rem / sumRaw
	total := head
	for i, f := range tails {
		if i < capped {
			f.Size = limit
		} else {
			f.Size = max(int64(float64(f.Size)*k), 1)
		}
		total += f.Size
	}
	// Rounding leftovers go to the largest uncapped file.
	if capped < len(tails) {
		f := tails[capped]
		f.Size = max(f.Size+budget-total, 0)
	}
}

func scaleAll(files []*Node, sum, budget int64) {
	if sum == 0 {
		return
	}
	k := float64(budget) / float64(sum)
	var total int64
	for _, f := range files {
		f.Size = int64(float64(f.Size) * k)
		total += f.Size
	}
	for i := 0; total < budget && len(files) > 0; i++ {
		files[i%len(files)].Size++
		total++
	}
}

func collectFiles(n *Node, out *[]*Node) {
	for _, c := range n.Children {
		switch c.Kind {
		case File:
			*out = append(*out, c)
		case Dir:
			collectFiles(c, out)
		}
	}
}

// sparseData is the data of one sparse file: four 16 KiB chunks, or less
// for tiny budgets.
func sparseData(budget int64) int64 { return min(4*16<<10, budget/64/4096*4096) }

// sparse adds files whose apparent size is mostly holes: disk images and
// databases that real trees carry a few of.
func (pl *planner) sparse(n int) {
	data := sparseData(pl.p.Bytes)
	apparent := min(max(pl.p.Bytes/64, 1<<20), 64<<20) &^ 4095
	for i := range n {
		dir := pl.dirs[pl.r.IntN(len(pl.dirs))]
		f := pl.add(dir, &Node{Name: fmt.Sprintf("sparse-%d.img", i), Kind: File, Mode: 0o600, Size: apparent})
		chunk := data / 4 &^ 4095
		if chunk > 0 {
			slots := apparent / chunk
			var offs []int64
			for len(offs) < 4 {
				o := pl.r.Int64N(slots) * chunk
				if !slices.Contains(offs, o) {
					offs = append(offs, o)
				}
			}
			slices.Sort(offs)
			for _, o := range offs {
				f.Chunks = append(f.Chunks, Chunk{o, chunk})
			}
		} else {
			f.Chunks = []Chunk{}
		}
		f.PoolOff = pl.r.Int64N(poolSize)
		pl.files = append(pl.files, f)
	}
}

// modes sets executables in bin directories and a sprinkling elsewhere,
// a few setuid and setgid programs, and some private or read-only files.
func (pl *planner) modes() {
	setuid, setgid := 0, 0
	for _, f := range pl.files {
		if f.Chunks != nil {
			continue
		}
		bin := f.Parent.Name == "bin" || f.Parent.Name == "sbin" || f.Parent.Name == "libexec"
		switch k := pl.r.IntN(100); {
		case bin && setuid < 6:
			f.Mode = 0o4755
			setuid++
		case bin && setgid < 3:
			f.Mode = 0o2755
			setgid++
		case bin || k < 10:
			f.Mode = 0o755
		case k < 12:
			f.Mode = 0o600
		case k < 14:
			f.Mode = 0o444
		case k < 15:
			f.Mode = 0o640
		}
	}
}

// hardLinks adds n names for existing files, in random directories; the
// targets come from a small set so that some files get several names.
func (pl *planner) hardLinks(n int) {
	var cands []*Node
	for _, f := range pl.files {
		if f.Chunks == nil && !f.Parent.big {
			cands = append(cands, f)
		}
	}
	if len(cands) == 0 {
		return
	}
	set := cands[:max(1, min(len(cands), n*2/3))]
	for range n {
		f := set[pl.r.IntN(len(set))]
		dir := pl.dirs[pl.r.IntN(len(pl.dirs))]
		pl.add(dir, &Node{Name: pl.name(dir, true), Kind: HardLink, Link: f, Mode: f.Mode})
	}
}

var xattrNames = []string{"user.mime_type", "user.checksum.sha256", "user.origin.url",
	"user.comment", "user.xdg.origin.url", "user.bench.tag"}

// xattrs puts user.* attributes on about 0.5% of the files and a few
// directories, and a set too large for the inode on a few files (so an
// ext4 writer must use an xattr block).
func (pl *planner) xattrs() {
	big := 0
	for _, f := range pl.files {
		if pl.r.IntN(200) != 0 {
			continue
		}
		for i := range 1 + pl.r.IntN(3) {
			f.Xattrs = append(f.Xattrs, Xattr{xattrNames[i], pl.value(8 + pl.r.IntN(120))})
		}
		if big < 3 {
			f.Xattrs = append(f.Xattrs, Xattr{"user.bench.large", pl.value(2000)})
			big++
		}
	}
	for i, d := range pl.dirs {
		if i%97 == 5 {
			d.Xattrs = append(d.Xattrs, Xattr{"user.bench.dir", pl.value(32)})
		}
	}
}

func (pl *planner) value(n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789/:._-"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[pl.r.IntN(len(alphabet))]
	}
	return b
}

func stats(root *Node) Stats {
	var s Stats
	var walk func(n *Node, depth int)
	walk = func(n *Node, depth int) {
		s.MaxDepth = max(s.MaxDepth, depth)
		s.LargestDir = max(s.LargestDir, len(n.Children))
		if len(n.Children) >= 10000 {
			s.BigDirs++
		}
		s.Xattrs += len(n.Xattrs)
		for _, c := range n.Children {
			s.Entries++
			switch c.Kind {
			case Dir:
				s.Dirs++
				walk(c, depth+1)
				continue
			case File:
				s.Files++
				if c.Chunks != nil {
					s.Sparse++
				}
				if c.Size < smallLimit {
					s.SmallFiles++
				}
				s.DataBytes += c.DataBytes()
				s.ApparentBytes += c.Size
				s.LargestFile = max(s.LargestFile, c.Size)
			case Symlink:
				s.Symlinks++
			case HardLink:
				s.HardLinks++
			}
			s.Xattrs += len(c.Xattrs)
		}
	}
	walk(root, 0)
	return s
}
