package layout

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"reflect"
	"testing"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// def is a Request as definition.Load leaves it for a partition without
// Format=: sizes unset, Weight=1000.
func def() Request {
	return Request{SizeMin: Unset, SizeMax: Unset, PaddingMin: Unset, PaddingMax: Unset, Weight: 1000}
}

func with(f func(r *Request)) Request {
	r := def()
	f(&r)
	return r
}

func TestMinMaxSize(t *testing.T) {
	tests := []struct {
		name     string
		r        Request
		min, max uint64
		required uint64
	}{
		{"defaults", def(), 10 * mib, Unset, 10 * mib},
		{"small default", with(func(r *Request) { r.SmallDefault = true }), 4096, Unset, 4096},
		{"small default with padding", with(func(r *Request) { r.SmallDefault = true; r.PaddingMin = 8192 }), 4096, Unset, 12288},
		{"SizeMin floored at parse time", with(func(r *Request) { r.SizeMin = 9998336 }), 9998336, Unset, 9998336},
		{"SizeMin not a grain multiple", with(func(r *Request) { r.SizeMin = 3*4096 + 1 }), 4 * 4096, Unset, 4 * 4096},
		{"SizeMin 0", with(func(r *Request) { r.SizeMin = 0 }), 4096, Unset, 4096},
		{"SizeMin 4096 (SizeMinBytes=5000)", with(func(r *Request) { r.SizeMin = 4096 }), 4096, Unset, 4096},
		{"SizeMin=SizeMax", with(func(r *Request) { r.SizeMin, r.SizeMax = 64*mib, 64*mib }), 64 * mib, 64 * mib, 64 * mib},
		{"SizeMax only", with(func(r *Request) { r.SizeMax = 50 * mib }), 10 * mib, 50 * mib, 10 * mib},
		{"SizeMax below default min", with(func(r *Request) { r.SizeMax = 2 * mib }), 10 * mib, 10 * mib, 10 * mib},
		{"SizeMax below SizeMin", with(func(r *Request) { r.SizeMin, r.SizeMax = 20*mib, 10*mib }), 20 * mib, 20 * mib, 20 * mib},
		{"SizeMax rounded down", with(func(r *Request) { r.SizeMin, r.SizeMax = 0, 3*4096+4095 }), 4096, 3 * 4096, 4096},
		{"SizeMax 0", with(func(r *Request) { r.SizeMin, r.SizeMax = 0, 0 }), 4096, 4096, 4096},
		{"padding", with(func(r *Request) { r.PaddingMin, r.PaddingMax = mib, 2*mib }), 10 * mib, Unset, 11 * mib},
		{"padding not a grain multiple", with(func(r *Request) { r.SizeMin, r.PaddingMin = 0, 100 }), 4096, Unset, 8192},
		// Format=swap and other file systems of unknown minimum: + one grain.
		{"FSMinSize unset", with(func(r *Request) { r.SizeMin, r.FSMinSize = 0, Unset }), 4096, Unset, 4096},
		{"FSMinSize unset, encrypted", with(func(r *Request) { r.FSMinSize, r.Encrypted = Unset, true }), 32*mib + 4096, Unset, 32*mib + 4096},
		{"FSMinSize unset, SizeMin=8M", with(func(r *Request) { r.SizeMin, r.FSMinSize = 8*mib, Unset }), 8 * mib, Unset, 8 * mib},
		{"ext4", with(func(r *Request) { r.FSMinSize = 32 * mib }), 32 * mib, Unset, 32 * mib},
		{"ext4 with SizeMax below", with(func(r *Request) { r.FSMinSize, r.SizeMax = 32*mib, 16*mib }), 32 * mib, 32 * mib, 32 * mib},
		{"btrfs", with(func(r *Request) { r.FSMinSize = 256 * mib }), 256 * mib, Unset, 256 * mib},
		{"odd FSMinSize", with(func(r *Request) { r.SizeMin, r.FSMinSize = 0, 4097 }), 8192, Unset, 8192},
		{"encrypted", with(func(r *Request) { r.Encrypted = true }), 32*mib + 4096, Unset, 32*mib + 4096},
		{"encrypted ext4", with(func(r *Request) { r.Encrypted, r.FSMinSize = true, 32*mib }), 64 * mib, Unset, 64 * mib},
		// CopyBlocks= content is rounded up and beats the file system minimum.
		{"content", with(func(r *Request) { r.SizeMin, r.ContentSize = 0, 12345678 }), 12349440, Unset, 12349440},
		{"content 512", with(func(r *Request) { r.SizeMin, r.ContentSize = 0, 512 }), 4096, Unset, 4096},
		{"content below default min", with(func(r *Request) { r.ContentSize = 5000 }), 10 * mib, Unset, 10 * mib},
		{"content beats FSMinSize", with(func(r *Request) { r.SizeMin, r.ContentSize, r.FSMinSize = 0, 8192, 32*mib }), 8192, Unset, 8192},
		{"content, encrypted", with(func(r *Request) { r.SizeMin, r.ContentSize, r.Encrypted = 0, 8192, true }), 32*mib + 8192, Unset, 32*mib + 8192},
		{"content above SizeMax", with(func(r *Request) { r.SizeMin, r.SizeMax, r.ContentSize = 0, 4096, 3*mib }), 3 * mib, 3 * mib, 3 * mib},
		// Verity signature partitions are pinned to 16 KiB.
		{"verity-sig type", with(func(r *Request) { r.VeritySigType = true }), 16384, Unset, 16384},
		{"verity-sig type ignores SizeMin", with(func(r *Request) { r.VeritySigType, r.SizeMin = true, 100*mib }), 16384, Unset, 16384},
		{"verity-sig type with SizeMax", with(func(r *Request) { r.VeritySigType, r.SizeMax = true, 4096 }), 16384, 16384, 16384},
		{"verity-sig type with big SizeMax", with(func(r *Request) { r.VeritySigType, r.SizeMax = true, mib }), 16384, mib, 16384},
		{"Verity=signature", with(func(r *Request) { r.VeritySignature = true }), 16384, 16384, 16384},
		{"Verity=signature, padding", with(func(r *Request) { r.VeritySignature, r.PaddingMin = true, 4096 }), 16384, 16384, 20480},
		// Overflow: Required saturates.
		{"huge", with(func(r *Request) { r.SizeMin, r.PaddingMin = 1<<63, 1<<63 }), 1 << 63, Unset, Unset},
		{"huge SizeMin", with(func(r *Request) { r.SizeMin = Unset - 1 }), Unset &^ 4095, Unset, Unset &^ 4095},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.MinSize(); got != tc.min {
				t.Errorf("MinSize = %d, want %d", got, tc.min)
			}
			if got := tc.r.MaxSize(); got != tc.max {
				t.Errorf("MaxSize = %d, want %d", got, tc.max)
			}
			if got := tc.r.Required(); got != tc.required {
				t.Errorf("Required = %d, want %d", got, tc.required)
			}
			if mx := tc.r.MaxSize(); mx < tc.r.MinSize() {
				t.Errorf("MaxSize %d < MinSize %d", mx, tc.r.MinSize())
			}
		})
	}
}

func TestMinPadding(t *testing.T) {
	if got := def().MinPadding(); got != 0 {
		t.Errorf("unset padding: %d", got)
	}
	if got := with(func(r *Request) { r.PaddingMin = 5 * mib }).MinPadding(); got != 5*mib {
		t.Errorf("PaddingMin=5M: %d", got)
	}
}

func TestAutoSize(t *testing.T) {
	a := vectorA()
	if got := AutoSize(a, nil); got != 212881408 {
		t.Errorf("vector A: AutoSize = %d, want 212881408", got)
	}
	if got := AutoSize(a, []bool{false, true, false, false, true}); got != GPTOverhead+64*mib+20*mib+10*mib {
		t.Errorf("vector A without root and swap: AutoSize = %d", got)
	}
	if got := AutoSize(nil, nil); got != GPTOverhead {
		t.Errorf("no partitions: AutoSize = %d", got)
	}
	// Vectors D and E (spec §15.5, §15.6).
	d := []Request{with(func(r *Request) { r.SizeMin = mib })}
	if got := AutoSize(d, nil); got != 2117632 {
		t.Errorf("vector D: AutoSize = %d, want 2117632", got)
	}
	e := []Request{
		with(func(r *Request) { r.SizeMin, r.SizeMax = mib, mib }),
		with(func(r *Request) { r.SizeMin, r.SizeMax = mib, mib }),
	}
	if got := AutoSize(e, nil); got != 3166208 {
		t.Errorf("vector E: AutoSize = %d, want 3166208", got)
	}
	// Padding counts.
	p := []Request{with(func(r *Request) { r.SizeMin, r.PaddingMin = mib, 5*mib })}
	if got := AutoSize(p, nil); got != GPTOverhead+6*mib {
		t.Errorf("padding: AutoSize = %d", got)
	}
}

// vectorA is spec §15.2: esp 64M, root 100M, home ≥20M, home, swap 8M.
func vectorA() []Request {
	return []Request{
		with(func(r *Request) { r.SizeMin, r.SizeMax = 64*mib, 64*mib }),
		with(func(r *Request) { r.SizeMin, r.SizeMax = 100*mib, 100*mib }),
		with(func(r *Request) { r.SizeMin = 20 * mib }),
		def(),
		with(func(r *Request) { r.SizeMin, r.SizeMax, r.FSMinSize = 8*mib, 8*mib, Unset }),
	}
}

// vectorB is spec §15.3, computed by hand from its definitions:
//
//	10-root: Weight=1000 PaddingWeight=100 SizeMinBytes=10000000 (floored to 9998336)
//	20-var: Weight=500 SizeMaxBytes=50M PaddingMinBytes=1M
//	30-srv: Weight=2000
//	40-tmp: (defaults)
//	50-generic: Priority=1 SizeMinBytes=5000 (floored to 4096)
func vectorB() []Request {
	return []Request{
		with(func(r *Request) { r.PaddingWeight, r.SizeMin = 100, 9998336 }),
		with(func(r *Request) { r.Weight, r.SizeMax, r.PaddingMin = 500, 50*mib, mib }),
		with(func(r *Request) { r.Weight = 2000 }),
		def(),
		with(func(r *Request) { r.Priority, r.SizeMin = 1, 4096 }),
	}
}

// area returns repart's free area for a fresh disk of size bytes:
// [ceil_g(first·ss), floor_g((last+1)·ss)), with libfdisk's geometry.
func area(size, ss uint64) (start, end uint64) {
	n := size / ss
	e := 16384 / ss
	first := 1 * mib / ss
	if n*ss <= 4*mib {
		first = 2 + e
	}
	last := n - 2 - e
	return roundUp(first * ss), roundDown((last + 1) * ss)
}

func TestArea(t *testing.T) {
	if s, e := area(500*mib, 512); s != 1048576 || e != 524288000-20480 {
		t.Errorf("500M/512: %d-%d", s, e)
	}
	if s, e := area(2117632, 512); s != 20480 || e != 2097152 {
		t.Errorf("vector D: %d-%d", s, e)
	}
	if s, e := area(4*mib, 4096); s != 24576 || e != 1019*4096 {
		t.Errorf("4M/4096: %d-%d", s, e)
	}
}

type placed struct{ partno, offset, size, padding int64 }

func TestPlanGolden(t *testing.T) {
	tests := []struct {
		name       string
		reqs       []Request
		size, ss   uint64
		want       []placed // partno -1: dropped
		wantDrops  []int
		byteOffset bool // want offsets/sizes in bytes, else in sectors
	}{
		{
			name: "vector A", reqs: vectorA(), size: 212881408, ss: 512,
			want: []placed{{0, 2048, 131072, 0}, {1, 133120, 204800, 0}, {2, 337920, 40960, 0}, {3, 378880, 20480, 0}, {4, 399360, 16384, 0}},
		},
		{
			name: "vector B", reqs: vectorB(), size: 500 * mib, ss: 512, byteOffset: true,
			want: []placed{
				{0, 1048576, 93241344, 9322496},
				{1, 103612416, 46620672, 1048576},
				{2, 151281664, 186490880, 0},
				{3, 337772544, 93245440, 0},
				{4, 431017984, 93249536, 0},
			},
		},
		{
			name: "vector C", ss: 4096, size: 64 * mib,
			reqs: []Request{with(func(r *Request) { r.SizeMin, r.SizeMax = 8*mib, 8*mib }), def()},
			want: []placed{{0, 256, 2048, 0}, {1, 2304, 14075, 0}},
		},
		{
			// Small-disk rule: the whole 2 MiB - 20 KiB area goes to the partition.
			name: "vector D", ss: 512, size: 2117632,
			reqs: []Request{with(func(r *Request) { r.SizeMin = mib })},
			want: []placed{{0, 40, 4056, 0}},
		},
		{
			name: "vector D, 4096-byte sectors", ss: 4096, size: 4 * mib,
			reqs: []Request{with(func(r *Request) { r.SizeMin, r.SizeMax = mib, mib })},
			want: []placed{{0, 6, 256, 0}},
		},
		{
			name: "vector E", ss: 512, size: 3166208,
			reqs: []Request{
				with(func(r *Request) { r.SizeMin, r.SizeMax = mib, mib }),
				with(func(r *Request) { r.SizeMin, r.SizeMax = mib, mib }),
			},
			want: []placed{{0, 40, 2048, 0}, {1, 2088, 2048, 0}},
		},
		{
			// Vector B on a disk with room for exactly the minimums of
			// all but the Priority=1 partition, which is dropped.
			name: "vector B, dropping", reqs: vectorB(), size: 43573248, ss: 512, byteOffset: true,
			wantDrops: []int{4},
			want: []placed{
				{0, 1048576, 9998336, 0},
				{1, 11046912, 10 * mib, mib},
				{2, 22581248, 10 * mib, 0},
				{3, 33067008, 10 * mib, 0},
				{-1, 0, 0, 0},
			},
		},
		{
			name: "vector B, one grain more", reqs: vectorB(), size: 43573248 + 4096, ss: 512, byteOffset: true,
			want: []placed{
				{0, 1048576, 9998336, 0},
				{1, 11046912, 10 * mib, mib},
				{2, 22581248, 10 * mib, 0},
				{3, 33067008, 10 * mib, 0},
				{4, 43552768, 4096, 0},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start, end := area(tc.size, tc.ss)
			var drops []int
			got, err := Plan(tc.reqs, start, end, func(i int) { drops = append(drops, i) })
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, tc.reqs, start, end, got)
			if tc.want == nil {
				return
			}
			if !reflect.DeepEqual(drops, tc.wantDrops) {
				t.Errorf("dropped %v, want %v", drops, tc.wantDrops)
			}
			unit := tc.ss
			if tc.byteOffset {
				unit = 1
			}
			var have []placed
			for _, p := range got {
				have = append(have, placed{int64(p.PartNo), int64(p.Offset / unit), int64(p.Size / unit), int64(p.Padding / unit)})
			}
			if !reflect.DeepEqual(have, tc.want) {
				t.Errorf("placements\n got %v\nwant %v", have, tc.want)
			}
		})
	}
}

// checkPlan checks what every successful plan must satisfy.
func checkPlan(t *testing.T, reqs []Request, start, end uint64, got []Placement) {
	t.Helper()
	if len(got) != len(reqs) {
		t.Fatalf("%d placements for %d requests", len(got), len(reqs))
	}
	next := 0
	offset := start
	for i, p := range got {
		r := reqs[i]
		if p.Dropped {
			if p.PartNo != -1 {
				t.Errorf("#%d dropped with PartNo %d", i, p.PartNo)
			}
			continue
		}
		if p.PartNo != next {
			t.Errorf("#%d: PartNo %d, want %d", i, p.PartNo, next)
		}
		next++
		if p.Offset%Grain != 0 || p.Size%Grain != 0 || p.Padding%Grain != 0 {
			t.Errorf("#%d: %+v not grain-aligned", i, p)
		}
		if p.Offset < offset {
			t.Errorf("#%d: offset %d overlaps the previous partition (ends at %d)", i, p.Offset, offset)
		}
		if p.Size < r.MinSize() || p.Size > r.MaxSize() {
			t.Errorf("#%d: size %d outside [%d, %d]", i, p.Size, r.MinSize(), r.MaxSize())
		}
		if p.Padding < r.MinPadding() || (r.PaddingMax != Unset && p.Padding > max(r.PaddingMax, r.MinPadding())) {
			t.Errorf("#%d: padding %d outside [%d, %d]", i, p.Padding, r.MinPadding(), r.PaddingMax)
		}
		offset = p.Offset + p.Size + p.Padding
		if offset > end || offset < p.Offset {
			t.Errorf("#%d: %+v ends past the free area [%d, %d)", i, p, start, end)
		}
	}
}

func TestPlanPriority(t *testing.T) {
	reqs := []Request{
		with(func(r *Request) { r.SizeMin = 10 * mib }),
		with(func(r *Request) { r.SizeMin, r.Priority = 20*mib, 2 }),
		with(func(r *Request) { r.SizeMin, r.Priority = 15*mib, 1 }),
		with(func(r *Request) { r.SizeMin, r.Priority = 5*mib, 2 }),
		with(func(r *Request) { r.SizeMin, r.Priority = 10*mib, -1 }),
	}
	tests := []struct {
		name    string
		area    uint64
		drops   []int
		partnos []int
		noFit   bool
	}{
		{"everything fits", 60 * mib, nil, []int{0, 1, 2, 3, 4}, false},
		{"everything fits with room", 100 * mib, nil, []int{0, 1, 2, 3, 4}, false},
		{"drop priority 2", 59 * mib, []int{1, 3}, []int{0, -1, 1, -1, 2}, false},
		{"drop priority 2 exactly", 35 * mib, []int{1, 3}, []int{0, -1, 1, -1, 2}, false},
		{"drop priorities 2 and 1", 35*mib - 4096, []int{1, 3, 2}, []int{0, -1, -1, -1, 1}, false},
		{"drop priorities 2 and 1 exactly", 20 * mib, []int{1, 3, 2}, []int{0, -1, -1, -1, 1}, false},
		{"nothing left to drop", 20*mib - 4096, []int{1, 3, 2}, nil, true},
		{"empty area", 0, []int{1, 3, 2}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var drops []int
			start := uint64(mib)
			got, err := Plan(reqs, start, start+tc.area, func(i int) { drops = append(drops, i) })
			if !reflect.DeepEqual(drops, tc.drops) {
				t.Errorf("onDrop calls %v, want %v", drops, tc.drops)
			}
			if tc.noFit {
				var nf *NoFitError
				if !errors.As(err, &nf) || !errors.Is(err, ErrNoFit) {
					t.Fatalf("Plan error %v, want a NoFitError", err)
				}
				if nf.LargestFree != tc.area {
					t.Errorf("LargestFree %d, want %d", nf.LargestFree, tc.area)
				}
				if got != nil {
					t.Errorf("placements returned with an error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, reqs, start, start+tc.area, got)
			var partnos []int
			for i, p := range got {
				partnos = append(partnos, p.PartNo)
				if p.Dropped != (p.PartNo == -1) {
					t.Errorf("#%d: Dropped=%v PartNo=%d", i, p.Dropped, p.PartNo)
				}
			}
			if !reflect.DeepEqual(partnos, tc.partnos) {
				t.Errorf("partnos %v, want %v", partnos, tc.partnos)
			}
		})
	}
	// A nil onDrop is fine.
	if _, err := Plan(reqs, mib, mib+40*mib, nil); err != nil {
		t.Errorf("nil onDrop: %v", err)
	}
}

func TestPlanNoFit(t *testing.T) {
	tests := []struct {
		name       string
		reqs       []Request
		start, end uint64
	}{
		{"one too big", []Request{def()}, mib, mib + 10*mib - 4096},
		{"end before start", []Request{def()}, 2 * mib, mib},
		{"only priority 0 and below", []Request{
			with(func(r *Request) { r.Priority = -5 }),
			with(func(r *Request) { r.Priority = 0 }),
		}, mib, 20*mib + mib - 4096},
		{"required overflows", []Request{with(func(r *Request) { r.SizeMin, r.PaddingMin = 1<<63, 1<<63 })}, 0, Unset &^ 4095},
		{"sum overflows", []Request{
			with(func(r *Request) { r.SizeMin = 1 << 63 }),
			with(func(r *Request) { r.SizeMin = 1 << 63 }),
		}, 0, Unset &^ 4095},
	}
	for _, tc := range tests {
		var drops []int
		_, err := Plan(tc.reqs, tc.start, tc.end, func(i int) { drops = append(drops, i) })
		var nf *NoFitError
		if !errors.As(err, &nf) {
			t.Errorf("%s: Plan error %v, want NoFitError", tc.name, err)
			continue
		}
		if len(drops) != 0 {
			t.Errorf("%s: dropped %v", tc.name, drops)
		}
		wantFree := uint64(0)
		if tc.end > tc.start {
			wantFree = tc.end - tc.start
		}
		if nf.LargestFree != wantFree {
			t.Errorf("%s: LargestFree %d, want %d", tc.name, nf.LargestFree, wantFree)
		}
		if nf.Error() == "" {
			t.Errorf("%s: empty message", tc.name)
		}
	}
	// No requests always fit.
	if got, err := Plan(nil, 0, 0, nil); err != nil || len(got) != 0 {
		t.Errorf("Plan(nil) = %v, %v", got, err)
	}
}

func TestPlanWeights(t *testing.T) {
	start, end := uint64(mib), uint64(mib+100*mib)
	tests := []struct {
		name  string
		reqs  []Request
		sizes []uint64
		pads  []uint64
	}{
		{"equal weights", []Request{def(), def()}, []uint64{50 * mib, 50 * mib}, []uint64{0, 0}},
		{"1:3", []Request{
			with(func(r *Request) { r.Weight = 1000 }),
			with(func(r *Request) { r.Weight = 3000 }),
		}, []uint64{25 * mib, 75 * mib}, []uint64{0, 0}},
		{"weight 0 gets its minimum", []Request{
			with(func(r *Request) { r.Weight = 0 }),
			def(),
		}, []uint64{10 * mib, 90 * mib}, []uint64{0, 0}},
		{"all weights 0: leftover goes to the first", []Request{
			with(func(r *Request) { r.Weight = 0 }),
			with(func(r *Request) { r.Weight = 0 }),
		}, []uint64{90 * mib, 10 * mib}, []uint64{0, 0}},
		{"max caps, the rest is redistributed", []Request{
			with(func(r *Request) { r.SizeMax = 20 * mib }),
			def(),
		}, []uint64{20 * mib, 80 * mib}, []uint64{0, 0}},
		{"all capped: space stays free", []Request{
			with(func(r *Request) { r.SizeMax = 20 * mib }),
			with(func(r *Request) { r.SizeMax = 30 * mib }),
		}, []uint64{20 * mib, 30 * mib}, []uint64{0, 0}},
		{"padding weight", []Request{
			with(func(r *Request) { r.Weight, r.PaddingWeight = 1000, 1000 }),
		}, []uint64{50 * mib}, []uint64{50 * mib}},
		{"padding max", []Request{
			with(func(r *Request) { r.PaddingWeight, r.PaddingMax = 1000, 4*mib }),
		}, []uint64{96 * mib}, []uint64{4 * mib}},
		{"min beats share", []Request{
			with(func(r *Request) { r.SizeMin = 80 * mib }),
			def(),
		}, []uint64{80 * mib, 20 * mib}, []uint64{0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Plan(tc.reqs, start, end, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, tc.reqs, start, end, got)
			for i, p := range got {
				if p.Size != tc.sizes[i] || p.Padding != tc.pads[i] {
					t.Errorf("#%d: size %d padding %d, want %d %d", i, p.Size, p.Padding, tc.sizes[i], tc.pads[i])
				}
			}
		})
	}
}

func TestScale(t *testing.T) {
	tests := []struct {
		value, weight, sum, want uint64
	}{
		{100, 0, 10, 0},
		{100, 0, 0, 0},
		{100, 10, 10, 100},
		{100, 3, 10, 30},
		{100, 1, 3, 33},
		{Unset, 1, 1, Unset},
		{Unset, 0, 5, 0},
		// value*weight overflows: the weights are halved until it does not.
		{Unset, 2, 4, Unset / 2},
		{1 << 62, 8, 16, 1 << 61},
	}
	for _, tc := range tests {
		if got := scale(tc.value, tc.weight, tc.sum); got != tc.want {
			t.Errorf("scale(%d, %d, %d) = %d, want %d", tc.value, tc.weight, tc.sum, got, tc.want)
		}
	}
	// Overflowing products stay at most value and at most the exact result.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		value := rng.Uint64() >> rng.UintN(20)
		sum := 1 + rng.Uint64N(128*2_000_000)
		weight := rng.Uint64N(sum + 1)
		if i%4 == 0 {
			weight = min(sum, 1_000_000)
		}
		got := scale(value, weight, sum)
		exact := new(big.Int).Mul(new(big.Int).SetUint64(value), new(big.Int).SetUint64(weight))
		exact.Quo(exact, new(big.Int).SetUint64(sum))
		if got > value {
			t.Fatalf("scale(%d, %d, %d) = %d > value", value, weight, sum, got)
		}
		if new(big.Int).SetUint64(got).Cmp(exact) > 0 {
			t.Fatalf("scale(%d, %d, %d) = %d > exact %s", value, weight, sum, got, exact)
		}
		// Without overflow the result is exact. (With overflow repart's
		// halving can lose much precision, e.g. value/2 instead of 0.8·value
		// for weights near 2^27; that is what repart computes too.)
		if weight == 0 || value <= Unset/weight {
			if new(big.Int).SetUint64(got).Cmp(exact) != 0 {
				t.Errorf("scale(%d, %d, %d) = %d, exact %s", value, weight, sum, got, exact)
			}
		}
	}
}

// TestPlanHugeDisk exercises the overflow path of scale through Plan:
// an exabyte disk with maximal weights.
func TestPlanHugeDisk(t *testing.T) {
	reqs := []Request{
		with(func(r *Request) { r.Weight, r.PaddingWeight = 1_000_000, 1_000_000 }),
		with(func(r *Request) { r.Weight = 999_999 }),
		with(func(r *Request) { r.Weight, r.SizeMax = 1, 1<<40 }),
		with(func(r *Request) { r.Weight = 0 }),
	}
	start := uint64(mib)
	end := roundDown(1 << 63)
	got, err := Plan(reqs, start, end, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, reqs, start, end, got)
	var total uint64
	for _, p := range got {
		total += p.Size + p.Padding
	}
	if total > end-start {
		t.Errorf("allocated %d of %d", total, end-start)
	}
	end = Unset &^ (Grain - 1)
	got, err = Plan(reqs, start, end, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, reqs, start, end, got)
}

// TestPlanRandom checks the invariants of Plan on random definition sets.
func TestPlanRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 7))
	sizes := []uint64{Unset, 0, 4096, mib, 2 * mib, 5 * mib, 8 * mib, 10 * mib, 33 * mib, 100 * mib}
	pick := func() uint64 { return sizes[rng.IntN(len(sizes))] }
	weights := []uint32{0, 1, 10, 100, 500, 1000, 2000, 1_000_000}
	for iter := 0; iter < 5000; iter++ {
		n := 1 + rng.IntN(8)
		reqs := make([]Request, n)
		for i := range reqs {
			r := def()
			r.SizeMin, r.SizeMax = pick(), pick()
			if r.SizeMin != Unset && r.SizeMax != Unset && r.SizeMin > r.SizeMax {
				r.SizeMin, r.SizeMax = r.SizeMax, r.SizeMin
			}
			r.PaddingMin, r.PaddingMax = pick(), pick()
			if r.PaddingMin != Unset && r.PaddingMax != Unset && r.PaddingMin > r.PaddingMax {
				r.PaddingMin, r.PaddingMax = r.PaddingMax, r.PaddingMin
			}
			r.Weight = weights[rng.IntN(len(weights))]
			r.PaddingWeight = weights[rng.IntN(len(weights))]
			r.Priority = int32(rng.IntN(4)) - 1
			switch rng.IntN(4) {
			case 0:
				r.FSMinSize = Unset
			case 1:
				r.SmallDefault = true
			}
			reqs[i] = r
		}
		start := uint64(mib)
		if rng.IntN(3) == 0 {
			start = 20480
		}
		end := start + uint64(rng.IntN(400))*mib + uint64(rng.IntN(256))*4096
		var drops []int
		got, err := Plan(reqs, start, end, func(i int) { drops = append(drops, i) })
		if err != nil {
			if !errors.Is(err, ErrNoFit) {
				t.Fatalf("Plan: %v", err)
			}
			continue
		}
		checkPlan(t, reqs, start, end, got)
		for _, i := range drops {
			if !got[i].Dropped {
				t.Fatalf("onDrop(%d) but not dropped", i)
			}
		}
		if t.Failed() {
			t.Fatalf("requests %+v, area %d-%d", reqs, start, end)
		}
	}
}
