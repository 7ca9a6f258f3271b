package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binPath is the hermetic-repart binary built for this test run: the
// end-to-end tests drive the real CLI, as users do.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hermetic-repart-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "hermetic-repart")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building hermetic-repart: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one CLI invocation did.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the binary in dir with args and the given extra environment.
func runCLI(t testing.TB, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running hermetic-repart: %v", err)
	}
	return result{code, o.String(), e.String()}
}

// writeDefs creates dir/defs with the given files (name -> contents).
func writeDefs(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	defs := filepath.Join(dir, "defs")
	if err := os.MkdirAll(defs, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(defs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return defs
}
