package main

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/imagefile"
)

// testEpoch is the SOURCE_DATE_EPOCH of the tests; realTree has times on
// both sides of it.
const testEpoch = 1_700_000_000

// hugeSize is the size of realTree's sparse file beyond 4 GiB.
const hugeSize = 5 << 30

// realTree describes a source tree with the things real root file systems
// hold and the edge cases of ext4: files of many sizes, sparse files and a
// 5 GiB one, a directory of bigN entries (htree), 200 levels of nesting,
// paths longer than PATH_MAX, 255-byte and non-UTF-8 names, symlinks around the 60-byte inline limit
// and of 4095 bytes, hard links within and across directories (also of a
// fifo), fifos, a socket, devices (also with numbers beyond 8 bits),
// setuid/setgid/sticky bits, xattrs of every namespace including
// security.capability, POSIX ACLs and sets that need an xattr block,
// owners other than root (also beyond 16 bits), and times before 1970,
// after 2038, and on both sides of testEpoch down to the nanosecond.
func realTree(bigN int) []srcNode {
	var nodes []srcNode
	i := 0
	tm := func() unix.Timespec {
		i++
		return unix.Timespec{Sec: 1_600_000_000 + int64(i)*977, Nsec: int64(i*123457) % 1e9}
	}
	add := func(n srcNode) {
		if n.perm == 0 && n.kind != 'l' && n.kind != 'h' && !strings.HasPrefix(n.path, "modes/") {
			n.perm = map[byte]uint32{'d': 0o755, 'f': 0o644}[n.kind]
			if n.perm == 0 {
				n.perm = 0o640
			}
		}
		if n.mtime == (unix.Timespec{}) {
			n.mtime = tm()
		}
		nodes = append(nodes, n)
	}
	dir := func(p string) { add(srcNode{path: p, kind: 'd'}) }
	file := func(p string, size int64, runs ...imagefile.Run) {
		if runs == nil && size > 0 {
			runs = []imagefile.Run{{Offset: 0, Length: size}}
		}
		add(srcNode{path: p, kind: 'f', size: size, runs: runs})
	}
	symlink := func(p, target string) { add(srcNode{path: p, kind: 'l', target: target}) }
	link := func(p, target string) { add(srcNode{path: p, kind: 'h', target: target}) }

	add(srcNode{path: ".", kind: 'd', perm: 0o755, xattrs: map[string]string{"user.root": "donated"}})

	dir("files")
	for _, n := range []int64{0, 1, 2, 59, 60, 61, 511, 512, 513, 4095, 4096, 4097, 8191, 8192, 65535, 65536, 65537, 1<<20 + 3, 3 << 20} {
		file(fmt.Sprintf("files/size-%d", n), n)
	}

	dir("sparse")
	file("sparse/hole-middle", 2<<20+100, imagefile.Run{Offset: 0, Length: 8192}, imagefile.Run{Offset: 1 << 20, Length: 4096})
	file("sparse/hole-start", 68<<10, imagefile.Run{Offset: 64 << 10, Length: 4096})
	file("sparse/hole-end", 1<<20, imagefile.Run{Offset: 0, Length: 100})
	file("sparse/all-hole", 10<<20, imagefile.Run{})
	var every []imagefile.Run
	for off := int64(0); off < 2<<20; off += 8192 { // 256 extents: an extent tree with index blocks
		every = append(every, imagefile.Run{Offset: off, Length: 4096})
	}
	file("sparse/many-extents", 2<<20, every...)

	dir("huge")
	file("huge/five-gib", hugeSize,
		imagefile.Run{Offset: 0, Length: 4096},
		imagefile.Run{Offset: 4<<30 - 4096, Length: 8192}, // across the 4 GiB boundary
		imagefile.Run{Offset: hugeSize - 4096, Length: 4096})

	dir("big")
	for k := range bigN {
		name := fmt.Sprintf("big/%05d-%s", k, strings.Repeat("n", k%50))
		if k%1000 == 999 {
			dir(name)
			continue
		}
		add(srcNode{path: name, kind: 'f', perm: 0o644, mtime: unix.Timespec{Sec: 1_650_000_000 + int64(k), Nsec: int64(k)}})
	}

	p := "deep"
	dir(p)
	for k := range 200 {
		p += fmt.Sprintf("/lvl-%03d", k)
		dir(p)
	}
	file(p+"/leaf", 5000)

	// Deeper than PATH_MAX: 25 levels of 200-byte names.
	p = "longpath"
	dir(p)
	for k := range 25 {
		p += fmt.Sprintf("/%03d-%s", k, strings.Repeat("p", 196))
		dir(p)
	}
	file(p+"/leaf", 6000)
	symlink(p+"/up", "../../..")
	link(p+"/link", "files/size-4097")
	add(srcNode{path: p + "/fifo", kind: 'p'})

	dir("names")
	file("names/"+strings.Repeat("a", 255), 10)
	dir("names/" + strings.Repeat("D", 255))
	file("names/"+strings.Repeat("D", 255)+"/"+strings.Repeat("b", 255), 20)
	file("names/"+strings.Repeat("€", 85), 30) // 255 bytes of UTF-8
	for _, n := range []string{"\xff\xfe\xfd", "latin1-\xe9t\xe9", "\x80", "new\nline", "tab\there", " space ", "-dash", "back\\slash", "ü-nfc", "u\u0308-nfd", ".hidden", "..."} {
		file("names/"+n, int64(len(n)))
	}

	dir("symlinks")
	for _, n := range []int{1, 59, 60, 61, 4095} {
		target := strings.Repeat("t/", n/2)[:n-1] + "x"
		symlink(fmt.Sprintf("symlinks/len-%d", n), target)
	}
	symlink("symlinks/absolute", "/etc/passwd")
	symlink("symlinks/dotdot", "../files/size-1")
	symlink("symlinks/to-dir", "../files")
	symlink("symlinks/dangling", "does/not/exist")
	symlink("symlinks/non-utf8-\xff", "\xfe\xff")
	add(srcNode{path: "symlinks/trusted", kind: 'l', target: "x", xattrs: map[string]string{"trusted.sym": "on a symlink"}})

	dir("links")
	dir("links/a")
	dir("links/b")
	file("links/a/two", 100)
	link("links/b/two", "links/a/two")
	file("links/a/many", 5000)
	for k := range 100 {
		link(fmt.Sprintf("links/%c/many-%02d", "ab"[k%2], k), "links/a/many")
	}
	link("names/link-to-many", "links/a/many") // across top-level directories
	link("big/link-to-two", "links/a/two")
	file("links/a/empty", 0)
	link("links/b/empty", "links/a/empty")

	dir("special")
	add(srcNode{path: "special/fifo", kind: 'p', xattrs: map[string]string{"trusted.fifo": "x"}})
	link("special/fifo-link", "special/fifo")
	add(srcNode{path: "special/sock", kind: 's'})
	add(srcNode{path: "special/null", kind: 'c', rdev: unix.Mkdev(1, 3)})
	add(srcNode{path: "special/wide", kind: 'c', rdev: unix.Mkdev(260, 70000)})
	add(srcNode{path: "special/sda1", kind: 'b', rdev: unix.Mkdev(8, 1),
		xattrs: map[string]string{"security.selinux": "system_u:object_r:fixed_disk_device_t:s0\x00"}})
	add(srcNode{path: "special/loop", kind: 'b', rdev: unix.Mkdev(7, 300)})

	dir("modes")
	for _, m := range []uint32{0o4755, 0o2755, 0o2644, 0o6711, 0o7777, 0o1777, 0, 0o400, 0o111} {
		add(srcNode{path: fmt.Sprintf("modes/file-%04o", m), kind: 'f', perm: m, size: 3, runs: []imagefile.Run{{Offset: 0, Length: 3}}})
	}
	for _, m := range []uint32{0o1777, 0o3775, 0o2750, 0o700, 0o555} {
		add(srcNode{path: fmt.Sprintf("modes/dir-%04o", m), kind: 'd', perm: m})
	}

	dir("xattrs")
	add(srcNode{path: "xattrs/small", kind: 'f', perm: 0o644, size: 1, runs: []imagefile.Run{{Offset: 0, Length: 1}},
		xattrs: map[string]string{"user.a": "1", "user.empty": "", "user.bin": "\x00\x01\xff\xfe"}})
	capV2 := binary.LittleEndian.AppendUint32(nil, 0x02000001) // VFS_CAP_REVISION_2 | effective
	capV2 = binary.LittleEndian.AppendUint32(capV2, 1<<10)     // permitted: CAP_NET_BIND_SERVICE
	capV2 = append(capV2, make([]byte, 12)...)
	add(srcNode{path: "xattrs/cap", kind: 'f', perm: 0o755, size: 10, runs: []imagefile.Run{{Offset: 0, Length: 10}},
		xattrs: map[string]string{"security.capability": string(capV2)}})
	big := map[string]string{}
	for k := range 6 {
		big[fmt.Sprintf("user.big%d", k)] = strings.Repeat(string(rune('A'+k)), 500)
	}
	add(srcNode{path: "xattrs/block", kind: 'f', perm: 0o644, xattrs: big})
	add(srcNode{path: "xattrs/block-shared", kind: 'f', perm: 0o644, xattrs: big})
	many := map[string]string{}
	for k := range 40 {
		many[fmt.Sprintf("user.many%02d", k)] = fmt.Sprint(k * k)
	}
	add(srcNode{path: "xattrs/many", kind: 'd', perm: 0o755, xattrs: many})
	add(srcNode{path: "xattrs/acl", kind: 'f', perm: 0o750, xattrs: map[string]string{"system.posix_acl_access": string(posixACL())}})
	add(srcNode{path: "xattrs/acl-dir", kind: 'd', perm: 0o770, xattrs: map[string]string{
		"system.posix_acl_access": string(posixACL()), "system.posix_acl_default": string(posixACL())}})
	add(srcNode{path: "xattrs/trusted-and-security", kind: 'f', perm: 0o644, xattrs: map[string]string{
		"trusted.overlay.opaque": "y", "security.selinux": "system_u:object_r:etc_t:s0\x00", "user.x": "y"}})

	dir("owners")
	for _, o := range [][2]int{{1000, 1000}, {4242, 4343}, {65534, 65534}, {123456, 654321}, {0, 100}} {
		add(srcNode{path: fmt.Sprintf("owners/file-%d-%d", o[0], o[1]), kind: 'f', perm: 0o640, uid: o[0], gid: o[1]})
	}
	add(srcNode{path: "owners/dir-1000", kind: 'd', perm: 0o750, uid: 1000, gid: 1000})
	add(srcNode{path: "owners/dir-1000/link", kind: 'l', target: "x", uid: 1000, gid: 1001})
	add(srcNode{path: "owners/dir-1000/fifo", kind: 'p', perm: 0o600, uid: 1000, gid: 5})

	dir("times")
	for _, ts := range []unix.Timespec{
		{Sec: testEpoch}, {Sec: testEpoch, Nsec: 500_000_000}, {Sec: testEpoch - 1, Nsec: 999_999_999},
		{Sec: 1_800_000_000, Nsec: 1}, {Sec: -1_000_000_000, Nsec: 7}, {Sec: 1<<32 + 5, Nsec: 3}, {Sec: 0}, {Sec: 1},
	} {
		add(srcNode{path: fmt.Sprintf("times/t%d.%09d", ts.Sec, ts.Nsec), kind: 'f', perm: 0o644, mtime: ts})
	}
	add(srcNode{path: "times/future-dir", kind: 'd', perm: 0o755, mtime: unix.Timespec{Sec: 2_000_000_000}})
	add(srcNode{path: "times/future-dir/link", kind: 'l', target: "t", mtime: unix.Timespec{Sec: 2_000_000_001, Nsec: 5}})
	return nodes
}

// posixACL is an access ACL in getxattr form: owner, named user 1000,
// group, named group 2000, mask, other.
func posixACL() []byte {
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
	ent(0x20, 0, 0xFFFFFFFF)
	return b
}
