package vfat

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/memdisk"
)

func file(data string) *Inode {
	return &Inode{Kind: Regular, Size: int64(len(data)), Data: Bytes(data)}
}

func dir(ents ...Entry) *Inode { return &Inode{Kind: Dir, Entries: ents} }

func TestLayoutErrors(t *testing.T) {
	shared := dir()
	for _, c := range []struct {
		name string
		root *Inode
		opts func(*Options)
		want []string // substrings of the error
	}{
		{"case", dir(Entry{"sub", dir(Entry{"Readme.TXT", file("a")}, Entry{"README.txt", file("b")})}), nil,
			[]string{"/sub/README.txt", "/sub/Readme.TXT", "differ only in case"}},
		{"unicode case", dir(Entry{"Ärger", file("")}, Entry{"ärger", file("")}), nil, []string{"/Ärger", "/ärger"}},
		{"twice", dir(Entry{"a", file("")}, Entry{"a", file("")}), nil, []string{"/a", "twice"}},
		{"colon", dir(Entry{"d", dir(Entry{"a:b", file("")})}), nil, []string{`"/d/a:b"`}},
		{"trailing dot", dir(Entry{"a.", file("")}), nil, []string{`"/a."`, "dot"}},
		{"trailing space", dir(Entry{"a ", file("")}), nil, []string{`"/a "`, "space"}},
		{"not utf-8", dir(Entry{"a\xff", file("")}), nil, []string{`"/a\xff"`, "UTF-8"}},
		{"too long", dir(Entry{strings.Repeat("x", 256), file("")}), nil, []string{"256 UTF-16 units"}},
		{"empty", dir(Entry{"", file("")}), nil, []string{"empty name"}},
		{"kind", dir(Entry{"link", &Inode{Kind: 7}}), nil, []string{"/link", "cannot be stored"}},
		{"nil inode", dir(Entry{"x", nil}), nil, []string{"/x", "no inode"}},
		{"4 GiB", dir(Entry{"big", &Inode{Kind: Regular, Size: 1 << 32}}), nil, []string{"/big", "4 GiB"}},
		{"attr", dir(Entry{"f", &Inode{Kind: Regular, Attr: 0x08}}), nil, []string{"/f", "attributes"}},
		{"dir twice", dir(Entry{"a", shared}, Entry{"b", shared}), nil, []string{"/b", "more than one name"}},
		{"root kind", file("x"), nil, []string{"root must be a directory"}},
		{"label case", dir(), func(o *Options) { o.Label = "esp" }, []string{"lower-case"}},
		{"label long", dir(), func(o *Options) { o.Label = "ABCDEFGHIJKL" }, []string{"longer than 11"}},
		{"label char", dir(), func(o *Options) { o.Label = "A.B" }, []string{"'.'"}},
		{"label space", dir(), func(o *Options) { o.Label = " A" }, []string{"starts with a space"}},
		{"label utf-8", dir(), func(o *Options) { o.Label = "É" }, []string{"printable ASCII"}},
		{"sector size", dir(), func(o *Options) { o.SectorSize = 8192 }, []string{"sector size 8192"}},
		{"too small", dir(), func(o *Options) { o.Size = 16 * kib }, []string{"too small"}},
		{"full", dir(Entry{"big", &Inode{Kind: Regular, Size: 3 * mib}}), func(o *Options) { o.Size = 2 * mib }, []string{"needs", "clusters"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := testOptions(40*mib, 512)
			if c.opts != nil {
				c.opts(&opts)
			}
			_, err := Layout(context.Background(), c.root, opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if c.name == "full" || c.name == "too small" {
				if !errors.Is(err, ErrNoSpace) {
					t.Errorf("error %q is not ErrNoSpace", err)
				}
			}
		})
	}
}

// TestFixedRootFull: a FAT16 root directory holds a fixed number of
// entries; one more is ErrNoSpace even with clusters to spare.
func TestFixedRootFull(t *testing.T) {
	opts := testOptions(20*mib, 512)
	p, err := Layout(context.Background(), dir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	n := int(p.Stats().RootEntries) - 1 // the label takes one
	var ents []Entry
	for i := range n {
		ents = append(ents, Entry{strings.ToUpper(string(rune('A'+i%26))) + string(rune('A'+i/26%26)) + string(rune('A'+i/676)), file("")})
	}
	if _, err := Layout(context.Background(), dir(ents...), opts); err != nil {
		t.Fatalf("%d entries: %v", n, err)
	}
	ents = append(ents, Entry{"ONEMORE", file("")})
	if _, err := Layout(context.Background(), dir(ents...), opts); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("%d entries: %v", n+1, err)
	}
}

type failingData struct{ err error }

func (f failingData) Runs(size int64) ([]Run, error) { return []Run{{Offset: 0, Length: size}}, nil }
func (f failingData) CopyTo(context.Context, io.WriterAt, int64, int64, int64) error {
	return f.err
}

type badRuns struct{}

func (badRuns) Runs(size int64) ([]Run, error) { return []Run{{Offset: 0, Length: size + 1}}, nil }
func (badRuns) CopyTo(context.Context, io.WriterAt, int64, int64, int64) error {
	return nil
}

func TestWriteErrors(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name string
		data Data
		want string
	}{
		{"copy", failingData{boom}, "/d/f"},
		{"runs", badRuns{}, "outside"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := dir(Entry{"d", dir(Entry{"f", &Inode{Kind: Regular, Size: 10000, Data: c.data}})})
			opts := testOptions(40*mib, 512)
			err := Write(context.Background(), memdisk.Disk(make([]byte, opts.Size)), 0, root, opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	opts := testOptions(40*mib, 512)
	if err := Write(ctx, memdisk.Disk(make([]byte, opts.Size)), 0, dir(Entry{"f", file("x")}), opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
