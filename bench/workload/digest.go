package workload

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Digest hashes everything Generate controls in the tree at dir: names,
// types, modes, mtimes, sizes, contents, symlink targets, user.* xattrs
// and which names share an inode. Two trees with the same digest are the
// same workload; ownership, atimes and ctimes are left out.
func Digest(dir string) (string, error) {
	d := &digester{h: sha256.New(), inodes: map[[2]uint64]string{}}
	if err := d.walk(dir, "."); err != nil {
		return "", err
	}
	return hex.EncodeToString(d.h.Sum(nil)), nil
}

type digester struct {
	h hash.Hash
	// inodes maps (dev, ino) of a multiply linked file to its first path.
	inodes map[[2]uint64]string
}

func (d *digester) walk(root, rel string) error {
	path := filepath.Join(root, rel)
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return err
	}
	fmt.Fprintf(d.h, "%q %o %d.%09d", rel, st.Mode, st.Mtim.Sec, st.Mtim.Nsec)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := d.inodes[key]; ok {
			fmt.Fprintf(d.h, " link=%q\n", first)
			return nil
		}
		if st.Nlink > 1 {
			d.inodes[key] = rel
		}
		fmt.Fprintf(d.h, " size=%d", st.Size)
		if err := d.content(path); err != nil {
			return err
		}
	case unix.S_IFLNK:
		t, err := os.Readlink(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(d.h, " -> %q", t)
	}
	if err := d.xattrs(path); err != nil {
		return err
	}
	d.h.Write([]byte{'\n'})
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	slices.Sort(names)
	for _, n := range names {
		if err := d.walk(root, filepath.Join(rel, n)); err != nil {
			return err
		}
	}
	return nil
}

func (d *digester) content(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	fmt.Fprintf(d.h, " sha256=%x", h.Sum(nil))
	return nil
}

func (d *digester) xattrs(path string) error {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(path, buf)
	if err != nil {
		if err == unix.ENOTSUP {
			return nil
		}
		return fmt.Errorf("listing xattrs of %s: %w", path, err)
	}
	var names []string
	for _, x := range strings.Split(string(buf[:n]), "\x00") {
		if strings.HasPrefix(x, "user.") {
			names = append(names, x)
		}
	}
	slices.Sort(names)
	for _, x := range names {
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(path, x, v)
		if err != nil {
			return fmt.Errorf("reading xattr %s of %s: %w", x, path, err)
		}
		fmt.Fprintf(d.h, " %s=%q", x, v[:m])
	}
	return nil
}
