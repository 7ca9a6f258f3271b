// Command hermetic-repart builds GPT disk images from systemd-repart's
// repart.d definitions, as an ordinary user and reproducibly.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/hermetic-repart/hermetic-repart/compress"
	"github.com/hermetic-repart/hermetic-repart/definition"
	"github.com/hermetic-repart/hermetic-repart/gpt"
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
	compress *compress.Options // nil: leave the image raw
	keepRaw  bool
	json     string // "", pretty, short
	pretty   int    // -1 unset, 0 no, 1 yes
	legend   bool
	help     bool
	version  bool
	jsonHelp bool
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
	"can-factory-reset": true, "list-devices": true}

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
				c.compress = nil
				break
			}
			f, perr := compress.ParseFormat(value)
			if perr != nil {
				return nil, usagef("Failed to parse --compress= parameter: %s (zstd, zstd-seekable, xz or none)", value)
			}
			if c.compress == nil {
				c.compress = &compress.Options{}
			}
			c.compress.Format = f
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
			c.keepRaw, err = parseBool(name, value)
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
	if c.compress != nil {
		c.compress.Level, c.compress.Threads = compressLevel, compressThreads
		if err := c.compress.Validate(); err != nil {
			return nil, usagef("--compress-level=%d: %v", compressLevel, err)
		}
	} else if c.keepRaw {
		return nil, usagef("--keep-raw needs --compress=.")
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
                          Also write IMAGE.zst or IMAGE.xz (and one per split
                          file) and remove the raw files unless --keep-raw
     --compress-level=N   zstd level or xz preset (default 3, as image.repart)
     --compress-threads=N Chunks compressed at once (default: all cores);
                          never changes the output
     --keep-raw[=BOOL]    Keep the uncompressed files
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
	c.opts.Log = func(msg string) { fmt.Fprintln(stderr, msg) }
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			fmt.Fprintf(stderr, "SOURCE_DATE_EPOCH=%s is not a number of seconds since 1970, refusing.\n", v)
			return 1
		}
		c.opts.SourceDateEpoch = &n
	}
	plan, err := repart.NewPlan(ctx, c.opts)
	if errors.Is(err, repart.ErrNothingToDo) {
		fmt.Fprintln(stderr, err)
		return 0
	}
	if err != nil {
		return fail(stderr, err)
	}
	defer plan.Close()
	if c.json == "" && c.pretty != 0 {
		if err := plan.Result.WriteTable(stdout, c.legend, terminalColumns()); err != nil {
			return fail(stderr, err)
		}
	}
	if !c.opts.DryRun {
		if err := plan.Write(ctx); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%s: interrupted, nothing written (%w)", c.opts.Image, err)
			}
			return fail(stderr, err)
		}
	}
	if !c.opts.DryRun && c.compress != nil {
		if err := compressArtifacts(ctx, plan.Result, c, stderr); err != nil {
			return fail(stderr, err)
		}
	}
	if c.json != "" {
		if err := plan.Result.WriteJSON(stdout, c.json); err != nil {
			return fail(stderr, err)
		}
	}
	return 0
}

// compressArtifacts compresses the image and its split files, as NixOS
// image.repart does after systemd-repart, each into NAME.zst or NAME.xz
// (written whole or not at all), then removes the raw files unless
// --keep-raw. If one fails, the compressed files made so far are removed
// and the raw ones kept.
func compressArtifacts(ctx context.Context, res *repart.Result, c *config, stderr io.Writer) error {
	raws := []string{res.Node}
	for _, p := range res.Partitions {
		if p.SplitPath != "" {
			raws = append(raws, p.SplitPath)
		}
	}
	var done []string
	for _, raw := range raws {
		out := raw + c.compress.Format.Suffix()
		if err := compress.CompressFile(ctx, out, raw, *c.compress); err != nil {
			for _, d := range done {
				os.Remove(d)
			}
			return fmt.Errorf("compressing %s with %s: %w (the raw files are kept)", raw, c.compress.Format, err)
		}
		done = append(done, out)
		if st, err := os.Stat(out); err == nil {
			fmt.Fprintf(stderr, "Wrote %s (%s).\n", out, repart.FormatBytes(uint64(st.Size())))
		}
	}
	if !c.keepRaw {
		for _, raw := range raws {
			if err := os.Remove(raw); err != nil {
				return err
			}
		}
	}
	return nil
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, err)
	var ee *repart.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}

// terminalColumns follows systemd's columns(): $COLUMNS, else 80.
func terminalColumns() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 80
}
