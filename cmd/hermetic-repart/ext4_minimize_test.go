package main

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
	"github.com/hermetic-repart/hermetic-repart/internal/treecmp"
)

// fsBlocks returns the block count and free blocks dumpe2fs reports.
func fsBlocks(t testing.TB, fs string) (blocks, free int64) {
	t.Helper()
	h := dumpe2fsHeader(t, fs)
	blocks, err1 := strconv.ParseInt(h["Block count"], 10, 64)
	free, err2 := strconv.ParseInt(h["Free blocks"], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("dumpe2fs -h: block count %q, free %q", h["Block count"], h["Free blocks"])
	}
	return blocks, free
}

// resize2fsMin is resize2fs's estimate of the smallest size (in blocks)
// the file system can be shrunk to.
func resize2fsMin(t testing.TB, fs string) int64 {
	t.Helper()
	bin := oracle.Require(t, "resize2fs")
	out, errOut, err := oracle.Run(t, bin, "-P", fs)
	m := regexp.MustCompile(`Estimated minimum size of the filesystem: (\d+)`).FindStringSubmatch(out + errOut)
	if err != nil || m == nil {
		t.Fatalf("resize2fs -P: %v\n%s%s", err, out, errOut)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// TestExt4Minimize builds realTree (smaller) and a data-heavy tree with
// Minimize=best and Minimize=guess through the CLI. Both must be clean and
// hold the source exactly; the file system fills its partition (or the
// default minimum of 10 MiB); best
// cannot be shrunk further by resize2fs's estimate; guess is repart's
// formula applied to best's blocks (× 1.5 on the grain, at least 32 MiB);
// SizeMinBytes= is filled.
func TestExt4Minimize(t *testing.T) {
	oracle.RequireRoot(t)
	big := []srcNode{{path: ".", kind: 'd', perm: 0o755}}
	for i := range 12 {
		big = append(big, srcNode{path: fmt.Sprint("data", i), kind: 'f', perm: 0o644, size: 3<<20 + int64(i)*4097,
			runs: []imagefile.Run{{Offset: 0, Length: 3<<20 + int64(i)*4097}}})
	}
	for i := range 1500 {
		big = append(big, srcNode{path: fmt.Sprint("small", i), kind: 'f', perm: 0o644, size: int64(i % 9000),
			runs: []imagefile.Run{{Offset: 0, Length: int64(i % 9000)}}})
	}
	var many []srcNode
	many = append(many, srcNode{path: ".", kind: 'd', perm: 0o755})
	for d := range 6 {
		many = append(many, srcNode{path: fmt.Sprint("d", d), kind: 'd', perm: 0o755})
		for i := range 1000 {
			many = append(many, srcNode{path: fmt.Sprintf("d%d/f%d", d, i), kind: 'f', perm: 0o644, size: 10,
				runs: []imagefile.Run{{Offset: 0, Length: 10}}})
		}
	}
	trees := map[string][]srcNode{
		"realTree":    realTree(2000),
		"many files":  many,
		"data":        big,
		"tiny":        {{path: ".", kind: 'd', perm: 0o755}, {path: "f", kind: 'f', perm: 0o644, size: 5, runs: []imagefile.Run{{Offset: 0, Length: 5}}}},
		"empty files": {{path: ".", kind: 'd', perm: 0o755}, {path: "e", kind: 'f', perm: 0o644}},
	}
	epoch := int64(testEpoch)
	env := []string{"SOURCE_DATE_EPOCH=" + strconv.Itoa(testEpoch)}
	for name, nodes := range trees {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			os.Mkdir(src, 0o755)
			makeTree(t, src, nodes, nil)
			want := scanTree(t, src, nil)
			var bestBlocks int64
			for _, mode := range []string{"best", "guess", "guess with SizeMinBytes"} {
				def := "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\nMinimize=" + mode + "\n"
				if mode == "guess with SizeMinBytes" {
					def = "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\nMinimize=guess\nSizeMinBytes=200M\n"
				}
				writeDefs(t, dir, map[string]string{"10-root.conf": def})
				img := fmt.Sprintf("%s.raw", mode)
				parts := buildImage(t, dir, img, src, env)
				img = filepath.Join(dir, img)
				fs := extractPart(t, img, parts[0])
				fsckClean(t, fs)
				fsckStable(t, fs)
				blocks, free := fsBlocks(t, fs)
				// The file system is the partition's content, which is at
				// least repart's default minimum of 10 MiB.
				if max(blocks*4096, 10<<20) != parts[0].RawSize {
					t.Errorf("%s: file system of %d blocks in a partition of %d bytes", mode, blocks, parts[0].RawSize)
				}
				switch mode {
				case "best":
					bestBlocks = blocks
					if m := resize2fsMin(t, fs); blocks > m {
						t.Errorf("best: %d blocks (%d free), but resize2fs -P says it can shrink to %d", blocks, free, m)
					}
				case "guess":
					used := bestBlocks * 4096
					want := max((used+used/2+4095)/4096, 32<<20/4096)
					// Inodes get the same 50% headroom as blocks; when
					// the inode ratio's count is short of that, more
					// inode tables may take more blocks.
					h := dumpe2fsHeader(t, fs)
					inodes, _ := strconv.ParseInt(h["Inode count"], 10, 64)
					freeInodes, _ := strconv.ParseInt(h["Free inodes"], 10, 64)
					usedInodes := inodes - freeInodes
					if inodes < usedInodes+usedInodes/2 {
						t.Errorf("guess: %d inodes for %d in use, want at least 1.5 times as many", inodes, usedInodes)
					}
					if extra := inodes > blocks*4096/16384; (!extra && blocks != want) || blocks < want {
						t.Errorf("guess: %d blocks (%d inodes), want max(1.5 × %d blocks of best, 32 MiB) = %d", blocks, inodes, bestBlocks, want)
					}
				default:
					if blocks != 200<<20/4096 {
						t.Errorf("%s: %d blocks, want 200 MiB", mode, blocks)
					}
				}
				mnt, unmount := mountPart(t, img, parts[0], "ro")
				reportDiffs(t, mode+" image vs source", treecmp.Diff(want, scanTree(t, mnt, nil), treecmp.Options{
					Fields: treecmp.All, Expect: expectImage(false, &epoch), Ignore: isLostFound,
				}))
				unmount()
				os.Remove(img)
			}
		})
	}
}

// TestExt4MinimizeJournalStep: a minimized file system just above 128 MiB
// gets a 16 MiB journal instead of 4 MiB, so SizeMinBytes= a little above
// the smallest size holds less than the smallest size itself. The build
// must then take the least size that fits, not fail.
func TestExt4MinimizeJournalStep(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o755)
	blob := make([]byte, 120e6)
	rand.New(rand.NewSource(1)).Read(blob)
	if err := os.WriteFile(filepath.Join(src, "blob"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	writeDefs(t, dir, map[string]string{"10-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\nMinimize=best\n"})
	best := buildImage(t, dir, "best.raw", src, nil)[0].RawSize
	if best >= 128<<20 {
		t.Fatalf("the smallest file system is %d bytes; the test needs it under 128 MiB", best)
	}
	writeDefs(t, dir, map[string]string{"10-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\nMinimize=best\nSizeMinBytes=129M\n"})
	parts := buildImage(t, dir, "step.raw", src, nil)
	fs := extractPart(t, filepath.Join(dir, "step.raw"), parts[0])
	fsckClean(t, fs)
	blocks, _ := fsBlocks(t, fs)
	if size := blocks * 4096; size < 129<<20 || size != parts[0].RawSize {
		t.Errorf("file system of %d bytes in a partition of %d; want at least 129 MiB, filling it", size, parts[0].RawSize)
	}
	if h := dumpe2fsHeader(t, fs); h["Total journal size"] != "16M" {
		t.Errorf("journal %q, want 16M", h["Total journal size"])
	}
}
