package main

import (
	"fmt"
	"math/rand/v2"
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

// randomName is a file name of random bytes (not "/" or NUL), mostly
// short, sometimes the full 255 bytes.
func randomName(r *rand.Rand) string {
	n := 1 + r.IntN(12)
	switch r.IntN(10) {
	case 0:
		n = 255
	case 1:
		n = 13 + r.IntN(243)
	}
	b := make([]byte, n)
	for i := range b {
		switch r.IntN(4) {
		case 0:
			b[i] = byte(1 + r.IntN(255))
		default:
			b[i] = "abcdefghijklmnopqrstuvwxyz0123456789-_."[r.IntN(39)]
		}
		if b[i] == '/' {
			b[i] = '%'
		}
	}
	if s := string(b); s == "." || s == ".." {
		return s + "x"
	}
	return string(b)
}

// randomTree describes a random tree of about n entries: directories up
// to 6 deep, files of random sizes with and without holes, symlinks,
// hard links, fifos, devices, random modes, owners, xattrs and times
// (some after testEpoch).
func randomTree(r *rand.Rand, n int) []srcNode {
	randTime := func() unix.Timespec {
		sec := int64(1_500_000_000 + r.IntN(300_000_000)) // on both sides of testEpoch
		if r.IntN(20) == 0 {
			sec = int64(r.IntN(1<<33)) - 1<<31
		}
		return unix.Timespec{Sec: sec, Nsec: int64(r.IntN(1e9))}
	}
	randXattrs := func(user bool) map[string]string {
		if r.IntN(3) != 0 {
			return nil
		}
		m := map[string]string{}
		budget := 3000
		for range 1 + r.IntN(6) {
			v := make([]byte, r.IntN(min(budget, 900)+1))
			for i := range v {
				v[i] = byte(r.IntN(256))
			}
			budget -= len(v) + 40
			ns := "trusted."
			if user {
				ns = "user."
			}
			m[ns+fmt.Sprint("x", r.IntN(100))] = string(v)
			if budget < 100 {
				break
			}
		}
		return m
	}
	root := srcNode{path: ".", kind: 'd', perm: 0o755, mtime: randTime()}
	nodes := []srcNode{root}
	dirs := []string{"."}
	names := map[string]bool{}
	var files []string
	for len(nodes) < n {
		parent := dirs[r.IntN(len(dirs))]
		name := randomName(r)
		p := name
		if parent != "." {
			p = parent + "/" + name
		}
		if names[p] || parent == "." && slices.Contains([]string{"proc", "sys", "dev", "tmp", "run", "var"}, name) {
			continue
		}
		names[p] = true
		nd := srcNode{path: p, perm: uint32(r.IntN(0o10000)), mtime: randTime(), uid: r.IntN(3) * 1000, gid: r.IntN(70000)}
		switch k := r.IntN(20); {
		case k < 4 && strings.Count(p, "/") < 6:
			nd.kind = 'd'
			nd.xattrs = randXattrs(true)
			dirs = append(dirs, p)
		case k < 12:
			nd.kind = 'f'
			nd.size = int64(r.IntN(3)) * int64(r.IntN(200_000))
			if r.IntN(4) == 0 && nd.size > 0 { // holes
				for off := int64(0); off < nd.size; off += 4096 * int64(1+r.IntN(16)) {
					if r.IntN(2) == 0 {
						nd.runs = append(nd.runs, imagefile.Run{Offset: off, Length: min(4096*int64(1+r.IntN(3)), nd.size-off)})
					}
				}
				if len(nd.runs) == 0 {
					nd.runs = []imagefile.Run{}
				}
			}
			nd.xattrs = randXattrs(true)
			files = append(files, p)
		case k < 14:
			nd.kind = 'l'
			t := make([]byte, 1+r.IntN([]int{10, 70, 400, 4095}[r.IntN(4)]))
			for i := range t {
				t[i] = byte(1 + r.IntN(255))
			}
			nd.target = string(t)
			nd.xattrs = randXattrs(false)
		case k < 17 && len(files) > 0:
			nd.kind, nd.target = 'h', files[r.IntN(len(files))]
		case k < 18:
			nd.kind = 'p'
		case k < 19:
			nd.kind = "cb"[r.IntN(2)]
			nd.rdev = unix.Mkdev(uint32(r.IntN(4096)), uint32(r.IntN(1<<20)))
		default:
			nd.kind = 's'
		}
		nodes = append(nodes, nd)
	}
	return nodes
}

// TestExt4RandomTrees builds random trees through the CLI, with and
// without --keep-ownership and SOURCE_DATE_EPOCH, as ext4, ext3 and ext2,
// in a partition with room to spare or sized by Minimize=guess or best,
// and checks each image
// with e2fsck and, mounted, against its source.
func TestExt4RandomTrees(t *testing.T) {
	oracle.RequireRoot(t) // devices, owners, trusted.* xattrs, mounting
	seeds := uint64(6)
	if s := os.Getenv("EXT4_RANDOM_SEEDS"); s != "" { // for longer runs by hand
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = n
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 0x5eed))
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			os.Mkdir(src, 0o755)
			makeTree(t, src, randomTree(r, 600), nil)
			keep := seed%2 == 1
			var env []string
			var epoch *int64
			if seed%4 < 2 {
				e := int64(testEpoch)
				epoch = &e
				env = []string{"SOURCE_DATE_EPOCH=" + strconv.Itoa(testEpoch)}
			}
			args := []string{}
			if keep {
				args = append(args, "--keep-ownership")
			}
			size := []string{"SizeMinBytes=64M", "Minimize=guess", "Minimize=best"}[seed%3]
			format := []string{"ext4", "ext2", "ext3", "ext4", "ext3", "ext2"}[seed%6]
			writeDefs(t, dir, map[string]string{"10-data.conf": "[Partition]\nType=linux-generic\nFormat=" + format + "\nCopyFiles=/:/\n" + size + "\n"})
			parts := buildImage(t, dir, "img.raw", src, env, args...)
			img := filepath.Join(dir, "img.raw")
			fsckClean(t, extractPart(t, img, parts[0]))
			mnt, _ := mountPart(t, img, parts[0], "ro")
			expect := expectImage(keep, epoch)
			reportDiffs(t, fmt.Sprintf("seed %d (%s, keep-ownership %v, epoch %v, %s)", seed, format, keep, epoch != nil, size),
				treecmp.Diff(scanTree(t, src, nil), scanTree(t, mnt, nil), treecmp.Options{
					Fields: treecmp.All, Ignore: isLostFound,
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
