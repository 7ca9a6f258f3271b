package ext4

import (
	"context"
	"errors"
)

// MinSize returns the smallest size in bytes, a multiple of 4096, for
// which Layout succeeds with opts (opts.Size is ignored): every smaller
// multiple of 4096 fails with ErrNoSpace. Data.Runs is called once per
// regular file.
//
// The journal follows the size as with mke2fs, so the smallest file
// system can have a smaller journal than a larger one, or none at all
// under 8 MiB. For the same reason (and because inode tables grow with
// the size when opts.InodeRatio sets the inode count) a size above
// MinSize may still fail: MinSize is the least size that works, not the
// start of all sizes that work.
func MinSize(ctx context.Context, root *Inode, opts Options) (int64, error) {
	pr, err := prepare(ctx, root, opts)
	if err != nil {
		return 0, err
	}
	raw, err := pr.minBlocks(ctx)
	if err != nil {
		return 0, err
	}
	return int64(raw) * BlockSize, nil
}

// LayoutMin is Layout at MinSize: it returns the plan of the smallest
// file system that holds the tree. Plan.Relayout lays the same tree out
// at another size without asking the data runs again.
func LayoutMin(ctx context.Context, root *Inode, opts Options) (*Plan, error) {
	pr, err := prepare(ctx, root, opts)
	if err != nil {
		return nil, err
	}
	raw, err := pr.minBlocks(ctx)
	if err != nil {
		return nil, err
	}
	return pr.layout(ctx, int64(raw)*BlockSize)
}

// bandKey is what the allocation depends on: with the same key, every
// block lands in the same place whatever the size, so the end of the
// allocation is the same.
type bandKey struct {
	groups, ipg uint32
	journal     uint64
}

func (pr *prepared) journalAt(geo *geometry) uint64 {
	if pr.opts.NoJournal || !pr.feat.journal {
		return 0
	}
	return journalBlocks(geo.blocks)
}

func (pr *prepared) keyOf(geo *geometry) bandKey {
	return bandKey{geo.groups, geo.ipg, pr.journalAt(geo)}
}

// minBlocks finds the smallest region, in blocks, that holds the tree.
//
// Sizes (raw, the region's blocks) fall into bands in which the
// geometry's group count, inodes per group and journal size stay the same
// and the last group is either kept or dropped throughout. Within a band
// the allocation ends at the same block, so the band's smallest fitting
// size is known from one allocation, and bands are visited in increasing
// order from a lower bound. A band is only allocated when the blocks it
// must hold at the least (content, journal, all group metadata) fit: a
// few allocations in all, however many bands are visited.
func (pr *prepared) minBlocks(ctx context.Context) (uint64, error) {
	ends := map[bandKey]uint64{}
	raw := max(pr.content, 1)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		geo, err := pr.geometryAt(int64(raw) * BlockSize)
		if err != nil {
			var ge *geometryError
			if !errors.As(err, &ge) {
				return 0, err
			}
			switch ge.grow {
			case growBlock:
				raw++
				continue
			case growGroup:
				// More inodes than the groups hold. Past a dropped
				// last group there is one group more; else go to the
				// first group count that could hold them.
				want, groups := pr.inodesWanted(raw), groupEnd(raw)/blocksPerGroup
				if want <= groups*blocksPerGroup {
					raw++
					continue
				}
				if pr.opts.Inodes == 0 && want > uint64(pr.lastIno) && pr.ratio() < BlockSize {
					// More than one inode per block: a group holds
					// them only while (groups-1)*32768*4096/ratio
					// inodes fit in groups*32768.
					if (groups+1)*uint64(BlockSize-pr.ratio()) >= BlockSize {
						return 0, err
					}
					raw = groupEnd(raw) + 1
					continue
				}
				raw = max(groupEnd(raw), (want+blocksPerGroup-1)/blocksPerGroup*blocksPerGroup-blocksPerGroup) + 1
				continue
			}
			return 0, err
		}
		hi := pr.bandEnd(raw, &geo)
		dropped := geo.blocks != raw
		top := hi // the largest file system of the band
		if dropped {
			top = geo.blocks
		}
		if pr.leastBlocks(&geo) > top {
			raw = hi + 1
			continue
		}
		key := pr.keyOf(&geo)
		end, ok := ends[key]
		if !ok {
			p := pr.newPlan(int64(raw)*BlockSize, geo)
			if err := p.allocate(ctx); err != nil {
				return 0, err
			}
			end = p.end
			ends[key] = end
		}
		if dropped {
			if end <= geo.blocks {
				return raw, nil
			}
		} else if c := max(raw, end); c <= hi {
			return c, nil
		}
		raw = hi + 1
	}
}

// groupEnd is the last raw size with as many groups (before the last
// group is dropped) as raw.
func groupEnd(raw uint64) uint64 {
	return (raw + blocksPerGroup - 1) / blocksPerGroup * blocksPerGroup
}

// bandEnd returns the largest raw size of raw's band. Within the sizes
// of one group count, a dropped last group comes first, then the inodes
// per group and the journal only grow, so a band is an interval and
// binary search finds its end.
func (pr *prepared) bandEnd(raw uint64, geo *geometry) uint64 {
	key, dropped := pr.keyOf(geo), geo.blocks != raw
	same := func(r uint64) bool {
		g, err := pr.geometryAt(int64(r) * BlockSize)
		return err == nil && (g.blocks != r) == dropped && pr.keyOf(&g) == key
	}
	lo, hi := raw, groupEnd(raw) // same(lo) holds
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if same(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// leastBlocks is a lower bound of the blocks in use in a file system of
// geometry geo holding the tree.
func (pr *prepared) leastBlocks(geo *geometry) uint64 {
	n := pr.content + geo.metaBlocks()
	if j := pr.journalAt(geo); j > 0 {
		n += j + pr.metaBlocks([]blockRange{{0, j}}, []blockRange{{0, j}})
	}
	return n
}
