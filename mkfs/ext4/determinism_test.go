package ext4

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func hashFile(t *testing.T, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// shuffled returns a copy of the tree with every entry and xattr list in
// a random order (hard links stay shared).
func shuffled(in *Inode, r *rand.Rand, seen map[*Inode]*Inode) *Inode {
	if c, ok := seen[in]; ok {
		return c
	}
	c := *in
	seen[in] = &c
	c.Xattrs = append([]Xattr(nil), in.Xattrs...)
	r.Shuffle(len(c.Xattrs), func(i, j int) { c.Xattrs[i], c.Xattrs[j] = c.Xattrs[j], c.Xattrs[i] })
	c.Entries = nil
	for _, e := range in.Entries {
		c.Entries = append(c.Entries, Entry{e.Name, shuffled(e.Inode, r, seen)})
	}
	r.Shuffle(len(c.Entries), func(i, j int) { c.Entries[i], c.Entries[j] = c.Entries[j], c.Entries[i] })
	return &c
}

// TestDeterministic writes the same tree twice, with GOMAXPROCS and the
// worker count at 1 and at 8 and the input lists in different orders:
// the images must be identical.
func TestDeterministic(t *testing.T) {
	host := sparseHostFile(t, 20<<20, 0, 5<<20, 20<<20-4096)
	tree := richTree()
	big := dirNode(0o755)
	for i := range 3000 {
		big.Entries = append(big.Entries, Entry{fmt.Sprint("e", i), fileNode(0o644, []byte{byte(i)})})
	}
	tree.Entries = append(tree.Entries, Entry{"big", big},
		Entry{"host", &Inode{Kind: Regular, Perm: 0o644, Size: 20 << 20, Data: File{Path: host}}})

	for _, typ := range []string{"ext4", "ext3", "ext2"} {
		build := func(procs int, root *Inode) [32]byte {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			opts := testOptions(96 << 20)
			opts.Workers = procs
			opts.Type = typ
			return hashFile(t, writeImage(t, root, opts))
		}
		a := build(1, tree)
		b := build(8, shuffled(tree, rand.New(rand.NewPCG(7, 7)), map[*Inode]*Inode{}))
		if a != b {
			t.Fatalf("%s: images differ: %x vs %x", typ, a, b)
		}
	}
}

func TestErrors(t *testing.T) {
	f := func(data []byte) *Inode { return fileNode(0o644, data) }
	withEnts := func(ents ...Entry) *Inode { return dirNode(0o755, ents...) }
	sub := dirNode(0o755)
	manyLinks := dirNode(0o755)
	one := f(nil)
	for i := range maxLinks + 1 {
		manyLinks.Entries = append(manyLinks.Entries, Entry{fmt.Sprint(i), one})
	}
	manySubdirs := dirNode(0o755)
	for i := range maxLinks - 1 {
		manySubdirs.Entries = append(manySubdirs.Entries, Entry{fmt.Sprint(i), dirNode(0o755)})
	}
	for _, c := range []struct {
		name string
		root *Inode
		opts func(*Options)
		want string
	}{
		{"no space", withEnts(Entry{"big", &Inode{Kind: Regular, Size: 100 << 20, Data: pattern{runs: []Run{{Offset: 0, Length: 100 << 20}}}}}), nil, "not enough space"},
		{"too small", withEnts(), func(o *Options) { o.Size = 100 << 10 }, "too small"},
		{"inodes", withEnts(), func(o *Options) { o.Inodes = 40000 }, "inodes do not fit"},
		{"long name", withEnts(Entry{strings.Repeat("x", 256), f(nil)}), nil, "name length 256"},
		{"slash", withEnts(Entry{"a/b", f(nil)}), nil, "'/'"},
		{"dot", withEnts(Entry{"..", f(nil)}), nil, "reserved name"},
		{"duplicate", withEnts(Entry{"a", f(nil)}, Entry{"a", f(nil)}), nil, "name given twice"},
		{"dir twice", withEnts(Entry{"a", sub}, Entry{"b", sub}), nil, "directory linked twice"},
		{"empty symlink", withEnts(Entry{"l", linkNode("")}), nil, "symlink target length 0"},
		{"long symlink", withEnts(Entry{"l", linkNode(strings.Repeat("x", 4096))}), nil, "symlink target length 4096"},
		{"xattr namespace", withEnts(Entry{"a", &Inode{Kind: FIFO, Xattrs: []Xattr{{"os2.x", nil}}}}), nil, "namespace not supported"},
		{"xattr too big", withEnts(Entry{"a", &Inode{Kind: FIFO, Xattrs: []Xattr{{"user.x", make([]byte, 5000)}}}}), nil, "do not fit"},
		{"bad acl", withEnts(Entry{"a", &Inode{Kind: Dir, Xattrs: []Xattr{{"system.posix_acl_access", []byte{1, 0, 0, 0}}}}}), nil, "POSIX ACL"},
		{"perm", withEnts(Entry{"a", &Inode{Kind: FIFO, Perm: 0o10000}}), nil, "permission bits"},
		{"kind", withEnts(Entry{"a", &Inode{}}), nil, "unknown kind"},
		{"links", withEnts(Entry{"d", manyLinks}), nil, "hard links"},
		{"label", withEnts(), func(o *Options) { o.Label = strings.Repeat("l", 17) }, "label"},
		{"root", f(nil), nil, "root must be a directory"},
		{"lost+found file", withEnts(Entry{"lost+found", f(nil)}), nil, "lost+found: must be a directory"},
		{"type", withEnts(), func(o *Options) { o.Type = "ext5" }, `unknown file system type "ext5"`},
		{"ext2 subdirectories", withEnts(Entry{"d", manySubdirs}), func(o *Options) { o.Type = "ext2" }, "/d: 64999 subdirectories; ext2 allows 64998"},
		{"ext3 file size", withEnts(Entry{"big", &Inode{Kind: Regular, Size: 3 << 40}}), func(o *Options) { o.Type = "ext3" }, "/big: size 3298534883328 out of range (ext3 allows at most 2194719883264)"},
		{"ext4 file size", withEnts(Entry{"big", &Inode{Kind: Regular, Size: 17 << 40}}), nil, "/big: size 18691697672192 out of range (ext4 allows at most 17592186040320)"},
		{"ext2 size", withEnts(), func(o *Options) { o.Type = "ext2"; o.Size = 16 << 40 }, "too large for an ext2 file system"},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := testOptions(16 << 20)
			if c.opts != nil {
				c.opts(&opts)
			}
			_, err := Layout(context.Background(), c.root, opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if c.name == "no space" && !errors.Is(err, ErrNoSpace) {
				t.Errorf("%v is not ErrNoSpace", err)
			}
		})
	}
}

// TestSourceErrors: a file that vanished or shrank after the layout makes
// Write fail and name it, by its host path and by its path in the file
// system, whether it is small (copied through a chunk) or large (copied
// on its own), and also when it is one of several hard links.
func TestSourceErrors(t *testing.T) {
	for _, size := range []int64{100000, 1 << 20} {
		dir := t.TempDir()
		gone, short := filepath.Join(dir, "gone"), filepath.Join(dir, "short")
		for _, c := range []struct {
			path   string
			change func() error
			want   string
		}{
			{gone, func() error { return os.Remove(gone) }, "no such file"},
			{short, func() error { return os.Truncate(short, size/2) }, "ended"},
		} {
			if err := os.WriteFile(c.path, randBytes(randSource(1), int(size)), 0o644); err != nil {
				t.Fatal(err)
			}
			f := &Inode{Kind: Regular, Size: size, Data: File{Path: c.path}}
			other := dirNode(0o755)
			for i := range 100 {
				other.Entries = append(other.Entries, Entry{fmt.Sprint(i), fileNode(0o644, []byte("x"))})
			}
			sub := dirNode(0o755, Entry{"f", f}, Entry{"g", f})
			root := dirNode(0o755, Entry{"a", other}, Entry{"dir", dirNode(0o755, Entry{"sub", sub})})
			opts := testOptions(16 << 20)
			p, err := Layout(context.Background(), root, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.change(); err != nil {
				t.Fatal(err)
			}
			out, err := os.Create(filepath.Join(dir, "img"))
			if err != nil {
				t.Fatal(err)
			}
			out.Truncate(opts.Size)
			for _, w := range []interface {
				WriteAt([]byte, int64) (int, error)
			}{out, plainWriter{out}} {
				err = p.Write(t.Context(), w, 0)
				if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) ||
					!strings.HasPrefix(err.Error(), "copying data of /dir/sub/f: ") {
					t.Errorf("%d bytes, %s: err = %v, want %q, the host path and the path in the file system", size, c.path, err, c.want)
				}
			}
			out.Close()
		}
	}
}

// TestPath checks the paths of inodes that error messages give.
func TestPath(t *testing.T) {
	f := fileNode(0o644, nil)
	big := dirNode(0o755)
	for i := range 3000 {
		big.Entries = append(big.Entries, Entry{fmt.Sprint("e", i), fileNode(0o644, nil)})
	}
	root := dirNode(0o755, Entry{"a", dirNode(0o755, Entry{"b", dirNode(0o755, Entry{"x", f})}, Entry{"y", f})}, Entry{"big", big})
	pr, err := prepare(context.Background(), root, testOptions(0))
	if err != nil {
		t.Fatal(err)
	}
	// Numbered depth-first in name order: the hard link is /a/b/x.
	want := []string{2: "/", 11: "/lost+found", 12: "/a", 13: "/a/b", 14: "/a/b/x", 15: "/big", 16: "/big/e0"}
	for ino, w := range want {
		if w != "" {
			if p := pr.path(uint32(ino)); p != w {
				t.Errorf("inode %d: %q, want %q", ino, p, w)
			}
		}
	}
	if p := pr.path(pr.lastIno); p != "/big/e999" {
		t.Errorf("last inode: %q", p)
	}
	if p := pr.path(journalIno); p != "the journal" {
		t.Errorf("journal: %q", p)
	}
}
