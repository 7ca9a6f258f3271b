package ext4

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func special(k Kind, perm uint16) *Inode {
	return &Inode{Kind: k, Perm: perm, Atime: testTime, Mtime: testTime, Ctime: testTime, Crtime: testTime}
}

// acl builds a POSIX ACL in getxattr form: owner, named user 1000, group,
// mask, other.
func acl() []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	ent := func(tag, perm uint16, id uint32) {
		b = binary.LittleEndian.AppendUint16(b, tag)
		b = binary.LittleEndian.AppendUint16(b, perm)
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	ent(0x01, 7, 0xFFFFFFFF)
	ent(0x02, 6, 1000)
	ent(0x04, 5, 0xFFFFFFFF)
	ent(0x08, 4, 2000)
	ent(0x10, 7, 0xFFFFFFFF)
	ent(0x20, 1, 0xFFFFFFFF)
	return b
}

// richTree is a tree with one of everything the writer handles.
func richTree() *Inode {
	r := rand.New(rand.NewPCG(1, 2))
	root := dirNode(0o755)
	root.Xattrs = []Xattr{{"security.selinux", []byte("system_u:object_r:root_t:s0\x00")}}
	add := func(d *Inode, name string, in *Inode) *Inode {
		d.Entries = append(d.Entries, Entry{name, in})
		return in
	}

	small := add(root, "small", dirNode(0o755))
	for i := range 2000 {
		n := r.IntN(20000)
		switch i % 100 {
		case 0:
			n = 0
		case 1:
			n = 1
		case 2:
			n = 4096
		case 3:
			n = 8192
		}
		add(small, fmt.Sprintf("f%04d", i), fileNode(0o644, randBytes(r, n)))
	}

	names := add(root, "names", dirNode(0o755))
	add(names, strings.Repeat("n", 255), fileNode(0o644, []byte("long name")))
	add(names, "caf\xe9", fileNode(0o644, []byte("latin-1")))
	add(names, "\xff\xfe\x80", fileNode(0o644, []byte("bytes")))
	add(names, "a\nb c", fileNode(0o644, []byte("newline")))
	add(names, "日本語", fileNode(0o644, []byte("utf-8")))
	add(names, "-", dirNode(0o700))

	links := add(root, "links", dirNode(0o755))
	for _, n := range []int{1, 59, 60, 61, 4095} {
		add(links, fmt.Sprint("l", n), linkNode(strings.Repeat("t", n)))
	}
	add(links, "abs", linkNode("/usr/lib/os-release"))
	add(links, "rel", linkNode("../small/f0001"))

	spec := add(root, "special", dirNode(0o755))
	add(spec, "fifo", special(FIFO, 0o644))
	add(spec, "sock", special(Socket, 0o755))
	null := add(spec, "null", special(CharDev, 0o666))
	null.Major, null.Minor = 1, 3
	sda := add(spec, "sda1", special(BlockDev, 0o660))
	sda.Major, sda.Minor, sda.GID = 8, 1, 6
	big := add(spec, "bigdev", special(CharDev, 0o600))
	big.Major, big.Minor = 4000, 1000000

	hard := add(root, "hard", dirNode(0o755))
	ha, hb := add(hard, "a", dirNode(0o755)), add(hard, "b", dirNode(0o755))
	shared := fileNode(0o644, randBytes(r, 10000))
	for i := range 40 {
		add([]*Inode{ha, hb}[i%2], fmt.Sprint("link", i), shared)
	}
	sl := linkNode("shared-symlink-target")
	add(ha, "sym1", sl)
	add(hb, "sym2", sl)
	fifo := special(FIFO, 0o600)
	add(ha, "fifo1", fifo)
	add(hb, "fifo2", fifo)

	perm := add(root, "perm", dirNode(0o1777))
	add(perm, "setuid", fileNode(0o4755, []byte("#!/bin/true\n")))
	add(perm, "setgid", fileNode(0o2711, []byte("x")))
	add(perm, "none", fileNode(0, []byte("y")))
	own := add(perm, "owned", fileNode(0o640, []byte("z")))
	own.UID, own.GID = 100000, 200000
	add(perm, "sgid-dir", dirNode(0o2775)).UID = 65534

	times := add(root, "times", dirNode(0o755))
	tf := func(name string, tm time.Time) {
		f := add(times, name, fileNode(0o644, []byte(name)))
		f.Atime, f.Mtime, f.Ctime, f.Crtime = tm, tm.Add(time.Second), tm.Add(2*time.Second), tm.Add(3*time.Second)
	}
	tf("nanos", time.Unix(1600000000, 123456789))
	tf("pre1970", time.Unix(-1000000000, 5))
	tf("y2040", time.Date(2040, 1, 1, 0, 0, 0, 999999999, time.UTC))
	tf("y2200", time.Date(2200, 6, 1, 0, 0, 0, 1, time.UTC))
	tf("y2300", time.Date(2300, 6, 1, 0, 0, 0, 1, time.UTC))
	tf("y2350", time.Date(2350, 6, 1, 0, 0, 0, 1, time.UTC))
	tf("y2400", time.Date(2400, 6, 1, 0, 0, 0, 1, time.UTC))
	tf("y3000", time.Date(3000, 6, 1, 0, 0, 0, 1, time.UTC))
	tf("y1800", time.Date(1800, 6, 1, 0, 0, 0, 1, time.UTC))
	zero := add(times, "zero", fileNode(0o644, nil))
	zero.Atime, zero.Mtime, zero.Ctime, zero.Crtime = time.Time{}, time.Time{}, time.Time{}, time.Time{}

	xa := add(root, "xattr", dirNode(0o755))
	add(xa, "small", fileNode(0o644, []byte("s"))).Xattrs = []Xattr{{"user.a", []byte("1")}}
	bigSet := func() []Xattr {
		return []Xattr{
			{"security.selinux", []byte("system_u:object_r:bin_t:s0\x00")},
			{"security.capability", []byte{1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
			{"user.big", randBytes(rand.New(rand.NewPCG(3, 4)), 2000)},
			{"trusted.t", []byte("trusted value")},
			{"user.empty", nil},
		}
	}
	for i := range 5 {
		add(xa, fmt.Sprint("shared", i), fileNode(0o755, []byte{byte(i)})).Xattrs = bigSet()
	}
	add(xa, "empty-with-xattrs", fileNode(0o644, nil)).Xattrs = bigSet()
	var many []Xattr
	for i := range 60 {
		many = append(many, Xattr{fmt.Sprintf("user.attr%02d", i), []byte(strings.Repeat("v", i))})
	}
	add(xa, "many", fileNode(0o644, []byte("m"))).Xattrs = many
	aclDir := add(xa, "acl", dirNode(0o775))
	aclDir.Xattrs = []Xattr{{"system.posix_acl_access", acl()}, {"system.posix_acl_default", acl()}}
	add(xa, "symlink", linkNode("target")).Xattrs = []Xattr{{"trusted.overlay.opaque", []byte("y")}}
	add(xa, "fifo", special(FIFO, 0o644)).Xattrs = []Xattr{{"security.selinux", []byte("fifo_t\x00")}}

	data := add(root, "data", dirNode(0o755))
	add(data, "3MiB", &Inode{Kind: Regular, Perm: 0o644, Size: 3 << 20, Data: pattern{runs: []Run{{Offset: 0, Length: 3 << 20}}, seed: 1}})
	add(data, "hole", &Inode{Kind: Regular, Perm: 0o644, Size: 10 << 20})
	add(data, "trailing-zeros", fileNode(0o644, append([]byte("abc"), make([]byte, 20000)...)))
	add(data, "unaligned-runs", &Inode{Kind: Regular, Perm: 0o644, Size: 100000,
		Data: pattern{runs: []Run{{Offset: 100, Length: 1000}, {Offset: 1500, Length: 10}, {Offset: 4000, Length: 200}, {Offset: 50000, Length: 3}, {Offset: 99999, Length: 1}}, seed: 2}})
	add(root, "empty-dir", dirNode(0o755))
	return root
}

func TestRichTree(t *testing.T) {
	root := richTree()
	img := writeImage(t, root, testOptions(64<<20))
	fsckClean(t, img)
	fsckStable(t, img)
	compareTree(t, mountRO(t, img), root, viaMount)
	dump := t.TempDir()
	debugfs(t, img, "rdump / "+dump)
	compareTree(t, dump, root, viaRdump)
}

func TestEaList(t *testing.T) {
	root := richTree()
	img := writeImage(t, root, testOptions(64<<20))
	out := debugfs(t, img, "ea_list /xattr/shared3")
	for _, want := range []string{"security.selinux", "security.capability", "user.big (2000)", "trusted.t (13) = \"trusted value\"", "user.empty (0)"} {
		if !strings.Contains(out, want) {
			t.Errorf("ea_list lacks %q:\n%s", want, out)
		}
	}
	st := debugfs(t, img, "stat /xattr/shared0")
	if !strings.Contains(st, "File ACL: ") || strings.Contains(st, "File ACL: 0\n") {
		t.Errorf("shared0 has no xattr block:\n%s", st)
	}
}

func randSource(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }
