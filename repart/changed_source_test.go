package repart

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hermetic-repart/hermetic-repart/seedrand"
)

// A source file that changes between planning (the scan sized the file
// system for it) and writing fails the build with a message naming the
// file, and no image is left: the copy must not silently write a
// different or truncated file.
func TestSourceChangedBetweenPlanAndWrite(t *testing.T) {
	tests := []struct {
		name   string
		change func(p string) error
	}{
		{"grows", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write(bytes.Repeat([]byte("more"), 100000))
			return err
		}},
		{"shrinks", func(p string) error { return os.Truncate(p, 10) }},
		{"replaced", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.WriteFile(p, bytes.Repeat([]byte("x"), 300000), 0o644)
		}},
		{"rewritten in place, same size", func(p string) error {
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(p, bytes.Repeat([]byte("y"), int(st.Size())), 0o644); err != nil {
				return err
			}
			later := st.ModTime().Add(time.Second)
			return os.Chtimes(p, later, later)
		}},
		{"removed", func(p string) error { return os.Remove(p) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			defs := filepath.Join(dir, "defs")
			src := filepath.Join(dir, "src")
			os.MkdirAll(filepath.Join(src, "etc"), 0o755)
			file := filepath.Join(src, "etc/data")
			if err := os.WriteFile(file, bytes.Repeat([]byte("data"), 100000), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Mkdir(defs, 0o755)
			os.WriteFile(filepath.Join(defs, "10-root.conf"), []byte("[Partition]\nType=root\nFormat=ext4\nCopyFiles=/etc:/etc\n"), 0o644)
			seed := seedrand.Seed(uuid.MustParse("e2a40bf9-73f1-4278-9160-49c031e7aef8"))
			img := filepath.Join(dir, "out", "img.raw")
			os.Mkdir(filepath.Dir(img), 0o755)
			ctx := context.Background()
			plan, err := NewPlan(ctx, Options{
				Definitions: []string{defs}, Image: img, Empty: EmptyCreate, SizeAuto: true,
				Seed: &seed, CopySource: src,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer plan.Close()
			if err := tt.change(file); err != nil {
				t.Fatal(err)
			}
			err = plan.Write(ctx)
			if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), filepath.Join(defs, "10-root.conf")) {
				t.Errorf("Write after the source changed: %v; want an error naming %s and the definition", err, file)
			}
			if es, _ := os.ReadDir(filepath.Dir(img)); len(es) != 0 {
				t.Errorf("left %v", es)
			}
		})
	}
}
