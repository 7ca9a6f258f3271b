package vfat

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/golden"
	"github.com/hermetic-repart/hermetic-repart/internal/memdisk"
)

// TestGoldenImages pins the bytes of a few images of each FAT type, so
// that a change to the writer that should not change them (the order of
// writing, say) cannot do so unnoticed. A change of format rewrites the
// digests with -update, after the oracle tests have passed.
func TestGoldenImages(t *testing.T) {
	var got strings.Builder
	add := func(name string, root *Inode, opts Options) {
		disk := memdisk.Disk(make([]byte, opts.Size))
		p, err := Layout(context.Background(), root, opts)
		if err != nil {
			t.Fatal(name, err)
		}
		if err := p.Write(context.Background(), disk, 0); err != nil {
			t.Fatal(name, err)
		}
		fmt.Fprintf(&got, "%s %v %x %d\n", name, p.Stats().Type, sha256.Sum256(disk), opts.Size)
	}
	for _, c := range []struct {
		seed, S int
		size    int64
	}{{0, 512, 1400832}, {1, 4096, 7864320}, {4, 512, 12091392}, {5, 4096, 24510464}, {3, 4096, 19529728}, {2, 512, 42483712}, {3, 512, 314572800}, {5, 4096, 277479424}} {
		r := rand.New(rand.NewPCG(uint64(c.seed), 99))
		tt := randomTree(r, 150+c.seed*200, 300_000)
		opts := testOptions(c.size, c.S)
		add(fmt.Sprintf("rand%d-%d-%d", c.seed, c.S, c.size), tt.inodes(), opts)
	}
	add("names", namesTree(true).inodes(), testOptions(40*mib, 512))
	add("sizes", sizesTree(4096).inodes(), testOptions(40*mib, 4096))
	add("empty", dir(), testOptions(40*mib, 512))
	golden.Check(t, "digests.txt", got.String())
}
