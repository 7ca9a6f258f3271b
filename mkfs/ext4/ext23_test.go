package ext4

import (
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// mke2fsImage makes an empty file system of size bytes with mke2fs as
// the reference for Type typ.
func mke2fsImage(t *testing.T, typ string, size int64) string {
	t.Helper()
	mke2fs := oracle.Require(t, "mke2fs")
	ref := filepath.Join(t.TempDir(), "ref.img")
	f, err := os.Create(ref)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	// Discarding a new sparse file is free and lets mke2fs skip zeroing
	// the inode tables, which it must do without uninit_bg.
	if _, errOut, err := oracle.Run(t, mke2fs, "-q", "-F", "-t", typ, "-b", "4096", "-T", "default", "-I", "256", "-m", "0",
		"-O", "^resize_inode", "-E", "root_owner=0:0", ref); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, errOut)
	}
	return ref
}

var groupLine = regexp.MustCompile(`^\s+(Block bitmap at \d+|Inode bitmap at \d+|Inode table at \d+-\d+|Primary superblock at \d+, Group descriptors at \d+-\d+|Backup superblock at \d+, Group descriptors at \d+-\d+)`)

// groupLayout returns where dumpe2fs finds each group's superblock,
// descriptors, bitmaps and inode table.
func groupLayout(t *testing.T, img string) []string {
	t.Helper()
	out, errOut, err := oracle.Run(t, oracle.Require(t, "dumpe2fs"), img)
	if err != nil {
		t.Fatalf("dumpe2fs: %v\n%s", err, errOut)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Group ") {
			lines = append(lines, strings.Fields(l)[1])
		}
		if m := groupLine.FindStringSubmatch(l); m != nil {
			lines = append(lines, m[1])
		}
	}
	return lines
}

// superWords reads the superblock fields that the feature set decides.
func superWords(t *testing.T, img string) map[string]uint32 {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1024)
	if _, err := f.ReadAt(b, 1024); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	return map[string]uint32{
		"compat": le.Uint32(b[0x5C:]), "incompat": le.Uint32(b[0x60:]), "ro_compat": le.Uint32(b[0x64:]),
		"desc_size": uint32(le.Uint16(b[0xFE:])), "min_extra_isize": uint32(le.Uint16(b[0x15C:])),
		"want_extra_isize": uint32(le.Uint16(b[0x15E:])), "flags": le.Uint32(b[0x160:]),
		"log_groups_per_flex": uint32(b[0x174]), "checksum_type": uint32(b[0x175]),
		"checksum": le.Uint32(b[0x3FC:]), "def_hash_version": uint32(b[0xFC]),
		"jnl_backup_type": uint32(b[0xFD]), "reserved_gdt_blocks": uint32(le.Uint16(b[0xCE:])),
		"first_ino": le.Uint32(b[0x54:]), "inode_size": uint32(le.Uint16(b[0x58:])), "rev_level": le.Uint32(b[0x4C:]),
		"default_mount_opts": le.Uint32(b[0x100:]), "overhead": le.Uint32(b[0x248:]),
	}
}

// TestExt23MatchesMke2fs compares empty ext2 and ext3 file systems with
// mke2fs's: feature words, geometry, where each group's metadata is, and
// free space.
func TestExt23MatchesMke2fs(t *testing.T) {
	for _, typ := range []string{"ext2", "ext3"} {
		for _, size := range []int64{
			4 << 20, 64 << 20, 300 << 20, (128 << 20) + 4096*60, (128 << 20) + 4096*700,
			1 << 30, 5<<30 + 12345, 17 << 30,
		} {
			t.Run(fmt.Sprint(typ, "-", size), func(t *testing.T) {
				ref := mke2fsImage(t, typ, size)
				opts := testOptions(size)
				opts.Type = typ
				img := writeImage(t, emptyRoot(), opts)
				fsckClean(t, img)
				fsckStable(t, img)
				want, got := dumpe2fsHeader(t, ref), dumpe2fsHeader(t, img)
				for _, k := range []string{"Filesystem features", "Inode count", "Block count", "Inodes per group",
					"Inode blocks per group", "Free blocks", "Free inodes", "Overhead clusters", "Total journal blocks",
					"Default mount options", "Filesystem flags", "Required extra isize", "Desired extra isize",
					"Default directory hash", "Journal features", "Journal backup", "Reserved GDT blocks"} {
					if want[k] != got[k] {
						t.Errorf("%s: %q, mke2fs %q", k, got[k], want[k])
					}
				}
				ws, gs := superWords(t, ref), superWords(t, img)
				for k, v := range ws {
					if gs[k] != v {
						t.Errorf("superblock %s: %#x, mke2fs %#x", k, gs[k], v)
					}
				}
				wl, gl := groupLayout(t, ref), groupLayout(t, img)
				if strings.Join(wl, "\n") != strings.Join(gl, "\n") {
					t.Errorf("group layout differs:\n%s\nmke2fs:\n%s", strings.Join(trunc(gl), "\n"), strings.Join(trunc(wl), "\n"))
				}
			})
		}
	}
}

// ext23Tree is richTree plus what block maps need tested: a directory
// and a file reaching into the indirect, double and triple indirect
// blocks, sparse at every level's boundary.
func ext23Tree() *Inode {
	root := richTree()
	big := dirNode(0o755)
	for i := range 5000 {
		big.Entries = append(big.Entries, Entry{fmt.Sprint("entry-", i), fileNode(0o644, []byte{byte(i), 1})})
	}
	const b = BlockSize
	ind := int64(regionStart[1]) * b
	dind := int64(regionStart[2]) * b
	tind := int64(regionStart[3]) * b
	root.Entries = append(root.Entries,
		Entry{"big", big},
		Entry{"dense-5MiB", &Inode{Kind: Regular, Perm: 0o644, Size: 5<<20 + 3, Data: pattern{runs: []Run{{Offset: 0, Length: 5<<20 + 3}}, seed: 5}}},
		Entry{"sparse-9GiB", &Inode{Kind: Regular, Perm: 0o600, Size: 9 << 30, Data: pattern{seed: 9, runs: []Run{
			{Offset: 5, Length: 100}, {Offset: ind - 10, Length: 20}, {Offset: ind + 512*b - 1, Length: 2},
			{Offset: dind - 1, Length: 2*b + 2}, {Offset: dind + 1024*1024*b - b, Length: 2 * b},
			{Offset: tind + 3*b - 1, Length: 2}, {Offset: tind + 1024*1024*b - 1, Length: 2}, {Offset: 9<<30 - 1, Length: 1},
		}}}},
		Entry{"hole-3GiB", &Inode{Kind: Regular, Perm: 0o644, Size: 3 << 30}},
	)
	return root
}

// TestExt23 writes a tree with everything as ext2 and ext3: e2fsck finds
// nothing to fix, debugfs sees the features and dumps the tree, and the
// kernel mounts it as ext2/ext3 and reads it back.
func TestExt23(t *testing.T) {
	root := ext23Tree()
	for _, typ := range []string{"ext2", "ext3"} {
		t.Run(typ, func(t *testing.T) {
			opts := testOptions(300 << 20)
			opts.Type = typ
			img := writeImage(t, root, opts)
			fsckClean(t, img)
			fsckStable(t, img)
			want := "ext_attr dir_index filetype sparse_super large_file"
			if typ == "ext3" {
				want = "has_journal " + want
			}
			if st := debugfs(t, img, "stats"); !strings.Contains(st, "Filesystem features:      "+want+"\n") {
				t.Errorf("debugfs stats:\n%.1500s", st)
			}
			for _, p := range []string{"/big", "/sparse-9GiB", "/dense-5MiB"} {
				st := debugfs(t, img, "stat "+p)
				if !strings.Contains(st, "(IND)") {
					t.Errorf("%s has no indirect block:\n%.1000s", p, st)
				}
				if f := inodeFlags(t, img, p); f != "0x0" && !(p == "/big" && f == "0x1000") {
					t.Errorf("%s flags %s", p, f)
				}
			}
			if st := debugfs(t, img, "stat /sparse-9GiB"); !strings.Contains(st, "(TIND)") {
				t.Errorf("no triple indirect block:\n%.2000s", st)
			}
			// rdump writes holes out, and is slow on many files: leave
			// out the huge sparse files and /big.
			dump := t.TempDir()
			small := dirNode(0o755)
			for _, e := range root.Entries {
				if (e.Inode.Kind == Dir && e.Name != "big") || (e.Inode.Kind == Regular && e.Inode.Size < 1<<30) {
					small.Entries = append(small.Entries, e)
					debugfs(t, img, "rdump /"+e.Name+" "+dump)
				}
			}
			if err := os.Chmod(dump, fs.FileMode(root.Perm)); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(dump, root.Atime, root.Mtime); err != nil {
				t.Fatal(err)
			}
			compareTree(t, dump, small, viaRdump)
			compareTree(t, mountType(t, img, typ), root, viaMount)
		})
	}
}

func TestExt23Stats(t *testing.T) {
	root := richTree()
	for _, typ := range []string{"ext2", "ext3"} {
		opts := testOptions(1 << 30)
		opts.Type = typ
		p, err := Layout(context.Background(), root, opts)
		if err != nil {
			t.Fatal(err)
		}
		s := p.Stats()
		h := dumpe2fsHeader(t, writeImage(t, root, opts))
		if got := fmt.Sprint(s.Blocks - s.UsedBlocks); got != h["Free blocks"] {
			t.Errorf("%s: free blocks %s, dumpe2fs %s", typ, got, h["Free blocks"])
		}
		if got := fmt.Sprint(s.Inodes - s.UsedInodes); got != h["Free inodes"] {
			t.Errorf("%s: free inodes %s, dumpe2fs %s", typ, got, h["Free inodes"])
		}
		if fmt.Sprint(s.JournalBlocks) != h["Total journal blocks"] && !(typ == "ext2" && s.JournalBlocks == 0) {
			t.Errorf("%s: journal %d, dumpe2fs %q", typ, s.JournalBlocks, h["Total journal blocks"])
		}
	}
}

// TestBlockMapCounts checks indirectBlocks against a direct count of the
// indirect blocks the mapped logical blocks need.
func TestBlockMapCounts(t *testing.T) {
	r := randSource(3)
	brute := func(lg []blockRange) uint64 {
		need := map[[2]uint64]bool{}
		for _, l := range lg {
			for b := l.start; b < l.start+l.count; b++ {
				switch {
				case b < regionStart[1]:
				case b < regionStart[2]:
					need[[2]uint64{1, 0}] = true
				case b < regionStart[3]:
					i := b - regionStart[2]
					need[[2]uint64{2, 0}] = true
					need[[2]uint64{21, i >> 10}] = true
				default:
					i := b - regionStart[3]
					need[[2]uint64{3, 0}] = true
					need[[2]uint64{31, i >> 20}] = true
					need[[2]uint64{32, i >> 10}] = true
				}
			}
		}
		return uint64(len(need))
	}
	for range 200 {
		var lg []blockRange
		pos := uint64(0)
		for range r.IntN(6) {
			pos += uint64(r.IntN(3)) * uint64(r.Int64N(int64(regionStart[3]+3000000)))
			n := uint64(r.IntN(5000) + 1)
			lg = append(lg, blockRange{pos, n})
			pos += n + 1
		}
		if got, want := indirectBlocks(lg), brute(lg); got != want {
			t.Fatalf("%v: %d indirect blocks, want %d", lg, got, want)
		}
	}
}
