package filedata

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/internal/memdisk"
)

func TestBytes(t *testing.T) {
	tests := []struct {
		b    Bytes
		size int64
		want []Run
	}{
		{nil, 0, nil},
		{Bytes("abc"), 3, []Run{{Offset: 0, Length: 3}}},
		{Bytes("abc\x00\x00"), 5, []Run{{Offset: 0, Length: 3}}},
		{Bytes("abcdef"), 4, []Run{{Offset: 0, Length: 4}}},
		{Bytes("\x00\x00"), 2, nil},
	}
	for _, tt := range tests {
		got, err := tt.b.Runs(tt.size)
		if err != nil || len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
			t.Errorf("%q.Runs(%d) = %v, %v; want %v", tt.b, tt.size, got, err, tt.want)
		}
	}
	d := make(memdisk.Disk, 16)
	if err := Bytes("hello").CopyTo(context.Background(), d, 4, 1, 3); err != nil || string(d[4:7]) != "ell" {
		t.Errorf("CopyTo: %v %q", err, d)
	}
	if err := Bytes("hello").CopyTo(context.Background(), d, 0, 3, 3); err == nil {
		t.Error("CopyTo past the end succeeded")
	}
}

// File copies exactly the requested piece of a sparse host file and
// reports its holes as gaps between runs.
func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 4096)
	f.WriteAt(data, 0)
	f.WriteAt(data, 1<<20)
	f.Close()
	runs, err := File{Path: p}.Runs(1<<20 + 4096)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) < 1 || runs[0].Offset != 0 || runs[len(runs)-1].Offset+runs[len(runs)-1].Length != 1<<20+4096 {
		t.Errorf("runs %v", runs)
	}
	var covered int64
	for _, r := range runs {
		covered += r.Length
	}
	if covered == 1<<20+4096 {
		t.Logf("the file system under %s reports no holes", p)
	}
	d := make(memdisk.Disk, 8192)
	if err := (File{Path: p}).CopyTo(context.Background(), d, 100, 1<<20, 4096); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d[100:4196], data) {
		t.Error("CopyTo copied the wrong bytes")
	}
	if err := (File{Path: p + ".missing"}).CopyTo(context.Background(), d, 0, 0, 1); err == nil {
		t.Error("CopyTo of a missing file succeeded")
	}
}
