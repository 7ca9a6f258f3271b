package repart

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/hermetic-repart/hermetic-repart/gpt"
	"github.com/hermetic-repart/hermetic-repart/seedrand"
)

func TestUniqueLabel(t *testing.T) {
	types := gpt.NewTable("x86-64")
	srv, _ := types.Parse("srv")
	var parts []*Partition
	var got []string
	for i := 0; i < 9; i++ {
		l := uniqueLabel(srv, parts)
		got = append(got, l)
		parts = append(parts, &Partition{Label: l})
	}
	want := []string{"srv", "srv-2", "srv-3", "srv-4", "srv-5", "srv-6", "srv-7", "srv-8", "srv-9"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("labels %v", got)
		}
	}
	// An explicit label of an earlier partition counts; an empty one does not.
	earlier := []*Partition{{Label: ""}, {Label: "srv"}, {Label: "srv-2"}}
	if l := uniqueLabel(srv, earlier); l != "srv-3" {
		t.Errorf("got %s", l)
	}
	unknown := types.FromUUID(uuid.MustParse("01234567-89ab-cdef-0123-456789abcdef"))
	if l := uniqueLabel(unknown, nil); l != "linux" {
		t.Errorf("unknown type label %s", l)
	}
}

func TestPartNameAndMangle(t *testing.T) {
	for in, want := range map[string]string{"img.raw": "img.raw3", "/dev/loop0": "/dev/loop0p3", "disk": "disk3"} {
		if got := partName(in, 3); got != want {
			t.Errorf("partName(%s) = %s", in, got)
		}
	}
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"swap", 15, "swap"},
		{"a-very-long-label-here", 15, "a-very-long-lab"},
		{"ääääääää", 15, "äääääää"},
	} {
		if got := mangleLabel(tt.in, tt.n); got != tt.want {
			t.Errorf("mangleLabel(%q, %d) = %q", tt.in, tt.n, got)
		}
	}
}

// An interrupted build leaves no file behind.
func TestCancelledBuildLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	defs := filepath.Join(dir, "defs")
	os.Mkdir(defs, 0o755)
	os.WriteFile(filepath.Join(defs, "10-a.conf"), []byte("[Partition]\nType=home\n"), 0o644)
	seed := seedrand.Seed(uuid.MustParse("e2a40bf9-73f1-4278-9160-49c031e7aef8"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Build(ctx, Options{
		Definitions: []string{defs},
		Image:       filepath.Join(dir, "img.raw"),
		Empty:       EmptyCreate,
		SizeAuto:    true,
		Seed:        &seed,
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left %v", entries)
	}
}
