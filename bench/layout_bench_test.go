package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/hermetic-repart/hermetic-repart/definition"
	"github.com/hermetic-repart/hermetic-repart/gpt"
	"github.com/hermetic-repart/hermetic-repart/layout"
	"github.com/hermetic-repart/hermetic-repart/seedrand"
)

// numParts fills every entry of the GPT.
const numParts = gpt.NumEntries

var (
	benchSeed = seedrand.Seed(uuid.MustParse("e2a40bf9-73f1-4278-9160-49c031e7aef8"))
	benchOpts = definition.Options{
		// A fixed native architecture keeps the workload the same on
		// every host.
		Types: gpt.NewTable("x86-64"),
		Warn:  func(string) {},
	}
)

// writeDefinitions writes a deterministic set of numParts definitions
// into dir: a mix of types, sizes, paddings, weights, priorities, flags,
// labels, comments, continuation lines and a few drop-ins.
func writeDefinitions(tb testing.TB, dir string) {
	tb.Helper()
	types := []string{
		"esp", "xbootldr", "swap", "home", "srv", "var", "tmp", "linux-generic",
		"root-x86-64", "usr-x86-64", "root-arm64", "root-x86-64-verity", "usr-arm64-verity",
		"user-home", "0fc63daf-8483-4772-8e79-3d69d8477de4", "4d21b016b53445c2a9fb5c16e091fd2d",
	}
	sizes := []string{"", "1M", "4M", "10M", "10000000", "32M"}
	weights := []string{"1000", "500", "2000", "0", "10", "1000000", "250"}
	for i := 0; i < numParts; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "# definition %d of the benchmark workload\n[Partition]\n", i)
		fmt.Fprintf(&b, "Type=%s\n", types[i%len(types)])
		switch {
		case i%17 == 0:
			fmt.Fprintf(&b, "Label=Ünïcødé-%d\n", i)
		case i%3 == 0:
			fmt.Fprintf(&b, "Label=part-%03d\n", i)
		}
		if s := sizes[i%len(sizes)]; s != "" {
			fmt.Fprintf(&b, "SizeMinBytes=%s\n", s)
		}
		switch i % 4 {
		case 1:
			b.WriteString("SizeMaxBytes=64M\n")
		case 2:
			b.WriteString("SizeMaxBytes=\\\n  512M\n") // a continuation line
		}
		if i%5 == 0 {
			b.WriteString("PaddingMinBytes=1M\n")
		}
		if i%10 == 0 {
			b.WriteString("PaddingMaxBytes=4M\n")
		}
		fmt.Fprintf(&b, "Weight=%s\n", weights[i%len(weights)])
		if i%9 == 0 {
			b.WriteString("PaddingWeight=100\n")
		}
		switch i % 8 {
		case 3:
			b.WriteString("Priority=1\n")
		case 7:
			b.WriteString("Priority=2\n")
		}
		if i%11 == 0 {
			b.WriteString("NoAuto=yes\n")
		}
		if i%13 == 0 {
			b.WriteString("ReadOnly=yes\n")
		}
		if i%23 == 0 {
			b.WriteString("Flags=0x1000000000000000\n")
		}
		name := filepath.Join(dir, fmt.Sprintf("%03d-%s.conf", i, strings.SplitN(types[i%len(types)], "-", 2)[0]))
		if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
		if i%32 == 0 {
			if err := os.Mkdir(name+".d", 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(name+".d", "override.conf"), []byte("[Partition]\nWeight=3000\n"), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// request mirrors what repart builds for a definition without CopyBlocks=
// (the only kind this workload has).
func request(p *definition.Partition) layout.Request {
	r := layout.Request{
		SizeMin: p.SizeMin, SizeMax: p.SizeMax,
		PaddingMin: p.PaddingMin, PaddingMax: p.PaddingMax,
		Weight: p.Weight, PaddingWeight: p.PaddingWeight,
		Priority: p.Priority,
	}
	if p.Format == "swap" {
		r.FSMinSize = layout.Unset
	}
	return r
}

func requests(parts []*definition.Partition) []layout.Request {
	reqs := make([]layout.Request, len(parts))
	for i, p := range parts {
		reqs[i] = request(p)
	}
	return reqs
}

// freeArea is repart's free area of a fresh table.
func freeArea(d *gpt.Disk) (start, end uint64) {
	ss := uint64(d.SectorSize)
	start = (d.FirstUsableLBA*ss + layout.Grain - 1) &^ (layout.Grain - 1)
	end = ((d.LastUsableLBA + 1) * ss) &^ (layout.Grain - 1)
	return start, end
}

// entries builds the GPT entries of the placed partitions: seed-derived
// UUIDs, explicit labels or type names and merged flags, as libfdisk
// stores them.
func entries(parts []*definition.Partition, placed []layout.Placement, ss uint64) []gpt.Entry {
	var out []gpt.Entry
	seen := map[uuid.UUID]uint64{}
	for i, p := range parts {
		k := seen[p.Type.UUID]
		seen[p.Type.UUID]++
		pl := placed[i]
		if pl.Dropped {
			continue
		}
		for len(out) <= pl.PartNo {
			out = append(out, gpt.Entry{})
		}
		name := p.Type.String()
		if p.Label != nil {
			name = *p.Label
		}
		out[pl.PartNo] = gpt.Entry{
			Type:       p.Type.UUID,
			UUID:       benchSeed.PartitionUUID(p.Type.UUID, k),
			FirstLBA:   pl.Offset / ss,
			LastLBA:    (pl.Offset+pl.Size)/ss - 1,
			Attributes: gpt.FdiskAttributes(p.MergedFlags(func(string) {})),
			Name:       gpt.FdiskName(name),
		}
	}
	return out
}

// sectorWriter is a sparse in-memory disk: a map of written sectors.
type sectorWriter struct {
	ss      int64
	sectors map[int64][]byte
}

func newSectorWriter(ss int) *sectorWriter {
	return &sectorWriter{ss: int64(ss), sectors: map[int64][]byte{}}
}

func (w *sectorWriter) WriteAt(p []byte, off int64) (int, error) {
	for n := 0; n < len(p); {
		pos := off + int64(n)
		s := w.sectors[pos/w.ss]
		if s == nil {
			s = make([]byte, w.ss)
			w.sectors[pos/w.ss] = s
		}
		n += copy(s[pos%w.ss:], p[n:])
	}
	return len(p), nil
}

// workload is the prepared input of the benchmarks.
type workload struct {
	dir  string
	ss   int
	size uint64
}

// newWorkload writes the definitions and picks a disk size that forces
// the Priority=2 partitions out and leaves slack for the weights.
func newWorkload(b *testing.B, ss int) workload {
	b.Helper()
	dir := b.TempDir()
	writeDefinitions(b, dir)
	parts, err := definition.Load([]string{dir}, benchOpts)
	if err != nil {
		b.Fatal(err)
	}
	if len(parts) != numParts {
		b.Fatalf("loaded %d definitions, want %d", len(parts), numParts)
	}
	reqs := requests(parts)
	dropped := make([]bool, len(parts))
	for i, p := range parts {
		dropped[i] = p.Priority >= 2
	}
	all, kept := layout.AutoSize(reqs, nil), layout.AutoSize(reqs, dropped)
	size := (kept + (all-kept)/2 + 4095) &^ 4095
	w := workload{dir: dir, ss: ss, size: size}
	// Check once that the plan drops what it should.
	d, err := gpt.Fresh(size, ss, benchSeed.DiskGUID())
	if err != nil {
		b.Fatal(err)
	}
	start, end := freeArea(d)
	n := 0
	if _, err := layout.Plan(reqs, start, end, func(int) { n++ }); err != nil {
		b.Fatal(err)
	}
	if want := numParts / 8; n != want {
		b.Fatalf("%d partitions dropped, want %d", n, want)
	}
	return w
}

// BenchmarkLayoutGPT128 measures the GPT-only path of an image build for
// 128 definitions: load and validate the definitions, size and place the
// partitions, and write the protective MBR and both GPTs.
func BenchmarkLayoutGPT128(b *testing.B) {
	for _, ss := range []int{512, 4096} {
		b.Run(fmt.Sprintf("ss=%d", ss), func(b *testing.B) {
			w := newWorkload(b, ss)
			b.ReportAllocs()
			for b.Loop() {
				parts, err := definition.Load([]string{w.dir}, benchOpts)
				if err != nil {
					b.Fatal(err)
				}
				d, err := gpt.Fresh(w.size, w.ss, benchSeed.DiskGUID())
				if err != nil {
					b.Fatal(err)
				}
				start, end := freeArea(d)
				placed, err := layout.Plan(requests(parts), start, end, nil)
				if err != nil {
					b.Fatal(err)
				}
				d.Entries = entries(parts, placed, uint64(w.ss))
				if err := d.Write(newSectorWriter(w.ss)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDefinitionLoad128 is the definition part of BenchmarkLayoutGPT128.
func BenchmarkDefinitionLoad128(b *testing.B) {
	w := newWorkload(b, 512)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := definition.Load([]string{w.dir}, benchOpts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlan128 is the layout part of BenchmarkLayoutGPT128.
func BenchmarkPlan128(b *testing.B) {
	w := newWorkload(b, 512)
	parts, err := definition.Load([]string{w.dir}, benchOpts)
	if err != nil {
		b.Fatal(err)
	}
	reqs := requests(parts)
	d, _ := gpt.Fresh(w.size, w.ss, benchSeed.DiskGUID())
	start, end := freeArea(d)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := layout.Plan(reqs, start, end, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGPTWrite128 is the table-writing part of BenchmarkLayoutGPT128.
func BenchmarkGPTWrite128(b *testing.B) {
	w := newWorkload(b, 512)
	parts, err := definition.Load([]string{w.dir}, benchOpts)
	if err != nil {
		b.Fatal(err)
	}
	d, _ := gpt.Fresh(w.size, w.ss, benchSeed.DiskGUID())
	start, end := freeArea(d)
	placed, err := layout.Plan(requests(parts), start, end, nil)
	if err != nil {
		b.Fatal(err)
	}
	d.Entries = entries(parts, placed, uint64(w.ss))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Write(newSectorWriter(w.ss)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWorkload checks the benchmark input once in plain "go test" runs:
// every definition loads, and the table written reads back.
func TestWorkload(t *testing.T) {
	dir := t.TempDir()
	writeDefinitions(t, dir)
	parts, err := definition.Load([]string{dir}, benchOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != numParts {
		t.Fatalf("loaded %d definitions", len(parts))
	}
	reqs := requests(parts)
	size := layout.AutoSize(reqs, nil)
	d, err := gpt.Fresh(size, 512, benchSeed.DiskGUID())
	if err != nil {
		t.Fatal(err)
	}
	start, end := freeArea(d)
	placed, err := layout.Plan(reqs, start, end, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Entries = entries(parts, placed, 512)
	if len(d.Entries) != numParts {
		t.Fatalf("%d entries", len(d.Entries))
	}
	w := newSectorWriter(512)
	if err := d.Write(w); err != nil {
		t.Fatal(err)
	}
	back, err := gpt.Read(sectorReader{w, int64(size)}, int64(size), 512)
	if err != nil {
		t.Fatal(err)
	}
	for i := range d.Entries {
		if back.Entries[i] != d.Entries[i] {
			t.Errorf("entry %d: read %+v, wrote %+v", i, back.Entries[i], d.Entries[i])
		}
	}
}

type sectorReader struct {
	w    *sectorWriter
	size int64
}

func (r sectorReader) ReadAt(p []byte, off int64) (int, error) {
	for n := 0; n < len(p); {
		pos := off + int64(n)
		if s := r.w.sectors[pos/r.w.ss]; s != nil {
			n += copy(p[n:], s[pos%r.w.ss:])
		} else {
			c := min(int64(len(p)-n), r.w.ss-pos%r.w.ss)
			clear(p[n : n+int(c)])
			n += int(c)
		}
	}
	return len(p), nil
}
