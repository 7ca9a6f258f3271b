package specifier

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Host describes where the system specifiers read their values. The zero
// value reads the running system, like repart without --root.
type Host struct {
	Root string // "" or "/" for the running system
	Arch string // value of %a
}

func (h Host) path(p string) string { return filepath.Join("/", h.Root, p) }

func (h Host) osRelease(key string) Lookup {
	return func() (string, error) {
		var data []byte
		var err error
		for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
			data, err = os.ReadFile(h.path(p))
			if err == nil {
				break
			}
		}
		if err != nil {
			return "", fmt.Errorf("reading os-release: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
			if !ok || k != key {
				continue
			}
			return unquote(v), nil
		}
		return "", nil
	}
}

// unquote undoes the shell-style quoting os-release allows.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		q := v[0]
		v = v[1 : len(v)-1]
		if q == '"' {
			var b strings.Builder
			for i := 0; i < len(v); i++ {
				if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\`$", v[i+1]) >= 0 {
					i++
				}
				b.WriteByte(v[i])
			}
			v = b.String()
		}
	}
	return v
}

func (h Host) firstLine(p string) Lookup {
	return func() (string, error) {
		b, err := os.ReadFile(h.path(p))
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimSpace(line), nil
	}
}

func (h Host) id128(p string) Lookup {
	return func() (string, error) {
		s, err := h.firstLine(p)()
		if err != nil {
			return "", err
		}
		s = strings.ReplaceAll(s, "-", "")
		if len(s) != 32 {
			return "", errors.New("not set")
		}
		return strings.ToLower(s), nil
	}
}

func hostname() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Nodename[:]), nil
}

// System is systemd's table of system specifiers; tmp adds %T and %V.
func (h Host) System(tmp bool) Table {
	t := Table{
		'a': func() (string, error) { return h.Arch, nil },
		'A': h.osRelease("IMAGE_VERSION"),
		'b': h.id128("/proc/sys/kernel/random/boot_id"),
		'B': h.osRelease("BUILD_ID"),
		'H': hostname,
		'l': func() (string, error) {
			n, err := hostname()
			n, _, _ = strings.Cut(n, ".")
			return n, err
		},
		'm': h.id128("/etc/machine-id"),
		'M': h.osRelease("IMAGE_ID"),
		'o': h.osRelease("ID"),
		'q': func() (string, error) {
			v, err := h.osReleaseFile("/etc/machine-info", "PRETTY_HOSTNAME")
			if err != nil || v == "" {
				return hostname()
			}
			return v, nil
		},
		'v': func() (string, error) {
			var u unix.Utsname
			if err := unix.Uname(&u); err != nil {
				return "", err
			}
			return unix.ByteSliceToString(u.Release[:]), nil
		},
		'w': h.osRelease("VERSION_ID"),
		'W': h.osRelease("VARIANT_ID"),
	}
	if tmp {
		t['T'] = func() (string, error) { return tmpDir("TMPDIR", "/tmp", h.Root), nil }
		t['V'] = func() (string, error) { return tmpDir("TMPDIR", "/var/tmp", h.Root), nil }
	}
	return t
}

func (h Host) osReleaseFile(p, key string) (string, error) {
	b, err := os.ReadFile(h.path(p))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == key {
			return unquote(v), nil
		}
	}
	return "", nil
}

// tmpDir follows systemd: with a root directory the default is used, else
// $TMPDIR when it is an absolute path.
func tmpDir(env, def, root string) string {
	if root != "" && root != "/" {
		return def
	}
	if v := os.Getenv(env); filepath.IsAbs(v) {
		return v
	}
	return def
}
