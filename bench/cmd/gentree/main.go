// Command gentree writes the deterministic benchmark source tree of
// package workload into a directory and prints its statistics as JSON.
//
//	gentree [-entries N] [-bytes N] [-seed N] [-no-xattrs] [-digest] DIR
//	gentree -digest-only DIR
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hermetic-repart/hermetic-repart/bench/workload"
)

func main() {
	def := workload.Default()
	entries := flag.Int("entries", def.Entries, "names below the root (directories, files, symlinks, hard links)")
	bytes := flag.String("bytes", strconv.FormatInt(def.Bytes, 10), "data bytes of regular files (suffixes K, M, G: powers of 1024)")
	seed := flag.Uint64("seed", def.Seed, "selects one tree among those of this size")
	noXattrs := flag.Bool("no-xattrs", false, "leave out user.* extended attributes")
	digest := flag.Bool("digest", false, "also print the digest of the written tree")
	digestOnly := flag.Bool("digest-only", false, "only print the digest of an existing tree")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gentree [flags] DIR")
		flag.PrintDefaults()
		os.Exit(2)
	}
	dir := flag.Arg(0)
	if *digestOnly {
		d, err := workload.Digest(dir)
		check(err)
		fmt.Println(d)
		return
	}
	n, err := parseBytes(*bytes)
	check(err)
	st, err := workload.Generate(dir, workload.Params{Entries: *entries, Bytes: n, Seed: *seed, NoXattrs: *noXattrs})
	check(err)
	out := struct {
		workload.Stats
		Digest string `json:"digest,omitempty"`
	}{Stats: st}
	if *digest {
		out.Digest, err = workload.Digest(dir)
		check(err)
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

func parseBytes(s string) (int64, error) {
	mult := int64(1)
	for i, suf := range []string{"K", "M", "G", "T"} {
		if strings.HasSuffix(strings.ToUpper(s), suf) {
			mult = 1 << (10 * (i + 1))
			s = s[:len(s)-1]
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad byte count %q", s)
	}
	return n * mult, nil
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gentree:", err)
		os.Exit(1)
	}
}
