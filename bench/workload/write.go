package workload

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// poolSize is the size of the pseudo-random pool file contents are cut
// from (each file starts at its own offset and wraps around): generating
// a gigabyte of random data would cost more than writing it.
const poolSize = 8 << 20

// pool returns the content pool of a seed.
func pool(seed uint64) []byte {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	copy(key[8:], "hermetic-repart bench pool")
	b := make([]byte, poolSize)
	rand.NewChaCha8(key).Read(b)
	return b
}

// Generate plans the tree of p and writes it into dir, which must not
// exist or be empty. It returns the tree's statistics.
func Generate(dir string, p Params) (Stats, error) {
	t, err := Plan(p)
	if err != nil {
		return Stats{}, err
	}
	return t.Stats, t.Write(dir)
}

// Write writes the planned tree into dir, which must not exist or be
// empty. Directories get their modes and times last, so that creating
// their entries does not change them and read-only modes do not get in
// the way.
func (t *Tree) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("workload: %s is not empty", dir)
	}
	w := &writer{pool: pool(t.Params.Seed), buf: make([]byte, 1<<20)}
	if err := w.create(dir, t.Root); err != nil {
		return err
	}
	if err := w.links(dir, dir, t.Root); err != nil {
		return err
	}
	return w.finish(dir, t.Root)
}

type writer struct {
	pool []byte
	buf  []byte
}

// create makes directories, regular files and symlinks, depth first.
func (w *writer) create(path string, n *Node) error {
	if n.Parent != nil {
		if err := os.Mkdir(path, 0o700); err != nil {
			return err
		}
	}
	for _, c := range n.Children {
		p := filepath.Join(path, c.Name)
		var err error
		switch c.Kind {
		case Dir:
			err = w.create(p, c)
		case File:
			err = w.file(p, c)
		case Symlink:
			if err = os.Symlink(c.Target, p); err == nil {
				err = setTimes(p, c)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) file(path string, n *Node) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = w.content(f, n)
	if err == nil {
		err = setXattrs(int(f.Fd()), n.Xattrs)
	}
	if err == nil {
		// After the data: writing clears setuid and setgid.
		err = unix.Fchmod(int(f.Fd()), n.Mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = setTimes(path, n)
	}
	if err != nil {
		return fmt.Errorf("workload: %s: %w", path, err)
	}
	return nil
}

// content writes a file's data, leaving holes between the chunks of a
// sparse file.
func (w *writer) content(f *os.File, n *Node) error {
	if n.Chunks == nil {
		return w.copyPool(f, n.PoolOff, 0, n.Size)
	}
	for i, c := range n.Chunks {
		if err := w.copyPool(f, n.PoolOff+int64(i)*c.Len, c.Off, c.Len); err != nil {
			return err
		}
	}
	return f.Truncate(n.Size)
}

// copyPool writes n pool bytes starting at pool offset from to f at off.
func (w *writer) copyPool(f *os.File, from, off, n int64) error {
	for n > 0 {
		p := from % poolSize
		c := min(n, poolSize-p, int64(len(w.buf)))
		if _, err := f.WriteAt(w.pool[p:p+c], off); err != nil {
			return err
		}
		from, off, n = from+c, off+c, n-c
	}
	return nil
}

// links adds the hard links once every file exists.
func (w *writer) links(root, path string, n *Node) error {
	for _, c := range n.Children {
		p := filepath.Join(path, c.Name)
		switch c.Kind {
		case Dir:
			if err := w.links(root, p, c); err != nil {
				return err
			}
		case HardLink:
			if err := os.Link(filepath.Join(root, c.Link.Path()), p); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish sets directory xattrs, modes and times, children first.
func (w *writer) finish(path string, n *Node) error {
	for _, c := range n.Children {
		if c.Kind == Dir {
			if err := w.finish(filepath.Join(path, c.Name), c); err != nil {
				return err
			}
		}
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("workload: %s: %w", path, err)
	}
	err = setXattrs(fd, n.Xattrs)
	if err == nil {
		err = unix.Fchmod(fd, n.Mode)
	}
	unix.Close(fd)
	if err == nil {
		err = setTimes(path, n)
	}
	if err != nil {
		return fmt.Errorf("workload: %s: %w", path, err)
	}
	return nil
}

func setTimes(path string, n *Node) error {
	ts := unix.Timespec{Sec: n.MtimeSec, Nsec: n.MtimeNsec}
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// ErrNoXattrs is wrapped when the target file system refuses user.*
// extended attributes; Params.NoXattrs avoids them.
var ErrNoXattrs = errors.New("the file system does not support user.* extended attributes (use Params.NoXattrs)")

func setXattrs(fd int, xs []Xattr) error {
	for _, x := range xs {
		if err := unix.Fsetxattr(fd, x.Name, x.Value, 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) {
				return fmt.Errorf("%s: %w", x.Name, ErrNoXattrs)
			}
			return fmt.Errorf("setting %s: %w", x.Name, err)
		}
	}
	return nil
}
