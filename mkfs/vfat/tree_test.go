package vfat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/soypat/fat"

	"github.com/hermetic-repart/hermetic-repart/internal/oracle"
)

// tfile is one entry of a test tree.
type tfile struct {
	dir   bool
	data  []byte
	mtime time.Time
	attr  Attr
}

// ttree maps slash-separated paths (no leading slash) to entries.
// Parents of listed paths need not be listed.
type ttree map[string]*tfile

// inodes builds the writer's input for tt; unlisted parents get
// testTime.
func (tt ttree) inodes() *Inode {
	root := &Inode{Kind: Dir, Mtime: testTime}
	dirs := map[string]*Inode{"": root}
	var mkdir func(p string) *Inode
	mkdir = func(p string) *Inode {
		if d, ok := dirs[p]; ok {
			return d
		}
		parent, name := splitPath(p)
		d := &Inode{Kind: Dir, Mtime: testTime}
		if f := tt[p]; f != nil {
			d.Mtime, d.Attr = f.mtime, f.attr
		}
		pd := mkdir(parent)
		pd.Entries = append(pd.Entries, Entry{name, d})
		dirs[p] = d
		return d
	}
	paths := make([]string, 0, len(tt))
	for p := range tt {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := tt[p]
		if f.dir {
			mkdir(p)
			continue
		}
		parent, name := splitPath(p)
		in := &Inode{Kind: Regular, Mtime: f.mtime, Attr: f.attr, Size: int64(len(f.data))}
		if len(f.data) > 0 {
			in.Data = Bytes(f.data)
		}
		pd := mkdir(parent)
		pd.Entries = append(pd.Entries, Entry{name, in})
	}
	return root
}

func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// withParents adds the implicit parent directories of tt, as a reader
// will see them.
func (tt ttree) withParents() ttree {
	out := ttree{}
	for p, f := range tt {
		out[p] = f
		for d, _ := splitPath(p); d != ""; d, _ = splitPath(d) {
			if out[d] == nil {
				out[d] = &tfile{dir: true, mtime: testTime}
			}
		}
	}
	return out
}

// fatMtime is the modification time a reader gets back for t: UTC,
// clamped to 1980-2107, 2-second resolution.
func fatMtime(t time.Time) time.Time {
	ft := encodeTime(t)
	return time.Date(int(ft.date>>9)+1980, time.Month(ft.date>>5&15), int(ft.date&31),
		int(ft.time>>11), int(ft.time>>5&63), int(ft.time&31)*2, 0, time.UTC)
}

// reader describes what an oracle can be expected to read back.
type reader struct {
	name     string
	dirTimes bool // reports directory modification times
	// mapName turns a written name into the one the reader shows.
	mapName func(string) string
	// timeOK says whether the reader decodes a FAT time t correctly.
	timeOK func(t time.Time) bool
}

// mtoolsReader: mtools 4.0.32 shows each half of a UTF-16 surrogate
// pair as '_', and its date conversion treats 2100 as a leap year, so
// dates after February 2100 come back a day late.
var mtoolsReader = reader{
	name: "mtools",
	mapName: func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if r > 0xffff {
				b.WriteString("__")
			} else {
				b.WriteRune(r)
			}
		}
		return b.String()
	},
	timeOK: func(t time.Time) bool { return t.Year() < 2100 },
}

// soypatReader: soypat/fat v0.2.1 decodes a surrogate pair as U+FFFD
// (and cannot open the file by that name): such names are left out.
var soypatReader = reader{
	name:     "soypat/fat",
	dirTimes: true,
	mapName: func(s string) string {
		for _, r := range s {
			if r > 0xffff {
				return ""
			}
		}
		return s
	},
}

// compareTrees fails the test unless got holds what want describes:
// the same paths, kinds, bytes and (2-second) file modification times,
// and directory times too if the reader reports them.
func compareTrees(t testing.TB, r reader, want, got ttree) {
	t.Helper()
	who := r.name
	want = want.withParents()
	if r.mapName != nil {
		m := ttree{}
		for p, f := range want {
			if n := r.mapName(p); n != "" {
				m[n] = f
			}
		}
		want = m
	}
	bad := 0
	for p, w := range want {
		g := got[p]
		switch {
		case g == nil:
			t.Errorf("%s: %q missing", who, p)
		case g.dir != w.dir:
			t.Errorf("%s: %q: dir %v, want %v", who, p, g.dir, w.dir)
		case !w.dir && !bytes.Equal(g.data, w.data):
			t.Errorf("%s: %q: %d bytes differ from the %d written", who, p, len(g.data), len(w.data))
		case (!w.dir || r.dirTimes) && (r.timeOK == nil || r.timeOK(fatMtime(w.mtime))) &&
			!g.mtime.Truncate(2*time.Second).Equal(fatMtime(w.mtime)):
			t.Errorf("%s: %q: mtime %v, want %v (from %v)", who, p, g.mtime.UTC(), fatMtime(w.mtime), w.mtime)
		default:
			continue
		}
		if bad++; bad > 20 {
			t.Fatalf("%s: too many differences", who)
		}
	}
	for p := range got {
		if want[p] == nil {
			t.Errorf("%s: unexpected %q", who, p)
		}
	}
}

// mtoolsTree extracts img with `mcopy -s -m` and reads the result back.
// It checks first that mtools sees the sector size the image has, so an
// mtools that cannot read 4 KiB sectors fails the test instead of
// misreading it.
func mtoolsTree(t testing.TB, img string, sectorSize int) ttree {
	t.Helper()
	mcopy := oracle.Require(t, "mcopy")
	minfo := oracle.Require(t, "minfo")
	t.Setenv("MTOOLS_SKIP_CHECK", "1")
	t.Setenv("TZ", "UTC")
	t.Setenv("LC_ALL", "C.UTF-8")
	out, errOut, err := oracle.Run(t, minfo, "-i", img, "::")
	if err != nil || !strings.Contains(out, fmt.Sprintf("sector size: %d bytes", sectorSize)) {
		t.Fatalf("minfo does not see %d-byte sectors (%v):\n%s%s", sectorSize, err, out, errOut)
	}
	dst := t.TempDir()
	got := ttree{}
	mdir := oracle.Require(t, "mdir")
	if out, _, _ := oracle.Run(t, mdir, "-b", "-a", "-i", img, "::"); strings.TrimSpace(out) == "" {
		return got // mcopy fails on an empty root
	}
	if out, errOut, err := oracle.Run(t, mcopy, "-s", "-m", "-n", "-i", img, "::*", dst+"/"); err != nil || errOut != "" {
		t.Fatalf("mcopy: %v\n%s%s", err, out, errOut)
	}
	err = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dst {
			return err
		}
		rel, _ := filepath.Rel(dst, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		f := &tfile{dir: d.IsDir(), mtime: info.ModTime()}
		if !f.dir {
			if f.data, err = os.ReadFile(p); err != nil {
				return err
			}
		}
		got[filepath.ToSlash(rel)] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// blockDev serves a file as the block device soypat/fat reads.
type blockDev struct {
	f *os.File
	S int64
}

func (b blockDev) ReadBlocks(dst []byte, start int64) (int, error) { return b.f.ReadAt(dst, start*b.S) }
func (b blockDev) WriteBlocks([]byte, int64) (int, error) {
	return 0, errors.New("read-only")
}
func (b blockDev) EraseBlocks(int64, int64) error { return errors.New("read-only") }

// soypatTree reads img with github.com/soypat/fat, an independent pure-Go
// FAT implementation (a port of FatFs). It handles 512-byte sectors only.
func soypatTree(t testing.TB, img string) ttree {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fsys fat.FS
	if err := fsys.Mount(blockDev{f, 512}, 512, fat.ModeRead); err != nil {
		t.Fatalf("soypat/fat mount: %v", err)
	}
	got := ttree{}
	// Files are opened by their short names: soypat/fat's path parser
	// refuses long names with characters such as '+' or '['.
	var walk func(dir, short string)
	walk = func(dir, short string) {
		var d fat.Dir
		if err := fsys.OpenDir(&d, "/"+short); err != nil {
			t.Fatalf("soypat/fat: opendir %q: %v", dir, err)
		}
		type ent struct {
			name, short string
			dir         bool
			size        int64
			mtime       time.Time
		}
		var ents []ent
		err := d.ForEachFile(func(fi *fat.FileInfo) error {
			sn := fi.AlternateName()
			if sn == "" {
				sn = fi.Name()
			}
			ents = append(ents, ent{fi.Name(), sn, fi.IsDir(), fi.Size(), fi.ModTime()})
			return nil
		})
		d.Close()
		if err != nil {
			t.Fatalf("soypat/fat: readdir %q: %v", dir, err)
		}
		for _, e := range ents {
			if strings.ContainsRune(e.name, utf8.RuneError) {
				continue // see soypatReader
			}
			p, sp := e.name, e.short
			if dir != "" {
				p, sp = dir+"/"+e.name, short+"/"+e.short
			}
			tf := &tfile{dir: e.dir, mtime: e.mtime}
			got[p] = tf
			if e.dir {
				walk(p, sp)
				continue
			}
			var fp fat.File
			if err := fsys.OpenFile(&fp, "/"+sp, fat.ModeRead); err != nil {
				t.Fatalf("soypat/fat: open %q: %v", p, err)
			}
			tf.data, err = io.ReadAll(&fp)
			fp.Close()
			if err != nil {
				t.Fatalf("soypat/fat: read %q: %v", p, err)
			}
			if int64(len(tf.data)) != e.size {
				t.Errorf("soypat/fat: %q: read %d bytes, size %d", p, len(tf.data), e.size)
			}
		}
	}
	walk("", "")
	return got
}

// checkImage runs every oracle on an image of tt.
func checkImage(t *testing.T, img string, tt ttree, sectorSize int) {
	t.Helper()
	fsckClean(t, img)
	fsckStable(t, img)
	compareTrees(t, mtoolsReader, tt, mtoolsTree(t, img, sectorSize))
	if sectorSize == 512 {
		compareTrees(t, soypatReader, tt, soypatTree(t, img))
	}
}

// namesTree holds every kind of name and size the writer treats
// differently. soypat/fat panics on names longer than 255 bytes in
// UTF-8, so the longest astral-plane name comes only with long.
func namesTree(long bool) ttree {
	t0 := time.Date(2021, 2, 3, 4, 5, 7, 890_000_000, time.UTC)
	tt := ttree{
		"EFI/BOOT/BOOTX64.EFI":       {data: bytes.Repeat([]byte("MZ"), 3000), mtime: t0},
		"EFI/Linux":                  {dir: true, mtime: t0.Add(time.Hour)},
		"loader/loader.conf":         {data: []byte("timeout 3\n"), mtime: t0},
		"loader/entries/Arch.conf":   {data: []byte("title Arch\n"), mtime: t0},
		"hello.txt":                  {data: []byte("hello\n"), mtime: t0},
		"HELLO2.TXT":                 {data: []byte("HELLO\n"), mtime: t0},
		"Mixed.Txt":                  {data: []byte("mixed\n"), mtime: t0},
		"readme":                     {data: []byte("x"), mtime: t0},
		"Long File Name.text":        {data: []byte("long"), mtime: t0},
		".hidden":                    {data: []byte("dot"), mtime: t0, attr: Hidden},
		"a.b.c":                      {data: []byte("abc"), mtime: t0},
		"x+y=z.t[1]":                 {data: []byte("special"), mtime: t0},
		" lead":                      {data: []byte("space"), mtime: t0},
		"exactly13.txt":              {data: []byte("13 units: one full LFN entry"), mtime: t0},
		"exactly twenty-six chars.x": {data: []byte("26 units: two full LFN entries"), mtime: t0},
		"ünïcödé.txt":                {data: []byte("unicode"), mtime: t0},
		"日本語のファイル名.txt":              {data: []byte("cjk"), mtime: t0},
		"emoji 🙂.txt":                {data: []byte("astral"), mtime: t0},
		"LONGNA~1.TXT":               {data: []byte("literal alias"), mtime: t0},
		"longnamefile.txt":           {data: []byte("needs ~2"), mtime: t0},
		"read-only":                  {data: []byte("ro"), mtime: t0, attr: ReadOnly | Archive},
		"empty":                      {mtime: t0},
		"empty dir":                  {dir: true, mtime: t0},
		"old":                        {data: []byte("1970"), mtime: time.Unix(0, 0)},
		"future":                     {data: []byte("2200"), mtime: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)},
		"odd second":                 {data: []byte("odd"), mtime: time.Date(2030, 12, 31, 23, 59, 59, 999_999_999, time.UTC)},
		strings.Repeat("n", 255):     {data: []byte("255 units"), mtime: t0},
	}
	if long {
		tt[strings.Repeat("🙂", 127)+"x"] = &tfile{data: []byte("255 units, astral"), mtime: t0}
	}
	for i := 1; i <= 25; i++ {
		tt[fmt.Sprintf("collide/LongName%d.txt", i)] = &tfile{data: []byte(fmt.Sprint(i)), mtime: t0}
	}
	deep := "deep"
	for i := range 40 {
		deep += fmt.Sprintf("/level %d", i)
	}
	tt[deep+"/bottom.txt"] = &tfile{data: []byte("bottom"), mtime: t0}
	return tt
}

// sizesTree holds files around cluster boundaries for cluster size cb.
func sizesTree(cb int) ttree {
	r := rand.New(rand.NewPCG(1, 2))
	tt := ttree{}
	for _, n := range []int{1, cb - 1, cb, cb + 1, 2*cb - 1, 2 * cb, 3*cb + 17, 100_000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		if n > 3*cb {
			clear(data[cb : 2*cb]) // a zero cluster in the middle is not written
		}
		tt[fmt.Sprintf("sizes/%d.bin", n)] = &tfile{data: data, mtime: testTime}
	}
	return tt
}

func TestOracleTrees(t *testing.T) {
	for _, c := range []struct {
		size int64
		S    int
		want Type
	}{
		{40 * mib, 512, FAT32},
		{20 * mib, 512, FAT16},
		{6 * mib, 512, FAT12},
		{MinFAT32Size(4096), 4096, FAT32},
		{100 * mib, 4096, FAT16},
		{24 * mib, 4096, FAT12},
	} {
		t.Run(fmt.Sprintf("%v-%d", c.want, c.S), func(t *testing.T) {
			opts := testOptions(c.size, c.S)
			p, err := Layout(t.Context(), &Inode{Kind: Dir}, opts)
			if err != nil {
				t.Fatal(err)
			}
			tt := namesTree(c.S != 512)
			for k, v := range sizesTree(p.Stats().ClusterSize) {
				tt[k] = v
			}
			img, p := writeImage(t, tt.inodes(), opts)
			if p.Stats().Type != c.want {
				t.Fatalf("made %v, want %v", p.Stats().Type, c.want)
			}
			checkImage(t, img, tt, c.S)
		})
	}
}
