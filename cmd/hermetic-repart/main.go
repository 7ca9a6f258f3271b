// Command hermetic-repart builds GPT disk images from systemd-repart's
// repart.d definitions, as an ordinary user and reproducibly.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermetic-repart/hermetic-repart/compress"
	"github.com/hermetic-repart/hermetic-repart/definition"
	"github.com/hermetic-repart/hermetic-repart/gpt"
	"github.com/hermetic-repart/hermetic-repart/imagefile"
	"github.com/hermetic-repart/hermetic-repart/progress"
	"github.com/hermetic-repart/hermetic-repart/repart"
	"github.com/hermetic-repart/hermetic-repart/seedrand"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

type config struct {
	opts     repart.Options
	json     string // "", pretty, short
	jsonFile string
	quiet    bool
	// imageName and imageVersion name the image as NixOS image.repart
	// does (NAME_VERSION.raw) in outputDir, instead of a path argument.
	imageName, imageVersion, outputDir string
	pretty                             int // -1 unset, 0 no, 1 yes
	legend                             bool
	help                               bool
	version                            bool
	jsonHelp                           bool
}

// Options systemd-repart has that hermetic-repart does not implement (yet).
var unsupported = map[string]string{
	"root": "", "image": "", "image-policy": "", "key-file": "", "private-key": "",
	"private-key-source": "", "certificate": "", "tpm2-device": "", "tpm2-device-key": "",
	"tpm2-seal-key-handle": "", "tpm2-pcrs": "", "tpm2-public-key": "", "tpm2-public-key-pcrs": "",
	"tpm2-pcrlock": "", "factory-reset": "", "can-factory-reset": "", "include-partitions": "",
	"exclude-partitions": "", "copy-from": "", "make-ddi": "",
	"generate-fstab": "", "generate-crypttab": "", "list-devices": "",
}

// Options that take no argument; all others require one.
var noArg = map[string]bool{"help": true, "version": true, "no-pager": true, "no-legend": true,
	"can-factory-reset": true, "list-devices": true, "quiet": true}

// Options whose argument is optional: "--name" alone means "--name=yes".
var optArg = map[string]bool{"keep-ownership": true, "keep-raw": true}

func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "yes", "y", "true", "t", "on":
		return true, nil
	case "0", "no", "n", "false", "f", "off":
		return false, nil
	}
	return false, usagef("Failed to parse boolean argument to --%s=: %s.", name, v)
}

func parseArgs(args []string) (*config, error) {
	c := &config{pretty: -1, legend: true}
	compressLevel, compressThreads := 0, 0
	c.opts.DryRun = true
	dryRunSet := false
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if a == "-h" {
			c.help = true
			continue
		}
		if a == "-q" {
			c.quiet = true
			continue
		}
		if !strings.HasPrefix(a, "--") {
			if strings.HasPrefix(a, "-") && a != "-" {
				return nil, usagef("invalid option -- '%s'", strings.TrimPrefix(a, "-"))
			}
			positional = append(positional, a)
			continue
		}
		name, value, hasValue := strings.Cut(a[2:], "=")
		if _, no := unsupported[name]; no {
			return nil, usagef("--%s is not supported by hermetic-repart (see the compatibility table in README.md).", name)
		}
		if optArg[name] && !hasValue {
			value, hasValue = "yes", true
		}
		if noArg[name] {
			if hasValue {
				return nil, usagef("option '--%s' doesn't allow an argument", name)
			}
		} else if !hasValue {
			if i+1 >= len(args) {
				return nil, usagef("option '--%s' requires an argument", name)
			}
			i++
			value = args[i]
		}
		var err error
		switch name {
		case "help":
			c.help = true
		case "version":
			c.version = true
		case "no-pager":
		case "no-legend":
			c.legend = false
		case "definitions":
			c.opts.Definitions = append(c.opts.Definitions, value)
		case "empty":
			switch value {
			case "":
				c.opts.Empty = ""
			case repart.EmptyRefuse, repart.EmptyAllow, repart.EmptyRequire, repart.EmptyForce, repart.EmptyCreate:
				c.opts.Empty = value
			default:
				return nil, usagef("Failed to parse --empty= parameter: %s", value)
			}
		case "size":
			if value == "auto" {
				c.opts.SizeAuto, c.opts.Size = true, 0
				break
			}
			n, perr := definition.ParseSize(value)
			if perr != nil {
				return nil, usagef("Failed to parse --size= parameter: %s", value)
			}
			if n == 0 {
				return nil, usagef("Specified image size too small, refusing.")
			}
			r := (n + 4095) &^ 4095
			if r < n {
				return nil, usagef("Specified image size too large, refusing.")
			}
			if r != n {
				fmt.Fprintf(os.Stderr, "Specified size is not a multiple of 4096, rounding up automatically. (%d → %d)\n", n, r)
			}
			c.opts.Size, c.opts.SizeAuto = r, false
		case "seed":
			switch value {
			case "":
				c.opts.Seed, c.opts.RandomSeed = nil, false
			case "random":
				s, rerr := seedrand.Random()
				if rerr != nil {
					return nil, rerr
				}
				c.opts.Seed, c.opts.RandomSeed = &s, true
			default:
				u, perr := gpt.ParseID(value)
				if perr != nil {
					return nil, usagef("Failed to parse seed: %s", value)
				}
				s := seedrand.Seed(u)
				c.opts.Seed, c.opts.RandomSeed = &s, false
			}
		case "dry-run":
			c.opts.DryRun, err = parseBool(name, value)
			dryRunSet = true
		case "json":
			switch value {
			case "pretty", "short":
				c.json = value
			case "off":
				c.json = ""
			case "help":
				c.jsonHelp = true
			default:
				return nil, usagef("Unknown argument to --json= switch: %s", value)
			}
		case "pretty":
			var b bool
			b, err = parseBool(name, value)
			c.pretty = 0
			if b {
				c.pretty = 1
			}
		case "split":
			c.opts.Split, err = parseBool(name, value)
		case "sector-size":
			n, perr := definition.ParseSize(value)
			switch {
			case perr != nil:
				return nil, usagef("Failed to parse sector size parameter %s", value)
			case n < 512 || n > 4096:
				return nil, usagef("Sector size not between 512 and 4096: %s", value)
			case n&(n-1) != 0:
				return nil, usagef("Sector size not power of 2: %s", value)
			}
			c.opts.SectorSize = int(n)
		case "architecture":
			if !gpt.ValidArchitecture(value) {
				return nil, usagef("Invalid architecture '%s'.", value)
			}
			c.opts.Architecture = value
		case "offline":
			if value != "auto" {
				_, err = parseBool(name, value)
			}
		case "discard":
			var b bool
			b, err = parseBool(name, value)
			c.opts.NoDiscard = !b
		case "copy-source":
			if value == "" {
				return nil, usagef("--copy-source= needs a directory.")
			}
			c.opts.CopySource = value
		case "keep-ownership":
			c.opts.KeepOwnership, err = parseBool(name, value)
		case "compress":
			if value == "none" || value == "" {
				c.opts.Compress = nil
				break
			}
			f, perr := compress.ParseFormat(value)
			if perr != nil {
				return nil, usagef("Failed to parse --compress= parameter: %s (zstd, zstd-seekable, xz or none)", value)
			}
			if c.opts.Compress == nil {
				c.opts.Compress = &compress.Options{}
			}
			c.opts.Compress.Format = f
		case "compress-level", "compress-threads":
			n, perr := strconv.Atoi(value)
			if perr != nil || n < 0 {
				return nil, usagef("Failed to parse --%s= parameter: %s", name, value)
			}
			if name == "compress-level" {
				compressLevel = n
			} else {
				compressThreads = n
			}
		case "keep-raw":
			c.opts.KeepRaw, err = parseBool(name, value)
		case "quiet":
			c.quiet = true
		case "json-file":
			if value == "" {
				return nil, usagef("--json-file= needs a path.")
			}
			c.jsonFile = value
		case "image-name", "image-version":
			if value == "" || value == "." || value == ".." || strings.ContainsAny(value, "/\x00") {
				return nil, usagef("--%s=%q cannot be part of a file name.", name, value)
			}
			if name == "image-name" {
				c.imageName = value
			} else {
				c.imageVersion = value
			}
		case "output-dir":
			if value == "" {
				return nil, usagef("--output-dir= needs a directory.")
			}
			c.outputDir = value
		case "defer-partitions":
			for _, t := range strings.Split(value, ",") {
				if t != "" {
					c.opts.DeferPartitions = append(c.opts.DeferPartitions, t)
				}
			}
		default:
			return nil, usagef("unrecognized option '--%s'", name)
		}
		if err != nil {
			return nil, err
		}
	}
	if c.help || c.version || c.jsonHelp {
		return c, nil
	}
	if c.opts.Compress != nil {
		c.opts.Compress.Level, c.opts.Compress.Threads = compressLevel, compressThreads
		if err := c.opts.Compress.Validate(); err != nil {
			return nil, usagef("--compress-level=%d: %v", compressLevel, err)
		}
	} else if c.opts.KeepRaw {
		return nil, usagef("--keep-raw needs --compress=.")
	}
	switch {
	case c.imageName != "" && len(positional) > 0:
		return nil, usagef("--image-name= names the image; do not give a path as well.")
	case c.imageName == "" && (c.imageVersion != "" || c.outputDir != ""):
		return nil, usagef("--image-version= and --output-dir= need --image-name=.")
	case c.imageName != "":
		base := c.imageName
		if c.imageVersion != "" {
			base += "_" + c.imageVersion
		}
		positional = []string{filepath.Join(c.outputDir, base+".raw")}
	}
	if len(positional) > 1 {
		return nil, usagef("Expected at most one argument, the path to the block device or image file.")
	}
	if len(positional) == 1 {
		c.opts.Image = positional[0]
	}
	if c.opts.Empty == repart.EmptyCreate && !dryRunSet {
		c.opts.DryRun = false
	}
	if c.opts.Empty == repart.EmptyCreate {
		c.opts.DryRun = false
		if c.opts.Size == 0 && !c.opts.SizeAuto {
			return nil, usagef("If --empty=create is specified, --size= must be specified, too.")
		}
	}
	if c.opts.Split && c.opts.Image == "" {
		return nil, usagef("A path to an image file must be specified when --split is used.")
	}
	if c.opts.Image == "" {
		return nil, usagef("A path to an image file must be specified: hermetic-repart writes image files, not the running system's disk.")
	}
	return c, nil
}

const usage = `hermetic-repart [OPTIONS...] IMAGE

Build a GPT disk image from systemd-repart partition definitions, without
privileges and reproducibly.

  -h --help               Show this help
     --version            Show package version
     --no-pager           Accepted for compatibility (no pager is used)
     --no-legend          Do not show the table header
     --dry-run=BOOL       Only show what would be done (default: yes;
                          --empty=create implies no)
     --empty=MODE         refuse, allow, require, force or create
     --size=BYTES|auto    Grow the image to this size (K, M, G, T suffixes)
     --seed=UUID|random   Seed for all derived UUIDs (default: machine ID)
     --definitions=DIR    Read definitions from DIR (repeatable)
     --json=pretty|short|off
                          Print the partition list as JSON
     --pretty=BOOL        Print the partition table (default: yes)
     --split=BOOL         Also write each partition to its own file
     --sector-size=SIZE   Logical sector size: 512, 1024, 2048 or 4096
     --architecture=ARCH  Use root/usr partition types of ARCH
     --offline=BOOL|auto  Accepted for compatibility (always offline)
     --discard=BOOL       no: allocate the whole image instead of leaving
                          it sparse
     --defer-partitions=TYPES
                          Lay out but do not create partitions of these types
     --compress=zstd|zstd-seekable|xz|none
                          Write IMAGE.zst or IMAGE.xz (and one per split
                          file), compressed while the image is built; the
                          raw files are not kept unless --keep-raw
     --compress-level=N   zstd level or xz preset (default 3, as image.repart)
     --compress-threads=N Chunks compressed at once (default: all cores);
                          never changes the output
     --keep-raw[=BOOL]    Keep the uncompressed files
     --image-name=NAME    Name the image NAME.raw, or NAME_VERSION.raw with
     --image-version=VERSION
                          as NixOS image.repart does, instead of giving IMAGE
     --output-dir=DIR     Where --image-name= puts the image (default: .)
     --json-file=PATH     Also write the JSON document (--json= format,
                          default pretty) to PATH
  -q --quiet              No progress display and no list of the files
                          written (shown on a terminal or when compressing)
     --copy-source=DIR    Resolve CopyFiles= and ExcludeFiles= sources
                          below DIR instead of /
     --keep-ownership[=BOOL]
                          Keep the sources' owners (default: everything
                          is owned by root)

Environment: SOURCE_DATE_EPOCH clamps the times written into file systems
and is the time of everything created.
`

// run is the whole program; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseArgs(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		var ue *usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	switch {
	case c.help:
		io.WriteString(stdout, usage)
		return 0
	case c.version:
		fmt.Fprintf(stdout, "hermetic-repart %s (systemd-repart 257 compatible)\n", version)
		return 0
	case c.jsonHelp:
		io.WriteString(stdout, "pretty\nshort\noff\n")
		return 0
	}
	log := func(msg string) { fmt.Fprintln(stderr, msg) }
	// toStdout writes what goes to stdout, which may share the terminal
	// with the status line.
	toStdout := func(f func() error) error { return f() }
	_, tty := terminalWidth(stderr)
	if !c.quiet && tty {
		board := &progress.Board{}
		d := progress.NewDisplay(stderr, board, func() int { cols, _ := terminalWidth(stderr); return cols })
		d.Start(200 * time.Millisecond)
		defer d.Stop()
		c.opts.Progress, log = board, d.Println
		toStdout = func(f func() error) (err error) {
			d.Do(func() { err = f() })
			return err
		}
	}
	c.opts.Log = log
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			fmt.Fprintf(stderr, "SOURCE_DATE_EPOCH=%s is not a number of seconds since 1970, refusing.\n", v)
			return 1
		}
		c.opts.SourceDateEpoch = &n
	}
	fail := func(err error) int {
		log(err.Error())
		var ee *repart.ExitError
		if errors.As(err, &ee) {
			return ee.Code
		}
		return 1
	}
	plan, err := repart.NewPlan(ctx, c.opts)
	if errors.Is(err, repart.ErrNothingToDo) {
		log(err.Error())
		return 0
	}
	if err != nil {
		return fail(err)
	}
	defer plan.Close()
	if c.json == "" && c.pretty != 0 {
		if err := toStdout(func() error { return plan.Result.WriteTable(stdout, c.legend, terminalColumns()) }); err != nil {
			return fail(err)
		}
	}
	if !c.opts.DryRun {
		if err := plan.Write(ctx); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%s: interrupted, nothing written (%w)", c.opts.Image, err)
			}
			return fail(err)
		}
	}
	if c.jsonFile != "" {
		mode := c.json
		if mode == "" {
			mode = repart.JSONPretty
		}
		if err := writeJSONFile(c.jsonFile, plan.Result, mode); err != nil {
			return fail(err)
		}
		plan.Result.Artifacts = append(plan.Result.Artifacts, artifactOf(c.jsonFile))
	}
	if c.json != "" {
		if err := toStdout(func() error { return plan.Result.WriteJSON(stdout, c.json) }); err != nil {
			return fail(err)
		}
	}
	// Without a terminal or compression, stderr stays what
	// systemd-repart prints, for scripts that read it.
	if !c.quiet && (tty || c.opts.Compress != nil) && len(plan.Result.Artifacts) > 0 {
		log(summary(plan.Result.Artifacts))
	}
	return 0
}

// writeJSONFile writes the JSON document to path, whole or not at all.
func writeJSONFile(path string, res *repart.Result, mode string) error {
	f, err := imagefile.Create(path, 0, imagefile.Options{Replace: true})
	if err != nil {
		return err
	}
	defer f.Abort()
	w := bufio.NewWriter(f.OS())
	if err := res.WriteJSON(w, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit()
}

func artifactOf(path string) repart.Artifact {
	a := repart.Artifact{Path: path}
	if st, err := os.Stat(path); err == nil {
		a.Size, a.RawSize = st.Size(), st.Size()
	}
	return a
}

// summary lists the files written with their sizes, and for compressed
// ones the size they stand for.
func summary(arts []repart.Artifact) string {
	var b strings.Builder
	b.WriteString("Wrote:")
	width := 0
	for _, a := range arts {
		width = max(width, len(a.Path))
	}
	for _, a := range arts {
		fmt.Fprintf(&b, "\n  %-*s %7s", width, a.Path, repart.FormatBytes(uint64(a.Size)))
		if a.RawSize != a.Size && a.RawSize > 0 {
			pct := 100 * float64(a.Size) / float64(a.RawSize)
			prec := 1
			if pct < 1 {
				prec = 2 // a mostly empty image: "0.01%", not "0.0%"
			}
			fmt.Fprintf(&b, "  (%s raw, %.*f%%)", repart.FormatBytes(uint64(a.RawSize)), prec, pct)
		}
	}
	return b.String()
}

// terminalWidth reports whether w is a terminal, and its columns.
func terminalWidth(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, false
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return 0, false
	}
	if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
		return int(ws.Col), true
	}
	return terminalColumns(), true
}

// terminalColumns follows systemd's columns(): $COLUMNS, else 80.
func terminalColumns() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 80
}
