package main

// Helpers for the Format=ext4 end-to-end tests: building an image through
// the CLI, getting at its partitions, the e2fsprogs and mount oracles, and
// source trees written from a description so that the same tree can be
// made again in another order, on another file system.

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
	"github.com/hermetic-repart/hermetic-repart/internal/treecmp"
)

// jsonPart is one partition of --json=short.
type jsonPart struct {
	Type    string `json:"type"`
	Label   string `json:"label"`
	UUID    string `json:"uuid"`
	File    string `json:"file"`
	Offset  int64  `json:"offset"`
	RawSize int64  `json:"raw_size"`
}

// buildImage runs `hermetic-repart --empty=create --size=auto` on dir/defs
// (which the caller wrote) with the sources below src, writing dir/name,
// and fails the test unless it succeeds.
func buildImage(t testing.TB, dir, name, src string, env []string, args ...string) []jsonPart {
	t.Helper()
	all := append([]string{"--empty=create", "--size=auto", seedArg, "--definitions=defs",
		"--copy-source=" + src, "--json=short", "--pretty=no"}, args...)
	res := runCLI(t, dir, env, append(all, name)...)
	if res.code != 0 {
		t.Fatalf("hermetic-repart %s: exit %d\n%s", strings.Join(all, " "), res.code, res.stderr)
	}
	return parseParts(t, res.stdout)
}

// parseParts parses the --json=short output of a successful run.
func parseParts(t testing.TB, stdout string) []jsonPart {
	t.Helper()
	var parts []jsonPart
	if err := json.Unmarshal([]byte(stdout), &parts); err != nil {
		t.Fatalf("parsing --json=short output: %v\n%s", err, stdout)
	}
	return parts
}

// extractPart copies one partition of img into a sparse file of its own,
// for the e2fsprogs tools, which do not take an offset.
func extractPart(t testing.TB, img string, p jsonPart) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "part.ext4")
	extractPartTo(t, img, p, out)
	return out
}

// extractPartTo copies partition p of img into the new sparse file dst.
func extractPartTo(t testing.TB, img string, p jsonPart, dst string) {
	t.Helper()
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := out.Truncate(p.RawSize); err != nil {
		t.Fatal(err)
	}
	if err := imagefile.CopyRange(context.Background(), out, 0, src, p.Offset, p.RawSize); err != nil {
		t.Fatal(err)
	}
}

// copySparse makes a sparse copy of a whole file.
func copySparse(t testing.TB, from, to string) {
	t.Helper()
	oracle.CopySparse(t, from, to)
}

// fsckClean and fsckStable are the shared e2fsck checks.
func fsckClean(t testing.TB, fs string) {
	t.Helper()
	oracle.E2fsckClean(t, fs)
}

func fsckStable(t testing.TB, fs string) {
	t.Helper()
	oracle.E2fsckStable(t, fs)
}

// debugfs runs one debugfs request on fs and returns its output.
func debugfs(t testing.TB, fs, req string) string {
	t.Helper()
	return oracle.Debugfs(t, fs, req)
}

// dumpe2fsHeader returns `dumpe2fs -h` as a map of field to value.
func dumpe2fsHeader(t testing.TB, fs string) map[string]string {
	t.Helper()
	return oracle.Dumpe2fsHeader(t, fs)
}

// mountPart loop-mounts one partition of img (as root) with the given
// options ("ro" or "rw") and returns the mount point and a function that
// unmounts it (also run when the test ends, if not called before).
func mountPart(t testing.TB, img string, p jsonPart, mode string) (string, func()) {
	t.Helper()
	oracle.RequireRoot(t)
	mount, umount := oracle.Require(t, "mount"), oracle.Require(t, "umount")
	dir := t.TempDir()
	opts := fmt.Sprintf("loop,%s,offset=%d,sizelimit=%d", mode, p.Offset, p.RawSize)
	if _, errOut, err := oracle.Run(t, mount, "-t", "ext4", "-o", opts, img, dir); err != nil {
		t.Fatalf("mount -o %s %s: %v\n%s", opts, img, err, errOut)
	}
	mounted := true
	unmount := func() {
		if !mounted {
			return
		}
		mounted = false
		if _, errOut, err := oracle.Run(t, umount, dir); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, errOut)
		}
	}
	t.Cleanup(unmount)
	return dir, unmount
}

// mountTmpfs mounts a tmpfs of the given size (as root) for the rest of
// the test.
func mountTmpfs(t testing.TB, size string) string {
	t.Helper()
	oracle.RequireRoot(t)
	mount, umount := oracle.Require(t, "mount"), oracle.Require(t, "umount")
	dir := t.TempDir()
	if _, errOut, err := oracle.Run(t, mount, "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, errOut)
	}
	t.Cleanup(func() {
		if _, errOut, err := oracle.Run(t, umount, dir); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, errOut)
		}
	})
	return dir
}

// scanTree scans a tree or fails the test.
func scanTree(t testing.TB, root string, skip func(string) bool) *treecmp.Tree {
	t.Helper()
	tr, err := treecmp.Scan(root, skip)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// reportDiffs fails the test with (at most 40 of) the differences.
func reportDiffs(t testing.TB, what string, diffs []string) {
	t.Helper()
	if len(diffs) == 0 {
		return
	}
	more := ""
	if len(diffs) > 40 {
		more = fmt.Sprintf("\n... and %d more", len(diffs)-40)
		diffs = diffs[:40]
	}
	t.Errorf("%s: %d differences:\n%s%s", what, len(diffs), strings.Join(diffs, "\n"), more)
}

// expectImage says what an image built from a source entry holds: owners
// 0:0 unless keepOwnership, times clamped to epoch when it is set.
func expectImage(keepOwnership bool, epoch *int64) func(treecmp.Entry) treecmp.Entry {
	return func(e treecmp.Entry) treecmp.Entry {
		if !keepOwnership {
			e.UID, e.GID = 0, 0
		}
		if epoch != nil {
			e.Mtime = treecmp.Clamp(e.Mtime, *epoch)
		}
		return e
	}
}

func isLostFound(p string) bool { return p == "lost+found" || strings.HasPrefix(p, "lost+found/") }

// srcNode describes one entry of a source tree.
type srcNode struct {
	path     string
	kind     byte   // d dir, f file, l symlink, p fifo, s socket, c/b device, h hard link
	perm     uint32 // permission bits with setuid, setgid, sticky
	uid, gid int
	mtime    unix.Timespec
	size     int64
	runs     []imagefile.Run   // where a file has data; the rest is a hole
	target   string            // symlink target; for h, the node it links to
	rdev     uint64            // device number
	xattrs   map[string]string // set with lsetxattr
	// data names the file's contents (see fill); the path if empty, so
	// that a file moved to another path can keep its bytes.
	data string
}

// fill writes the bytes of a data run of a file: a pattern that depends on
// the file's key and the offset, so that misplaced data shows.
func fill(key string, off int64, b []byte) {
	h := fnv.New64a()
	io.WriteString(h, key)
	r := rand.New(rand.NewPCG(h.Sum64(), uint64(off)))
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// makeTree creates the described tree below root, which must exist. With
// order, entries are created in a shuffled order (parents still before
// their children, link targets before links), so that directories list
// in another order while the tree is the same.
func makeTree(t testing.TB, root string, nodes []srcNode, order *rand.Rand) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var dirs, others, links []srcNode
	for _, n := range nodes {
		switch n.kind {
		case 'd':
			dirs = append(dirs, n)
		case 'h':
			links = append(links, n)
		default:
			others = append(others, n)
		}
	}
	if order != nil {
		for _, s := range [][]srcNode{dirs, others, links} {
			order.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		}
	}
	slices.SortStableFunc(dirs, func(a, b srcNode) int { return strings.Count(a.path, "/") - strings.Count(b.path, "/") })
	// Everything goes through the parent directory's descriptor, so that
	// paths longer than PATH_MAX work.
	at := func(rel string) (int, string) {
		t.Helper()
		dfd, name, err := treecmp.OpenParent(root, rel)
		if err != nil {
			t.Fatal(err)
		}
		return dfd, name
	}
	for _, d := range dirs {
		if d.path != "." {
			dfd, name := at(d.path)
			must(unix.Mkdirat(dfd, name, 0o700))
			unix.Close(dfd)
		}
	}
	for _, n := range others {
		p := filepath.Join(root, n.path)
		dfd, name := at(n.path)
		switch n.kind {
		case 'f':
			fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
			must(err)
			f := os.NewFile(uintptr(fd), p)
			must(f.Truncate(n.size))
			for _, r := range n.runs {
				b := make([]byte, r.Length)
				key := n.data
				if key == "" {
					key = n.path
				}
				fill(key, r.Offset, b)
				_, err := f.WriteAt(b, r.Offset)
				must(err)
			}
			must(f.Close())
		case 'l':
			must(unix.Symlinkat(n.target, dfd, name))
		case 'p':
			must(unix.Mknodat(dfd, name, unix.S_IFIFO|0o600, 0))
		case 's':
			if len(p) < 100 {
				l, err := net.Listen("unix", p)
				must(err)
				l.(*net.UnixListener).SetUnlinkOnClose(false)
				must(l.Close())
			} else {
				must(unix.Mknodat(dfd, name, unix.S_IFSOCK|0o600, 0))
			}
		case 'c':
			must(unix.Mknodat(dfd, name, unix.S_IFCHR|0o600, int(n.rdev)))
		case 'b':
			must(unix.Mknodat(dfd, name, unix.S_IFBLK|0o600, int(n.rdev)))
		default:
			t.Fatalf("bad kind %c", n.kind)
		}
		unix.Close(dfd)
	}
	for _, n := range links {
		tfd, tname := at(n.target)
		dfd, name := at(n.path)
		must(unix.Linkat(tfd, tname, dfd, name, 0))
		unix.Close(tfd)
		unix.Close(dfd)
	}
	// Metadata last: chown before chmod (chown clears setuid), and
	// directory times after everything inside them was created.
	for _, n := range append(others, dirs...) {
		dfd, name := at(n.path)
		for _, k := range sortedKeys(n.xattrs) {
			// through /proc/self/fd: xattr calls take only paths
			if err := unix.Lsetxattr(fmt.Sprintf("/proc/self/fd/%d/%s", dfd, name), k, []byte(n.xattrs[k]), 0); err != nil {
				t.Fatalf("setxattr %s %s: %v", n.path, k, err)
			}
		}
		must(unix.Fchownat(dfd, name, n.uid, n.gid, unix.AT_SYMLINK_NOFOLLOW))
		if n.kind != 'l' {
			must(unix.Fchmodat(dfd, name, n.perm, 0))
		}
		must(unix.UtimesNanoAt(dfd, name, []unix.Timespec{n.mtime, n.mtime}, unix.AT_SYMLINK_NOFOLLOW))
		unix.Close(dfd)
	}
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// copyBinary puts the CLI where an unprivileged user can run it (binPath
// lies in a 0700 directory) and returns its path.
func copyBinary(t testing.TB, dir string) string {
	t.Helper()
	b, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "hermetic-repart")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// openUp makes dir and its parents up to the temporary directory's root
// searchable by everyone, so an unprivileged run can reach it.
func openUp(t testing.TB, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != os.TempDir() && d != "."; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, st.Mode().Perm()|0o055); err != nil {
			t.Fatal(err)
		}
	}
}
