package fstree

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/definition"
	"github.com/hermetic-repart/hermetic-repart/progress"
)

// Options are the command-line settings that shape a tree.
type Options struct {
	// SourceRoot is --copy-source=DIR: CopyFiles= and ExcludeFiles= paths
	// resolve below it. "" means "/".
	SourceRoot string
	// KeepOwnership (--keep-ownership) keeps the sources' uid and gid;
	// otherwise every inode is owned by 0:0.
	KeepOwnership bool
	// SourceDateEpoch is SOURCE_DATE_EPOCH when set: source times later
	// than it are clamped to it, and what we create gets it (else 0).
	SourceDateEpoch *int64
	// RootPartition is set for a Type=root partition: lines with target
	// "/" then also exclude the contents of <source>/{proc,sys,dev,tmp,
	// run,var/tmp} and of <source>/<m> for each of OtherMountPoints.
	RootPartition bool
	// OtherMountPoints are the mount points of the image's other, non-root
	// partitions (repart's gpt_partition_type_mountpoint_nulstr: /usr,
	// /home, /srv, /var, /var/tmp, /efi and /boot for an ESP, /boot for
	// XBOOTLDR). Only those present in the image are excluded: a root
	// partition without a separate /usr partition keeps /usr.
	OtherMountPoints []string
	// Progress counts the source inodes looked at.
	Progress *progress.Task
}

// Spec is what a partition's definition asks to put in it. Paths are
// absolute and specifier-expanded; ".." is refused.
type Spec struct {
	CopyFiles          []definition.CopyFile
	ExcludeFiles       []string // source namespace; a trailing "/" excludes contents only
	ExcludeFilesTarget []string // image namespace; a trailing "/" excludes contents only
	MakeDirectories    []string
	MakeSymlinks       []definition.Symlink
}

// SpecOf takes the content settings of a partition definition.
func SpecOf(p *definition.Partition) Spec {
	return Spec{
		CopyFiles:          p.CopyFiles,
		ExcludeFiles:       p.ExcludeFiles,
		ExcludeFilesTarget: p.ExcludeFilesTarget,
		MakeDirectories:    p.MakeDirectories,
		MakeSymlinks:       p.MakeSymlinks,
	}
}

// maxName is the longest file name ext4, vfat (long names) and Linux take.
const maxName = 255

// maxDepth bounds recursion, as repart's COPY_DEPTH_MAX does; only a bind
// mount loop gets there.
const maxDepth = 2048

// apivfs are always excluded (contents only) below the source root.
var apivfs = [][]string{{"proc"}, {"sys"}, {"dev"}, {"tmp"}, {"run"}, {"var", "tmp"}}

type denyType uint8

const (
	denyNone denyType = iota
	denyInode
	denyContents
)

// denylist maps source inodes to how they are excluded.
type denylist map[devIno]denyType

// add marks an inode unless it is marked already (the first mark wins, as
// in repart's hashmap_ensure_put).
func (d denylist) add(k devIno, t denyType) {
	if _, ok := d[k]; !ok {
		d[k] = t
	}
}

type copyLine struct {
	src, tgt []string
	rawTgt   string // as configured, for messages
}

type exclusion struct {
	comps    []string
	contents bool
}

type builder struct {
	ctx     context.Context
	opts    Options
	root    string // host path of the source root, absolute and clean
	tree    *Tree
	created Time // time of what we create
}

// Build scans the sources and returns the tree the partition will hold.
func Build(ctx context.Context, spec Spec, opts Options) (*Tree, error) {
	b := &builder{ctx: ctx, opts: opts, tree: &Tree{}}
	if opts.SourceDateEpoch != nil {
		b.created = Time{Sec: *opts.SourceDateEpoch}
	}
	root := opts.SourceRoot
	if root == "" {
		root = "/"
	}
	// The root is resolved once, so that every host path below it is
	// physical and can be opened with O_NOFOLLOW.
	root, err := filepath.Abs(root)
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		return nil, fmt.Errorf("copy source: %w", err)
	}
	if fi, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("copy source: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("copy source %s is not a directory", root)
	}
	b.root = root

	var lines []copyLine
	for _, cf := range spec.CopyFiles {
		src, _, err := splitPath("CopyFiles", cf.Source)
		if err != nil {
			return nil, err
		}
		tgt, _, err := splitPath("CopyFiles", cf.Target)
		if err != nil {
			return nil, err
		}
		lines = append(lines, copyLine{src, tgt, cf.Target})
	}
	excl, err := splitExclusions("ExcludeFiles", spec.ExcludeFiles)
	if err != nil {
		return nil, err
	}
	exclT, err := splitExclusions("ExcludeFilesTarget", spec.ExcludeFilesTarget)
	if err != nil {
		return nil, err
	}
	var mkdirs [][]string
	for _, d := range spec.MakeDirectories {
		c, _, err := splitPath("MakeDirectories", d)
		if err != nil {
			return nil, err
		}
		mkdirs = append(mkdirs, c)
	}
	var mounts [][]string
	for _, m := range opts.OtherMountPoints {
		c, _, err := splitPath("mount point", m)
		if err != nil {
			return nil, err
		}
		mounts = append(mounts, c)
	}

	b.tree.Root = b.newDir()
	if err := b.donateRoot(lines); err != nil {
		return nil, err
	}
	for _, l := range lines {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := b.copy(l, excl, exclT, mounts); err != nil {
			return nil, err
		}
	}
	for i, comps := range mkdirs {
		if err := b.mkdirP(comps); err != nil {
			return nil, fmt.Errorf("MakeDirectories=%s: %w", spec.MakeDirectories[i], err)
		}
	}
	for _, s := range spec.MakeSymlinks {
		if err := b.makeSymlink(s); err != nil {
			return nil, fmt.Errorf("MakeSymlinks=%s:%s: %w", s.Path, s.Target, err)
		}
	}
	b.finalize()
	return b.tree, nil
}

// splitPath checks a configured path (absolute, no "..", no NUL) and
// returns its components and whether it ended in "/".
func splitPath(key, p string) ([]string, bool, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, false, fmt.Errorf("%s=: path %q is not absolute", key, p)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return nil, false, fmt.Errorf("%s=: path %q contains a NUL byte", key, p)
	}
	var comps []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return nil, false, fmt.Errorf("%s=: path %q contains \"..\"", key, p)
		}
		comps = append(comps, c)
	}
	return comps, strings.HasSuffix(p, "/"), nil
}

func splitExclusions(key string, paths []string) ([]exclusion, error) {
	var out []exclusion
	for _, p := range paths {
		c, slash, err := splitPath(key, p)
		if err != nil {
			return nil, err
		}
		out = append(out, exclusion{c, slash})
	}
	return out, nil
}

// hasPrefix is repart's path_startswith on components: whether path is at
// or below prefix, and the rest.
func hasPrefix(path, prefix []string) ([]string, bool) {
	if len(prefix) > len(path) {
		return nil, false
	}
	for i := range prefix {
		if path[i] != prefix[i] {
			return nil, false
		}
	}
	return path[len(prefix):], true
}

func join(a []string, b ...string) []string {
	return append(append(make([]string, 0, len(a)+len(b)), a...), b...)
}

func imagePath(comps []string) string { return "/" + strings.Join(comps, "/") }

func (b *builder) warnf(format string, args ...any) {
	b.tree.Warnings = append(b.tree.Warnings, fmt.Sprintf(format, args...))
}

// newDir is a directory we create: 0755, 0:0, SOURCE_DATE_EPOCH or 0.
func (b *builder) newDir() *Inode {
	return &Inode{Kind: KindDir, Mode: 0o755, Mtime: b.created, children: map[string]*Inode{}}
}

// link adds name -> ino to dir, replacing what was there.
func link(dir *Inode, name string, ino *Inode) error {
	if len(name) > maxName {
		return fmt.Errorf("file name longer than %d bytes: %q", maxName, name)
	}
	if ino.Kind == KindDir {
		if ino.children == nil {
			ino.children = map[string]*Inode{}
		}
		ino.parent = dir
	}
	dir.children[name] = ino
	return nil
}

// donateRoot gives the root directory the metadata of the first directory
// copied to "/".
func (b *builder) donateRoot(lines []copyLine) error {
	for _, l := range lines {
		if len(l.tgt) != 0 {
			continue
		}
		real, _, err := b.chaseSource(l.src, true)
		if errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("opening copy source %s: %w", b.hostPath(l.src), err)
		}
		host := b.hostPath(real)
		fd, err := unix.Open(host, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("opening copy source %s: %w", host, err)
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		var xs []Xattr
		if err == nil {
			xs, err = xattrsFd(fd)
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("reading %s: %w", host, err)
		}
		r := b.tree.Root
		r.Mode = st.Mode & 0o7777
		r.Mtime = b.clamp(st.Mtim)
		r.Xattrs = xs
		return nil
	}
	return nil
}

// denylistFor builds the exclusions of one CopyFiles line; skip reports
// that the whole line is excluded.
func (b *builder) denylistFor(l copyLine, excl, exclT []exclusion, mounts [][]string) (d denylist, skip bool, err error) {
	d = denylist{}
	for _, a := range apivfs {
		if err := b.exclude(d, a, denyContents); err != nil {
			return nil, false, err
		}
	}
	typ := func(e exclusion) denyType {
		if e.contents {
			return denyContents
		}
		return denyInode
	}
	for _, e := range excl {
		if _, ok := hasPrefix(l.src, e.comps); ok {
			return nil, true, nil
		}
		if err := b.exclude(d, e.comps, typ(e)); err != nil {
			return nil, false, err
		}
	}
	for _, e := range exclT {
		if _, ok := hasPrefix(l.tgt, e.comps); ok {
			return nil, true, nil
		}
		rest, ok := hasPrefix(e.comps, l.tgt)
		if !ok {
			continue
		}
		if err := b.exclude(d, join(l.src, rest...), typ(e)); err != nil {
			return nil, false, err
		}
	}
	if b.opts.RootPartition && len(l.tgt) == 0 {
		for _, m := range mounts {
			if err := b.exclude(d, join(l.src, m...), denyContents); err != nil {
				return nil, false, err
			}
		}
		for _, a := range apivfs {
			if err := b.exclude(d, join(l.src, a...), denyContents); err != nil {
				return nil, false, err
			}
		}
	}
	return d, false, nil
}

// exclude marks the inode a source path resolves to; a path that does not
// exist excludes nothing.
func (b *builder) exclude(d denylist, comps []string, t denyType) error {
	_, st, err := b.chaseSource(comps, true)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("resolving excluded path %s: %w", b.hostPath(comps), err)
	}
	d.add(keyOf(&st), t)
	return nil
}

// copy carries out one CopyFiles line.
func (b *builder) copy(l copyLine, excl, exclT []exclusion, mounts [][]string) error {
	deny, skip, err := b.denylistFor(l, excl, exclT, mounts)
	if err != nil || skip {
		return err
	}
	real, st, err := b.chaseSource(l.src, true)
	if errors.Is(err, unix.ENOENT) {
		b.warnf("copy source %s does not exist, skipping", b.hostPath(l.src))
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening copy source %s: %w", b.hostPath(l.src), err)
	}
	switch kindOf(st.Mode) {
	case KindDir:
		return b.copyDirLine(l, real, &st, deny)
	case KindRegular:
		return b.copyFileLine(l, real, &st, deny)
	}
	return fmt.Errorf("copy source %s is a %s, not a regular file or directory", b.hostPath(real), kindOf(st.Mode))
}

func (b *builder) copyDirLine(l copyLine, real []string, st *unix.Stat_t, deny denylist) error {
	host := b.hostPath(real)
	hl := map[devIno]*Inode{}
	dst, err := b.chaseImage(l.tgt, true)
	if err == nil {
		if dst.Kind != KindDir {
			return fmt.Errorf("copying %s: target %s is not a directory", host, l.rawTgt)
		}
		return b.copyDir(nil, "", imagePath(l.tgt), dst, unix.AT_FDCWD, host, host, st, deny, hl, 0)
	}
	if !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("copying %s: target %s: %w", host, l.rawTgt, err)
	}
	parent, err := b.mkdirParent(l.tgt)
	if err != nil {
		return fmt.Errorf("copying %s: creating parent of %s: %w", host, l.rawTgt, err)
	}
	return b.copyDir(parent, l.tgt[len(l.tgt)-1], imagePath(l.tgt), nil, unix.AT_FDCWD, host, host, st, deny, hl, 0)
}

// mkdirParent creates the parents of an image path and returns the last.
func (b *builder) mkdirParent(comps []string) (*Inode, error) {
	dir := comps[:len(comps)-1]
	if err := b.mkdirP(dir); err != nil {
		return nil, err
	}
	parent, err := b.chaseImage(dir, true)
	if err != nil {
		return nil, err
	}
	if parent.Kind != KindDir {
		return nil, unix.ENOTDIR
	}
	return parent, nil
}

func (b *builder) copyFileLine(l copyLine, real []string, st *unix.Stat_t, deny denylist) error {
	host := b.hostPath(real)
	// repart's file_is_denylisted: the file's own inode, then every
	// directory from the (resolved) parent up to the source root.
	if deny[keyOf(st)] == denyInode {
		return nil
	}
	preal, _, err := b.chaseSource(l.src[:len(l.src)-1], true)
	if err != nil {
		return fmt.Errorf("opening parent of copy source %s: %w", host, err)
	}
	for i := len(preal); i >= 0; i-- {
		var pst unix.Stat_t
		if err := unix.Lstat(b.hostPath(preal[:i]), &pst); err != nil {
			return fmt.Errorf("checking exclusions of %s: %w", host, err)
		}
		if deny[keyOf(&pst)] != denyNone {
			return nil
		}
	}
	if len(l.tgt) == 0 {
		return fmt.Errorf("target path %s refers to a directory, but source path %s is a regular file", l.rawTgt, host)
	}
	parent, err := b.mkdirParent(l.tgt)
	if err != nil {
		return fmt.Errorf("copying %s: creating parent of %s: %w", host, l.rawTgt, err)
	}
	name := l.tgt[len(l.tgt)-1]
	if parent.children[name] != nil {
		return fmt.Errorf("copying %s: target %s already exists", host, l.rawTgt)
	}
	ino, err := b.scanLeaf(unix.AT_FDCWD, host, host, st)
	if err != nil {
		return err
	}
	if err := link(parent, name, ino); err != nil {
		return fmt.Errorf("copying %s to %s: %w", host, l.rawTgt, err)
	}
	return nil
}

// copyDir copies the source directory sdirfd/sname (host path host, lstat
// st) to the image: into dst when that is an existing directory, else as
// name in parent (created with the source's metadata, or merged into a
// directory already there).
func (b *builder) copyDir(parent *Inode, name, ipath string, dst *Inode, sdirfd int, sname, host string,
	st *unix.Stat_t, deny denylist, hl map[devIno]*Inode, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: directories nested more than %d deep", host, maxDepth)
	}
	if err := b.ctx.Err(); err != nil {
		return err
	}
	fd, err := unix.Openat(sdirfd, sname, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", host, err)
	}
	f := os.NewFile(uintptr(fd), host)
	defer f.Close()
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		return fmt.Errorf("reading %s: %w", host, err)
	}
	if fst.Dev != st.Dev || fst.Ino != st.Ino {
		return fmt.Errorf("%s was replaced during the scan", host)
	}
	if dst == nil {
		switch existing := parent.children[name]; {
		case existing == nil:
			dst = b.inodeFrom(&fst)
			if dst.Xattrs, err = xattrsFd(fd); err != nil {
				return fmt.Errorf("reading %s: %w", host, err)
			}
			if err := link(parent, name, dst); err != nil {
				return fmt.Errorf("%s: %w", host, err)
			}
		case existing.Kind == KindDir:
			dst = existing // merge; the directory keeps its metadata
		default:
			return fmt.Errorf("cannot copy directory %s to %s: a %s is there already", host, ipath, existing.Kind)
		}
	}
	if deny[keyOf(&fst)] == denyContents {
		return nil
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", host, err)
	}
	sort.Strings(names)
	prefix := ipath
	if prefix != "/" {
		prefix += "/"
	}
	for i, n := range names {
		if i%1024 == 1023 {
			if err := b.ctx.Err(); err != nil {
				return err
			}
		}
		chost := host + "/" + n
		if len(n) > maxName {
			return fmt.Errorf("%s: file name longer than %d bytes", chost, maxName)
		}
		var cst unix.Stat_t
		if err := unix.Fstatat(fd, n, &cst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("reading %s: %w", chost, err)
		}
		if deny[keyOf(&cst)] == denyInode {
			continue
		}
		if cst.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := b.copyDir(dst, n, prefix+n, nil, fd, n, chost, &cst, deny, hl, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := b.copyLeaf(dst, n, prefix+n, fd, chost, &cst, hl); err != nil {
			return err
		}
	}
	return nil
}

// copyLeaf copies a non-directory into dir, replacing an existing
// non-directory; hard links to an inode already copied by this line share
// it.
func (b *builder) copyLeaf(dir *Inode, name, ipath string, dirfd int, host string, st *unix.Stat_t, hl map[devIno]*Inode) error {
	if existing := dir.children[name]; existing != nil && existing.Kind == KindDir {
		b.warnf("not copying %s: %s is a directory in the image", host, ipath)
		return nil
	}
	linkable := st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFLNK
	var ino *Inode
	if linkable {
		ino = hl[keyOf(st)]
	}
	if ino == nil {
		var err error
		if ino, err = b.scanLeaf(dirfd, name, host, st); err != nil {
			return err
		}
		if linkable {
			hl[keyOf(st)] = ino
		}
	}
	return link(dir, name, ino)
}

// chaseImage resolves a path in the tree being built, following symlinks
// as chase(CHASE_PREFIX_ROOT) would in the image: absolute targets start
// at the image root and ".." stops there.
func (b *builder) chaseImage(comps []string, followFinal bool) (*Inode, error) {
	root := b.tree.Root
	cur := root
	todo := append([]string(nil), comps...)
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if cur.Kind != KindDir {
				return nil, unix.ENOTDIR
			}
			if cur.parent != nil {
				cur = cur.parent
			}
			continue
		}
		if cur.Kind != KindDir {
			return nil, unix.ENOTDIR
		}
		child := cur.children[c]
		if child == nil {
			return nil, unix.ENOENT
		}
		if child.Kind == KindSymlink && (len(todo) > 0 || followFinal) {
			if hops++; hops > maxSymlinks {
				return nil, unix.ELOOP
			}
			if child.Target == "" {
				return nil, unix.ENOENT
			}
			if child.Target[0] == '/' {
				cur = root
			}
			todo = append(strings.Split(child.Target, "/"), todo...)
			continue
		}
		cur = child
	}
	return cur, nil
}

// mkdirP is repart's mkdir_p_root_full: create each missing directory of
// the path, 0755; an existing entry of any kind counts as done.
func (b *builder) mkdirP(comps []string) error {
	if len(comps) == 0 {
		return nil
	}
	parent, err := b.mkdirParent(comps)
	if err != nil {
		return err
	}
	name := comps[len(comps)-1]
	if parent.children[name] != nil {
		return nil
	}
	return link(parent, name, b.newDir())
}

func (b *builder) makeSymlink(s definition.Symlink) error {
	comps, _, err := splitPath("MakeSymlinks", s.Path)
	if err != nil {
		return err
	}
	if len(comps) == 0 {
		return errors.New("cannot replace the root directory with a symlink")
	}
	if s.Target == "" || strings.IndexByte(s.Target, 0) >= 0 || len(s.Target) >= unix.PathMax {
		return fmt.Errorf("invalid symlink target %q", s.Target)
	}
	parent, err := b.chaseImage(comps[:len(comps)-1], true)
	if err == nil && parent.Kind != KindDir {
		err = unix.ENOTDIR
	}
	if err != nil {
		return fmt.Errorf("parent directory of %s: %w", s.Path, err)
	}
	name := comps[len(comps)-1]
	if parent.children[name] != nil {
		return fmt.Errorf("%s already exists", s.Path)
	}
	return link(parent, name, &Inode{Kind: KindSymlink, Mode: 0o777, Mtime: b.created,
		Target: s.Target, Size: int64(len(s.Target))})
}

// finalize turns the build maps into sorted entries and fills in link
// counts, inode order and the totals.
func (b *builder) finalize() {
	t := b.tree
	var fin func(d *Inode)
	fin = func(d *Inode) {
		names := make([]string, 0, len(d.children))
		for n := range d.children {
			names = append(names, n)
		}
		sort.Strings(names)
		d.Entries = make([]Entry, len(names))
		for i, n := range names {
			d.Entries[i] = Entry{Name: n, Inode: d.children[n]}
		}
		d.children = nil
		for _, e := range d.Entries {
			if e.Inode.Kind == KindDir {
				fin(e.Inode)
			}
		}
	}
	fin(t.Root)

	seen := map[*Inode]bool{}
	s := &t.Stats
	t.Walk(func(path string, ino *Inode) error {
		if ino.Kind == KindDir {
			ino.parent = nil
			s.Entries += len(ino.Entries)
			s.MaxEntries = max(s.MaxEntries, len(ino.Entries))
			ino.Nlink = 2
			for _, e := range ino.Entries {
				s.NameBytes += int64(len(e.Name))
				if e.Inode.Kind == KindDir {
					ino.Nlink++
				}
			}
		}
		if seen[ino] {
			s.HardLinks++
			ino.Nlink++
			return nil
		}
		seen[ino] = true
		ino.Index = len(t.Inodes)
		t.Inodes = append(t.Inodes, ino)
		for _, x := range ino.Xattrs {
			s.XattrBytes += int64(len(x.Name) + len(x.Value))
		}
		switch ino.Kind {
		case KindRegular:
			ino.Nlink = 1
			s.Files++
			s.Size += ino.Size
			s.DataBytes += ino.DataBytes()
		case KindDir:
			s.Dirs++
		case KindSymlink:
			ino.Nlink = 1
			s.Symlinks++
			s.SymlinkBytes += ino.Size
		default:
			ino.Nlink = 1
			s.Specials++
		}
		return nil
	})
	s.Inodes = len(t.Inodes)
}
