// Command compressfile compresses one file with package compress, the
// compressor the CLI's --compress uses, for the benchmark scripts: it
// times the compressor alone on a file that the zstd and xz CLIs get too.
//
//	compressfile [-format zstd|zstd-seekable|xz] [-level N] [-threads N] SRC DST
//
// Threads 0 means all cores (GOMAXPROCS), as --compress-threads does.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/hermetic-repart/hermetic-repart/compress"
)

func main() {
	format := flag.String("format", "zstd", "zstd, zstd-seekable or xz")
	level := flag.Int("level", compress.DefaultLevel, "zstd level (1-22) or xz preset (1-9)")
	threads := flag.Int("threads", 0, "chunks compressed at once (0: all cores)")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: compressfile [-format F] [-level N] [-threads N] SRC DST")
		os.Exit(2)
	}
	f, err := compress.ParseFormat(*format)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compressfile:", err)
		os.Exit(2)
	}
	opts := compress.Options{Format: f, Level: *level, Threads: *threads}
	if err := opts.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "compressfile:", err)
		os.Exit(2)
	}
	if err := compress.CompressFile(context.Background(), flag.Arg(1), flag.Arg(0), opts); err != nil {
		fmt.Fprintln(os.Stderr, "compressfile:", err)
		os.Exit(1)
	}
}
