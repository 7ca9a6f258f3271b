package ext4

import (
	"fmt"
	"testing"
)

// collidingNames finds pairs of names with the same major hash.
func collidingNames(t *testing.T, pairs int) [][2]string {
	seed := hashSeed(testSeed)
	seen := map[uint32]string{}
	var out [][2]string
	for i := 0; len(out) < pairs; i++ {
		if i > 2000000 {
			t.Fatal("no hash collisions found")
		}
		name := fmt.Sprintf("c%07d", i)
		h, _ := dirHash(name, seed)
		if prev, ok := seen[h]; ok {
			out = append(out, [2]string{prev, name})
			continue
		}
		seen[h] = name
	}
	return out
}

// TestHashCollisionAcrossLeaves builds a directory in which two names
// with the same hash end up in different leaf blocks, so the second
// leaf's index entry carries the continuation bit. e2fsck must accept it
// and the kernel must find both names.
func TestHashCollisionAcrossLeaves(t *testing.T) {
	pair := collidingNames(t, 1)[0]
	seed := hashSeed(testSeed)
	for fill := 100; fill < 2000; fill++ {
		root := dirNode(0o755)
		d := dirNode(0o755, Entry{pair[0], fileNode(0o644, []byte("first"))}, Entry{pair[1], fileNode(0o644, []byte("second"))})
		for i := range fill {
			d.Entries = append(d.Entries, Entry{fmt.Sprintf("fill%05d", i), fileNode(0o644, nil)})
		}
		root.Entries = []Entry{{"d", d}}
		ents := make([]dirent, len(d.Entries))
		for i, e := range d.Entries {
			ents[i] = dirent{name: e.Name}
		}
		s, err := shapeDir(ents, seed, 1, false, &ext4Features)
		if err != nil {
			t.Fatal(err)
		}
		split := false
		for i := 1; i < len(s.leaves); i++ {
			if s.leafHash(i)&1 == 1 {
				split = true
			}
		}
		if !split {
			continue
		}
		t.Logf("%q and %q split with %d other names", pair[0], pair[1], fill)
		img := writeImage(t, root, testOptions(16<<20))
		fsckClean(t, img)
		fsckStable(t, img)
		compareTree(t, mountRO(t, img), root, viaMount)
		return
	}
	t.Fatal("could not place the colliding names in different leaves")
}
