package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
	"github.com/hermetic-repart/hermetic-repart/internal/treecmp"
)

// TestExt4CopyFilesSemantics checks CopyFiles=, ExcludeFiles=,
// ExcludeFilesTarget=, MakeDirectories= and MakeSymlinks= end to end: an
// image of three partitions is built through the CLI, each is mounted, and
// its tree is compared with the tree the rules of spec repart.md §8.4 give,
// written out by the test from the same source description.
func TestExt4CopyFilesSemantics(t *testing.T) {
	oracle.RequireRoot(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o755)
	var nodes []srcNode
	tm := int64(1_600_000_000)
	add := func(path string, kind byte, perm uint32, extra ...func(*srcNode)) {
		tm += 1000
		n := srcNode{path: path, kind: kind, perm: perm, mtime: unix.Timespec{Sec: tm, Nsec: tm % 1e6}}
		if kind == 'f' {
			n.size = int64(len(path)) * 10
			n.runs = []imagefile.Run{{Offset: 0, Length: n.size}}
		}
		for _, f := range extra {
			f(&n)
		}
		nodes = append(nodes, n)
	}
	d := func(path string, perm uint32) { add(path, 'd', perm) }
	f := func(path string, perm uint32) { add(path, 'f', perm) }
	d(".", 0o751)
	nodes[0].xattrs = map[string]string{"user.root": "donated"}
	d("etc", 0o755)
	f("etc/os-release", 0o644)
	f("etc/hostname", 0o644)
	d("usr", 0o755)
	d("usr/bin", 0o755)
	f("usr/bin/tool", 0o755)
	d("usr/lib", 0o755)
	f("usr/lib/libx.so", 0o644)
	d("home", 0o711)
	nodes[len(nodes)-1].uid = 1000 // the home partition's root: donates its mode, not its owner
	d("home/alice", 0o700)
	nodes[len(nodes)-1].uid = 1000
	f("home/alice/.bashrc", 0o600)
	d("proc", 0o555)
	f("proc/cpuinfo", 0o444)
	d("sys", 0o555)
	d("sys/kernel", 0o755)
	f("sys/kernel/x", 0o644)
	d("dev", 0o755)
	add("dev/null", 'c', 0o666, func(n *srcNode) { n.rdev = unix.Mkdev(1, 3) })
	d("tmp", 0o1777)
	f("tmp/junk", 0o644)
	f("tmp/single-in-tmp.conf", 0o644)
	d("run", 0o755)
	f("run/pid", 0o644)
	d("var", 0o755)
	d("var/tmp", 0o1777)
	f("var/tmp/t", 0o644)
	d("var/log", 0o755)
	f("var/log/keep", 0o640)
	d("srv", 0o755)
	d("srv/www", 0o755)
	f("srv/www/index.html", 0o644)
	d("opt", 0o755)
	d("opt/app", 0o750)
	f("opt/app/a", 0o644)
	f("opt/app/b", 0o644)
	d("opt/app/cache", 0o700)
	f("opt/app/cache/c", 0o644)
	f("opt/app/secret", 0o600)
	d("opt/app/sub", 0o755)
	add("opt/app/sub/secret-link", 'h', 0, func(n *srcNode) { n.target = "opt/app/secret" })
	d("data", 0o755)
	d("data/one", 0o750)
	f("data/one/x", 0o644)
	f("data/one/only-one", 0o644)
	d("data/one/sub", 0o700)
	f("data/one/sub/s1", 0o644)
	d("data/two", 0o700)
	add("data/two/x", 'f', 0o600, func(n *srcNode) { n.size, n.runs = 7, []imagefile.Run{{Offset: 0, Length: 7}} })
	f("data/two/only-two", 0o644)
	d("data/two/sub", 0o755)
	f("data/two/sub/s2", 0o644)
	f("single.conf", 0o600)
	nodes[len(nodes)-1].uid, nodes[len(nodes)-1].gid = 4242, 4343 // a single file keeps its owner too
	makeTree(t, src, nodes, nil)

	byPath := map[string]srcNode{}
	for _, n := range nodes {
		byPath[n.path] = n
	}
	epoch := int64(testEpoch)
	// from is the source entry srcPath (not a directory) at image path img.
	from := func(img, srcPath string) srcNode {
		n, ok := byPath[srcPath]
		if !ok {
			t.Fatalf("no source %s", srcPath)
		}
		n.path, n.data = img, n.path
		return n
	}
	// subtree maps everything below srcDir (itself included) to imgDir,
	// except the paths in skip and what lies below them.
	subtree := func(imgDir, srcDir string, skip ...string) []srcNode {
		var out []srcNode
		for _, n := range nodes {
			rel, ok := strings.CutPrefix(n.path, srcDir+"/")
			if n.path == srcDir {
				rel, ok = "", true
			}
			if srcDir == "." {
				rel, ok = n.path, true
			}
			if !ok {
				continue
			}
			excluded := false
			for _, s := range skip {
				if n.path == s || strings.HasPrefix(n.path, s+"/") {
					excluded = true
				}
			}
			if excluded {
				continue
			}
			img := strings.TrimPrefix(imgDir+"/"+rel, "./")
			img = strings.TrimSuffix(img, "/")
			if img == "" || img == "." || rel == "." {
				img = imgDir
			}
			m := n
			m.path, m.data = img, n.path
			if m.kind == 'h' {
				m.target = strings.TrimPrefix(imgDir+"/"+strings.TrimPrefix(n.target, srcDir+"/"), "./")
			}
			out = append(out, m)
		}
		return out
	}
	created := func(img string) srcNode {
		return srcNode{path: img, kind: 'd', perm: 0o755, mtime: unix.Timespec{Sec: epoch}}
	}
	symlink := func(img, target string) srcNode {
		return srcNode{path: img, kind: 'l', target: target, mtime: unix.Timespec{Sec: epoch}}
	}

	writeDefs(t, dir, map[string]string{
		"10-root.conf": `[Partition]
Type=root
Format=ext4
CopyFiles=/:/
ExcludeFiles=/opt/app/cache/
ExcludeFiles=/opt/app/secret
ExcludeFiles=/data/two
ExcludeFilesTarget=/etc/hostname
MakeDirectories=/made/deep /etc
MakeSymlinks=/bin:usr/bin
SizeMinBytes=40M
`,
		"20-srv.conf": `[Partition]
Type=srv
Format=ext4
CopyFiles=/data/one:/merged
CopyFiles=/data/two:/merged
CopyFiles=/single.conf:/etc/conf/single.conf
CopyFiles=/opt/app:/app
CopyFiles=/missing:/nowhere
CopyFiles=/tmp/single-in-tmp.conf:/from-tmp.conf
ExcludeFiles=/opt/app/cache
ExcludeFilesTarget=/app/b
MakeDirectories=/var/lib/x
MakeSymlinks=/app/link:a
SizeMinBytes=40M
`,
		"30-home.conf": "[Partition]\nType=home\nFormat=ext4\nCopyFiles=/home:/\nSizeMinBytes=40M\n",
	})
	// Root: everything, minus /home's contents (a home partition is in
	// the image), /srv's (a srv partition), the always-excluded contents
	// of proc sys dev tmp run var/tmp, and the exclusions.
	root := subtree(".", ".", "home/alice", "srv/www", "proc/cpuinfo", "sys/kernel", "dev/null", "tmp/junk",
		"tmp/single-in-tmp.conf", "run/pid", "var/tmp/t", "opt/app/cache/c", "opt/app/secret",
		"opt/app/sub/secret-link", "data/two", "etc/hostname")
	root = append(root, created("made"), created("made/deep"), symlink("bin", "usr/bin"))

	srv := []srcNode{created(".")}
	srv = append(srv, subtree("merged", "data/one")...)
	for _, n := range subtree("merged", "data/two") {
		switch n.path {
		case "merged", "merged/sub": // directories merge; the first one's metadata stays
		case "merged/x": // a file replaces a file: the later line wins
			for i := range srv {
				if srv[i].path == "merged/x" {
					srv[i] = n
				}
			}
		default:
			srv = append(srv, n)
		}
	}
	srv = append(srv, created("etc"), created("etc/conf"), from("etc/conf/single.conf", "single.conf"))
	srv = append(srv, subtree("app", "opt/app", "opt/app/cache", "opt/app/b")...)
	srv = append(srv, created("var"), created("var/lib"), created("var/lib/x"), symlink("app/link", "a"))

	home := subtree(".", "home")
	home[0].path = "."

	for _, keep := range []bool{false, true} {
		args := []string{"--empty=create", "--size=auto", seedArg, "--definitions=defs", "--copy-source=" + src, "--json=short", "--pretty=no"}
		img := "img.raw"
		if keep {
			args = append(args, "--keep-ownership")
			img = "owned.raw"
		}
		res := runCLI(t, dir, []string{"SOURCE_DATE_EPOCH=" + strconv.Itoa(testEpoch)}, append(args, img)...)
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		if !strings.Contains(res.stderr, "/missing") {
			t.Errorf("no notice about the missing source /missing:\n%s", res.stderr)
		}
		parts := parseParts(t, res.stdout)
		for i, want := range [][]srcNode{root, srv, home} {
			name := []string{"root", "srv", "home"}[i]
			t.Run(fmt.Sprintf("%s keep-ownership=%v", name, keep), func(t *testing.T) {
				exp := filepath.Join(t.TempDir(), "want")
				os.Mkdir(exp, 0o755)
				makeTree(t, exp, want, nil)
				mnt, _ := mountPart(t, filepath.Join(dir, img), parts[i], "ro")
				expect := expectImage(keep, &epoch)
				reportDiffs(t, name+" partition vs the expected tree", treecmp.Diff(scanTree(t, exp, nil), scanTree(t, mnt, nil), treecmp.Options{
					Fields: treecmp.All &^ treecmp.Times, Ignore: isLostFound,
					Expect: func(e treecmp.Entry) treecmp.Entry {
						e = expect(e)
						if e.Path == "." {
							e.UID, e.GID = 0, 0
						}
						return e
					},
				}))
			})
		}
	}
}

// TestExt4SymlinksAndMounts: --copy-source through a symlink, a CopyFiles
// source that is a symlink with an absolute target (which resolves below
// the source root, not on the host), targets below a symlink of the image
// (which land where it points), and a source spanning two tmpfs mounts
// whose hard-linked files have the same inode number (which must stay two
// inodes in the image).
func TestExt4SymlinksAndMounts(t *testing.T) {
	oracle.RequireRoot(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, d := range []string{"root/usr/lib", "extra", "root/m1", "root/m2"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
	}
	os.Symlink("usr/lib", filepath.Join(src, "root/lib"))
	os.WriteFile(filepath.Join(src, "extra/e"), []byte("extra"), 0o644)
	os.Symlink("/extra", filepath.Join(src, "link-to-extra"))
	os.Symlink("src", filepath.Join(dir, "srclink"))
	for _, m := range []string{"root/m1", "root/m2"} {
		mnt := filepath.Join(src, m)
		if _, e, err := oracle.Run(t, oracle.Require(t, "mount"), "-t", "tmpfs", "-o", "size=1M", "tmpfs", mnt); err != nil {
			t.Fatalf("mount: %v %s", err, e)
		}
		t.Cleanup(func() { oracle.Run(t, "umount", mnt) })
		os.WriteFile(filepath.Join(mnt, "f"), []byte(m), 0o644)
		os.Link(filepath.Join(mnt, "f"), filepath.Join(mnt, "g"))
	}
	var st1, st2 unix.Stat_t
	unix.Stat(filepath.Join(src, "root/m1/f"), &st1)
	unix.Stat(filepath.Join(src, "root/m2/f"), &st2)
	if st1.Ino != st2.Ino {
		t.Logf("the two tmpfs files have inodes %d and %d; the test is weaker", st1.Ino, st2.Ino)
	}
	writeDefs(t, dir, map[string]string{"10-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/root:/\n" +
		"CopyFiles=/link-to-extra:/lib/extra\nCopyFiles=/extra/e:/lib/viafile\nSizeMinBytes=40M\n"})
	parts := buildImage(t, dir, "img.raw", filepath.Join(dir, "srclink"), nil)
	mnt, _ := mountPart(t, filepath.Join(dir, "img.raw"), parts[0], "ro")
	got := scanTree(t, mnt, nil)
	var paths []string
	for p := range got.Entries {
		if !isLostFound(p) {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	want := []string{".", "lib", "m1", "m1/f", "m1/g", "m2", "m2/f", "m2/g", "usr", "usr/lib", "usr/lib/extra", "usr/lib/extra/e", "usr/lib/viafile"}
	if !slices.Equal(paths, want) {
		t.Errorf("image holds %q, want %q", paths, want)
	}
	if l := got.Entries["lib"]; l == nil || l.Target != "usr/lib" {
		t.Errorf("lib: %+v", l)
	}
	for _, p := range []string{"usr/lib/extra/e", "usr/lib/viafile"} {
		if b, err := os.ReadFile(filepath.Join(mnt, p)); err != nil || string(b) != "extra" {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	ino := func(p string) uint64 {
		if e := got.Entries[p]; e != nil {
			return e.Ino
		}
		return 0
	}
	if ino("m1/f") != ino("m1/g") || ino("m2/f") != ino("m2/g") || ino("m1/f") == ino("m2/f") {
		t.Errorf("hard links across two mounts: m1/f %d m1/g %d m2/f %d m2/g %d", ino("m1/f"), ino("m1/g"), ino("m2/f"), ino("m2/g"))
	}
}
