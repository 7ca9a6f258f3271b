package compress

import (
	"io"
	"os"
)

// ioPiece bounds one read or write system call on the page cache. The
// kernel copies a large call's buffer in one pass that, beyond the size
// of a core's cache, runs several times slower per byte than the same
// bytes in small calls: on the 2-core VM of bench/README.md, writing
// 680 MiB from cold 14 MiB buffers took 1.2-1.6 s of system time in
// whole-buffer calls, 0.5 s in 1 MiB calls and 0.3 s in 128-256 KiB
// calls. A compressed chunk is tens of MiB, so each is written (and
// each input chunk read) in pieces.
const ioPiece = 256 << 10

// writePieces writes p to w in calls of at most ioPiece bytes.
func writePieces(w io.Writer, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), ioPiece)
		if _, err := w.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// readPieces fills p from f at off in calls of at most ioPiece bytes.
func readPieces(f *os.File, p []byte, off int64) error {
	for len(p) > 0 {
		n := min(len(p), ioPiece)
		if _, err := f.ReadAt(p[:n], off); err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}
