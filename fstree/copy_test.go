package fstree

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hermetic-repart/hermetic-repart/definition"
)

// Tests of what ends up where: CopyFiles= merging, parents, root
// donation, exclusions, MakeDirectories=/MakeSymlinks=.

func TestMergeTwoCopyFiles(t *testing.T) {
	src := t.TempDir()
	mkdir(t, src+"/a", 0o750)
	writeFile(t, src+"/a/x", 0o644, "x")
	writeFile(t, src+"/a/same", 0o644, "from a")
	writeFile(t, src+"/a/sub/y", 0o600, "y")
	mkdir(t, src+"/b", 0o700)
	writeFile(t, src+"/b/z", 0o644, "z")
	writeFile(t, src+"/b/same", 0o640, "from b!")
	writeFile(t, src+"/b/sub/w", 0o644, "w")
	symlink(t, "x", src+"/b/lnk")
	writeFile(t, src+"/a/lnk", 0o644, "replaced by b's symlink")
	chmod(t, src+"/a/sub", 0o755)
	chmod(t, src+"/b/sub", 0o711)
	restamp(t, src)

	tr := build(t, src, Spec{CopyFiles: cf("/a", "/t", "/b", "/t")}, Options{})
	want := []string{"/", "/t", "/t/lnk", "/t/same", "/t/sub", "/t/sub/w", "/t/sub/y", "/t/x", "/t/z"}
	if got := paths(tr); !reflect.DeepEqual(got, want) {
		t.Fatalf("paths = %q, want %q", got, want)
	}
	// Directories: the first line created them, so its metadata stays.
	if m := must(t, tr, "/t").Mode; m != 0o750 {
		t.Errorf("/t mode %o, want a's 0750", m)
	}
	if m := must(t, tr, "/t/sub").Mode; m != 0o755 {
		t.Errorf("/t/sub mode %o, want a's 0755", m)
	}
	// Non-directories: the later line wins, whatever the kinds.
	same := must(t, tr, "/t/same")
	if same.Size != 7 || same.Mode != 0o640 || same.Source != src+"/b/same" {
		t.Errorf("/t/same = %+v, want b's file", same)
	}
	if l := must(t, tr, "/t/lnk"); l.Kind != KindSymlink || l.Target != "x" {
		t.Errorf("/t/lnk = %v %q, want symlink to x", l.Kind, l.Target)
	}
	// Parent of the target: created by us.
	if r := tr.Root; r.Mode != 0o755 || r.Mtime != (Time{}) {
		t.Errorf("root = %o %v, want 0755 at 0", r.Mode, r.Mtime)
	}
}

func TestMergeConflicts(t *testing.T) {
	src := t.TempDir()
	mkdir(t, src+"/a/x", 0o755) // a directory x
	writeFile(t, src+"/a/x/in", 0o644, "")
	writeFile(t, src+"/b/x", 0o644, "a file x") // meets the directory: dropped
	writeFile(t, src+"/c/f", 0o644, "")
	mkdir(t, src+"/d/f", 0o755) // a directory meeting a file: error

	tr := build(t, src, Spec{CopyFiles: cf("/a", "/t", "/b", "/t")}, Options{})
	if x := must(t, tr, "/t/x"); x.Kind != KindDir {
		t.Errorf("/t/x is a %v, want the directory kept", x.Kind)
	}
	must(t, tr, "/t/x/in")
	if len(tr.Warnings) != 1 || !strings.Contains(tr.Warnings[0], src+"/b/x") {
		t.Errorf("warnings = %q, want one naming %s/b/x", tr.Warnings, src)
	}

	err := buildErr(t, src, Spec{CopyFiles: cf("/c", "/t", "/d", "/t")}, Options{})
	if !strings.Contains(err.Error(), src+"/d/f") {
		t.Errorf("error %q does not name the source", err)
	}
	// A directory source onto an existing file target.
	err = buildErr(t, src, Spec{CopyFiles: cf("/c", "/t", "/a", "/t/f")}, Options{})
	if !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("error = %v", err)
	}
}

func TestFileSource(t *testing.T) {
	src := t.TempDir()
	writeFile(t, src+"/etc/f.conf", 0o4751, "data")
	setxattr(t, src+"/etc/f.conf", "user.k", "v")
	mkdir(t, src+"/dir", 0o755)

	tests := []struct {
		name    string
		files   []definition.CopyFile
		wantErr string
	}{
		{name: "missing parents", files: cf("/etc/f.conf", "/a/b/c/f")},
		{name: "same path", files: cf("/etc/f.conf", "/etc/f.conf")},
		{name: "next to the source", files: cf("/etc/f.conf", "/dir/f")},
		{name: "target exists", files: cf("/etc/f.conf", "/a/f", "/etc/f.conf", "/a/f"), wantErr: "already exists"},
		{name: "target is root", files: cf("/etc/f.conf", "/"), wantErr: "refers to a directory"},
		{name: "parent is a file", files: cf("/etc/f.conf", "/a", "/etc/f.conf", "/a/f"), wantErr: "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := Spec{CopyFiles: tc.files}
			opts := Options{SourceDateEpoch: i64(1_700_000_000)}
			if tc.wantErr != "" {
				if err := buildErr(t, src, spec, opts); !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q, want %q", err, tc.wantErr)
				}
				return
			}
			tr := build(t, src, spec, opts)
			f := must(t, tr, tc.files[0].Target)
			want := Inode{Kind: KindRegular, Mode: 0o4751, Size: 4, Mtime: Time{baseTime.Unix(), uint32(baseTime.Nanosecond())},
				Xattrs: []Xattr{{"user.k", []byte("v")}}, Data: []Run{{Offset: 0, Length: 4}}, Source: src + "/etc/f.conf", Nlink: 1}
			if f.Kind != want.Kind || f.Mode != want.Mode || f.Size != want.Size || f.Mtime != want.Mtime ||
				!reflect.DeepEqual(f.Xattrs, want.Xattrs) || !reflect.DeepEqual(f.Data, want.Data) ||
				f.Source != want.Source || f.Nlink != 1 || f.UID != 0 || f.GID != 0 {
				t.Errorf("file = %+v", f)
			}
			// Parents we created: 0755, 0:0, SOURCE_DATE_EPOCH.
			for p := filepath.Dir(tc.files[0].Target); p != "/"; p = filepath.Dir(p) {
				d := must(t, tr, p)
				if d.Kind != KindDir || d.Mode != 0o755 || d.Mtime != (Time{Sec: 1_700_000_000}) {
					t.Errorf("%s = %v %o %v", p, d.Kind, d.Mode, d.Mtime)
				}
			}
		})
	}
}

func TestRootDonation(t *testing.T) {
	src := t.TempDir()
	writeFile(t, src+"/file", 0o644, "")
	mkdir(t, src+"/d1", 0o1750)
	setxattr(t, src+"/d1", "user.root", "yes")
	writeFile(t, src+"/d2/x", 0o644, "")
	chmod(t, src+"/d2", 0o711)
	symlink(t, "d1", src+"/to-d1")
	restamp(t, src)
	want := Time{baseTime.Unix(), uint32(baseTime.Nanosecond())}

	tests := []struct {
		name     string
		files    []definition.CopyFile
		mode     uint32
		xattrs   int
		mtime    Time
		wantErr  bool
		warnings int
	}{
		{"first directory to / donates", cf("/file", "/etc/file", "/d1", "/", "/d2", "/"), 0o1750, 1, want, false, 0},
		{"through a symlink", cf("/to-d1", "/", "/d2", "/"), 0o1750, 1, want, false, 0},
		{"second line", cf("/d2", "/", "/d1", "/"), 0o711, 0, want, false, 0},
		{"not to /", cf("/d1", "/x"), 0o755, 0, Time{}, false, 0},
		{"no copy files", nil, 0o755, 0, Time{}, false, 0},
		// repart's donation pass opens sources to "/" without the ENOENT
		// escape of the copy pass.
		{"missing source to /", cf("/nope", "/", "/d1", "/"), 0, 0, Time{}, true, 0},
		{"missing source elsewhere", cf("/nope", "/x", "/d1", "/"), 0o1750, 1, want, false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := Spec{CopyFiles: tc.files}
			if tc.wantErr {
				err := buildErr(t, src, spec, Options{})
				if !strings.Contains(err.Error(), src+"/nope") {
					t.Errorf("error %q does not name the source", err)
				}
				return
			}
			tr := build(t, src, spec, Options{})
			r := tr.Root
			if r.Mode != tc.mode || len(r.Xattrs) != tc.xattrs || r.Mtime != tc.mtime || r.UID != 0 || r.GID != 0 {
				t.Errorf("root = mode %o xattrs %v mtime %v owner %d:%d", r.Mode, r.Xattrs, r.Mtime, r.UID, r.GID)
			}
			if len(tr.Warnings) != tc.warnings {
				t.Errorf("warnings = %q", tr.Warnings)
			}
		})
	}
}

func TestMissingSource(t *testing.T) {
	src := t.TempDir()
	writeFile(t, src+"/a/f", 0o644, "")
	symlink(t, "/nowhere", src+"/dangling")
	tr := build(t, src, Spec{CopyFiles: cf("/missing", "/m", "/dangling", "/d", "/a", "/a")}, Options{})
	if got, want := paths(tr), []string{"/", "/a", "/a/f"}; !reflect.DeepEqual(got, want) {
		t.Errorf("paths = %q, want %q", got, want)
	}
	if len(tr.Warnings) != 2 || !strings.Contains(tr.Warnings[0], src+"/missing") ||
		!strings.Contains(tr.Warnings[1], src+"/dangling") {
		t.Errorf("warnings = %q", tr.Warnings)
	}
}

// exclusionSource is the tree the exclusion cases share.
func exclusionSource(t *testing.T) string {
	src := t.TempDir()
	writeFile(t, src+"/s/keep", 0o644, "")
	writeFile(t, src+"/s/a/f", 0o644, "")
	writeFile(t, src+"/s/a/g/h", 0o644, "")
	writeFile(t, src+"/s/b", 0o644, "")
	writeFile(t, src+"/s/link-group/one", 0o644, "")
	hardlink(t, src+"/s/link-group/one", src+"/s/two")
	symlink(t, "s/a", src+"/via-symlink")
	symlink(t, "a", src+"/s/rel")
	restamp(t, src)
	return src
}

func TestExcludeFiles(t *testing.T) {
	src := exclusionSource(t)
	all := []string{"/", "/t", "/t/a", "/t/a/f", "/t/a/g", "/t/a/g/h", "/t/b", "/t/keep", "/t/link-group", "/t/link-group/one", "/t/rel", "/t/two"}
	without := func(drop ...string) []string {
		var out []string
	next:
		for _, p := range all {
			for _, d := range drop {
				if p == d || strings.HasPrefix(p, d+"/") {
					continue next
				}
			}
			out = append(out, p)
		}
		return out
	}
	tests := []struct {
		name          string
		exclude, excT []string
		files         []definition.CopyFile
		want          []string
	}{
		{"none", nil, nil, nil, all},
		{"inode", []string{"/s/a"}, nil, nil, without("/t/a")},
		{"contents", []string{"/s/a/"}, nil, nil, without("/t/a/f", "/t/a/g")},
		{"file", []string{"/s/b"}, nil, nil, without("/t/b")},
		{"contents of a file is nothing", []string{"/s/b/"}, nil, nil, all},
		{"nested", []string{"/s/a/g"}, nil, nil, without("/t/a/g")},
		{"missing path", []string{"/s/nope", "/nope/"}, nil, nil, all},
		// Exclusions are inodes: resolved through symlinks...
		{"through a symlink", []string{"/via-symlink"}, nil, nil, without("/t/a")},
		// ...the symlink named in the path is not excluded itself...
		{"a symlink names its target", []string{"/s/rel"}, nil, nil, without("/t/a")},
		// ...and every hard link of an excluded file goes.
		{"hard link", []string{"/s/two"}, nil, nil, without("/t/two", "/t/link-group/one")},
		{"source inside exclusion skips the line", []string{"/s"}, nil, nil, []string{"/"}},
		{"source inside contents exclusion skips the line", []string{"/s/"}, nil, nil, []string{"/"}},
		{"exclusion elsewhere", []string{"/other"}, nil, nil, all},

		{"target inode", nil, []string{"/t/a"}, nil, without("/t/a")},
		{"target contents", nil, []string{"/t/a/"}, nil, without("/t/a/f", "/t/a/g")},
		{"target deep", nil, []string{"/t/a/g/h"}, nil, without("/t/a/g/h")},
		{"target skips the line", nil, []string{"/t"}, nil, []string{"/"}},
		{"target contents skips the line", nil, []string{"/t/"}, nil, []string{"/"}},
		{"target above skips the line", nil, []string{"/"}, nil, []string{"/"}},
		{"target elsewhere", nil, []string{"/u/a"}, nil, all},
		{"target mapped per line", nil, []string{"/u/f"},
			cf("/s", "/t", "/s/a", "/u"),
			append(append([]string{}, all...), "/u", "/u/g", "/u/g/h")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := tc.files
			if files == nil {
				files = cf("/s", "/t")
			}
			tr := build(t, src, Spec{CopyFiles: files, ExcludeFiles: tc.exclude, ExcludeFilesTarget: tc.excT}, Options{})
			if got := paths(tr); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("paths = %q\nwant    %q", got, tc.want)
			}
		})
	}
}

func TestExcludedFileSource(t *testing.T) {
	src := exclusionSource(t)
	tests := []struct {
		name    string
		exclude []string
		present bool
	}{
		{"not excluded", nil, true},
		{"itself", []string{"/s/a/f"}, false},
		{"its directory", []string{"/s/a"}, false},
		{"its directory's contents", []string{"/s/a/"}, false},
		{"a grandparent's contents", []string{"/s/"}, false},
		{"a sibling", []string{"/s/a/g"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The file is named through a symlinked directory: the parents
			// checked are the physical ones.
			tr := build(t, src, Spec{CopyFiles: cf("/via-symlink/f", "/f"),
				ExcludeFiles: tc.exclude}, Options{})
			if got := tr.Lookup("/f") != nil; got != tc.present {
				t.Errorf("present = %v, want %v", got, tc.present)
			}
			if len(tr.Warnings) != 0 {
				t.Errorf("warnings = %q", tr.Warnings)
			}
		})
	}
}

func TestAlwaysExcluded(t *testing.T) {
	src := t.TempDir()
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run", "var/tmp", "var/log", "usr/tmp", "s/tmp"} {
		writeFile(t, src+"/"+d+"/x", 0o644, "")
	}
	writeFile(t, src+"/tmp/sub/y", 0o644, "")
	writeFile(t, src+"/tmp/f.conf", 0o644, "")
	mkdir(t, src+"/proc", 0o555)
	restamp(t, src)

	tr := build(t, src, Spec{CopyFiles: cf("/", "/")}, Options{})
	want := []string{"/", "/dev", "/proc", "/run", "/s", "/s/tmp", "/s/tmp/x", "/sys", "/tmp",
		"/usr", "/usr/tmp", "/usr/tmp/x", "/var", "/var/log", "/var/log/x", "/var/tmp"}
	if got := paths(tr); !reflect.DeepEqual(got, want) {
		t.Errorf("paths = %q\nwant    %q", got, want)
	}
	if m := must(t, tr, "/proc").Mode; m != 0o555 {
		t.Errorf("/proc mode %o: the directory itself keeps its metadata", m)
	}

	// Only directly below the copy source root, whatever the line's source.
	tr = build(t, src, Spec{CopyFiles: cf("/s", "/")}, Options{})
	must(t, tr, "/tmp/x")

	// A file below an excluded directory is silently skipped (spec §8.4
	// quirk); a directory below one is not checked and is copied.
	tr = build(t, src, Spec{CopyFiles: cf("/tmp/f.conf", "/etc/f.conf", "/tmp/sub", "/sub", "/tmp", "/t")}, Options{})
	if got, want := paths(tr), []string{"/", "/sub", "/sub/y", "/t"}; !reflect.DeepEqual(got, want) {
		t.Errorf("paths = %q, want %q", got, want)
	}
	if len(tr.Warnings) != 0 {
		t.Errorf("warnings = %q", tr.Warnings)
	}
}

func TestRootPartitionExclusions(t *testing.T) {
	src := t.TempDir()
	for _, d := range []string{"img/usr", "img/home", "img/proc", "img/var/tmp", "img/etc", "img/boot", "img/efi"} {
		writeFile(t, src+"/"+d+"/x", 0o644, "")
	}
	restamp(t, src)
	tests := []struct {
		name   string
		root   bool
		mounts []string
		target string
		want   []string
	}{
		{"not root", false, []string{"/usr"}, "/",
			[]string{"/boot/x", "/efi/x", "/etc/x", "/home/x", "/proc/x", "/usr/x", "/var/tmp/x"}},
		{"root alone", true, nil, "/",
			[]string{"/boot/x", "/efi/x", "/etc/x", "/home/x", "/usr/x"}},
		{"root with usr", true, []string{"/usr"}, "/",
			[]string{"/boot/x", "/efi/x", "/etc/x", "/home/x"}},
		{"root with esp", true, []string{"/efi", "/boot", "/home"}, "/",
			[]string{"/etc/x", "/usr/x"}},
		{"root, other target", true, []string{"/usr"}, "/sub",
			[]string{"/sub/boot/x", "/sub/efi/x", "/sub/etc/x", "/sub/home/x", "/sub/proc/x", "/sub/usr/x", "/sub/var/tmp/x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := build(t, src, Spec{CopyFiles: cf("/img", tc.target)},
				Options{RootPartition: tc.root, OtherMountPoints: tc.mounts})
			var files []string
			tr.Walk(func(p string, ino *Inode) error {
				if ino.Kind == KindRegular {
					files = append(files, p)
				}
				return nil
			})
			if !reflect.DeepEqual(files, tc.want) {
				t.Errorf("files = %q\nwant    %q", files, tc.want)
			}
			// The mount point directories themselves stay.
			for _, d := range []string{"usr", "home", "proc", "var/tmp"} {
				must(t, tr, strings.TrimSuffix(tc.target, "/")+"/"+d)
			}
		})
	}
}

func TestMakeDirectoriesAndSymlinks(t *testing.T) {
	src := t.TempDir()
	mkdir(t, src+"/etc", 0o700)
	writeFile(t, src+"/etc/file", 0o644, "")
	symlink(t, "usr/lib", src+"/lib")
	mkdir(t, src+"/usr/lib", 0o755)
	restamp(t, src)
	epoch := i64(1_650_000_000)

	tr := build(t, src, Spec{
		CopyFiles:       cf("/", "/"),
		MakeDirectories: []string{"/etc", "/a/b/c", "/etc/file", "/lib/modules", "/a/b"},
		MakeSymlinks: []definition.Symlink{{Path: "/a/b/l", Target: "../x"},
			{Path: "/lib/modules/abs", Target: "/usr"}},
	}, Options{SourceDateEpoch: epoch})
	if d := must(t, tr, "/etc"); d.Mode != 0o700 || d.Mtime.Sec != baseTime.Unix() {
		t.Errorf("existing /etc changed: %o %v", d.Mode, d.Mtime)
	}
	if f := must(t, tr, "/etc/file"); f.Kind != KindRegular {
		t.Errorf("existing /etc/file replaced by a %v", f.Kind)
	}
	for _, p := range []string{"/a", "/a/b", "/a/b/c", "/usr/lib/modules"} {
		if d := must(t, tr, p); d.Kind != KindDir || d.Mode != 0o755 || d.Mtime != (Time{Sec: *epoch}) {
			t.Errorf("%s = %v %o %v", p, d.Kind, d.Mode, d.Mtime)
		}
	}
	if l := must(t, tr, "/lib"); l.Kind != KindSymlink {
		t.Errorf("/lib is a %v, want the symlink followed, not replaced", l.Kind)
	}
	l := must(t, tr, "/a/b/l")
	if l.Kind != KindSymlink || l.Target != "../x" || l.Mode != 0o777 || l.Size != 4 || l.Mtime != (Time{Sec: *epoch}) {
		t.Errorf("/a/b/l = %+v", l)
	}
	must(t, tr, "/usr/lib/modules/abs")

	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"symlink parent missing", Spec{MakeSymlinks: []definition.Symlink{{Path: "/no/l", Target: "x"}}}, "/no/l"},
		{"symlink exists", Spec{MakeDirectories: []string{"/d"}, MakeSymlinks: []definition.Symlink{{Path: "/d", Target: "x"}}}, "already exists"},
		{"symlink at root", Spec{MakeSymlinks: []definition.Symlink{{Path: "/", Target: "x"}}}, "root"},
		{"directory below a file", Spec{CopyFiles: cf("/etc/file", "/f"), MakeDirectories: []string{"/f/sub"}}, "not a directory"},
		{"relative", Spec{MakeDirectories: []string{"rel"}}, "not absolute"},
		{"dotdot", Spec{MakeDirectories: []string{"/a/../b"}}, `".."`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := buildErr(t, src, tc.spec, Options{}); !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

func TestTargetThroughImageSymlink(t *testing.T) {
	src := t.TempDir()
	symlink(t, "usr/lib", src+"/root/lib")
	symlink(t, "/usr/lib", src+"/root/abslib")
	writeFile(t, src+"/root/usr/lib/a", 0o644, "")
	writeFile(t, src+"/mods/m.ko", 0o644, "")
	writeFile(t, src+"/conf", 0o644, "")
	restamp(t, src)
	tr := build(t, src, Spec{CopyFiles: cf("/root", "/", "/mods", "/lib/modules", "/conf", "/abslib/conf", "/mods", "/lib")}, Options{})
	for _, p := range []string{"/usr/lib/modules/m.ko", "/usr/lib/conf", "/usr/lib/m.ko", "/lib"} {
		must(t, tr, p)
	}
	if tr.Lookup("/lib").Kind != KindSymlink {
		t.Error("/lib replaced")
	}
}

func TestBadPaths(t *testing.T) {
	src := t.TempDir()
	writeFile(t, src+"/r/f", 0o644, "")
	symlink(t, "../..", src+"/r/up")
	symlink(t, "../../../etc", src+"/r/escape")
	symlink(t, "/f", src+"/r/abs")
	symlink(t, "loop", src+"/r/loop")
	mkfifo(t, src+"/r/fifo")
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"dotdot source", Spec{CopyFiles: cf("/r/../r", "/x")}, `".."`},
		{"dotdot target", Spec{CopyFiles: cf("/r", "/x/..")}, `".."`},
		{"relative source", Spec{CopyFiles: cf("r", "/x")}, "not absolute"},
		{"dotdot exclude", Spec{ExcludeFiles: []string{"/a/.."}}, `".."`},
		{"escape", Spec{CopyFiles: cf("/r/escape", "/x")}, "out of the source tree"},
		{"escape via up", Spec{CopyFiles: cf("/r/up/up", "/x")}, "out of the source tree"},
		{"symlink loop", Spec{CopyFiles: cf("/r/loop", "/x")}, "too many levels"},
		{"fifo source", Spec{CopyFiles: cf("/r/fifo", "/x")}, "fifo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := buildErr(t, src+"", tc.spec, Options{}); !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
	// An absolute symlink in a source path restarts at the copy source
	// root, never at the host's /.
	tr := build(t, src+"/r", Spec{CopyFiles: cf("/abs", "/x")}, Options{})
	if x := must(t, tr, "/x"); x.Source != src+"/r/f" {
		t.Errorf("/x comes from %s", x.Source)
	}
	// A copy source root reached through a symlink works too.
	symlink(t, src+"/r", src+"/rootlink")
	tr = build(t, src+"/rootlink", Spec{CopyFiles: cf("/", "/")}, Options{})
	must(t, tr, "/f")
	if _, err := Build(context.Background(), Spec{}, Options{SourceRoot: src + "/missing"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing copy source: %v", err)
	}
	if _, err := Build(context.Background(), Spec{}, Options{SourceRoot: src + "/r/f"}); err == nil {
		t.Error("file as copy source: no error")
	}
}
