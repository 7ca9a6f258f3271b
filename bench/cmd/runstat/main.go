// Command runstat runs a command and reports its wall time, CPU times
// and peak resident set size (ru_maxrss of the child), for the benchmark
// scripts: GNU time is not installed everywhere, and this needs nothing
// but the Go toolchain that builds the project.
//
//	runstat [-o FILE] [-timeout DURATION] -- COMMAND [ARG...]
//
// It writes one line, "WALL USER SYS MAXRSS_KIB STATUS" (seconds, and
// STATUS is the exit status or "timeout"), to FILE or standard error.
// The command's standard streams are passed through. runstat exits with
// the command's status, or 124 after a timeout, as timeout(1) does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	out := flag.String("o", "", "write the measurement line to this file instead of standard error")
	timeout := flag.Duration("timeout", 0, "kill the command after this long (0: no limit)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: runstat [-o FILE] [-timeout DURATION] -- COMMAND [ARG...]")
		os.Exit(2)
	}
	ctx := context.Background()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Its own process group, so that a timeout also stops what a shell
	// command started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	status, code := "0", 0
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		status, code = "timeout", 124
	case errors.As(err, &exit):
		code = exit.ExitCode()
		status = fmt.Sprint(code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "runstat:", err)
		os.Exit(127)
	}
	var user, sys time.Duration
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		user = time.Duration(ru.Utime.Nano())
		sys = time.Duration(ru.Stime.Nano())
		rss = ru.Maxrss // KiB on Linux
	}
	line := fmt.Sprintf("%.3f %.3f %.3f %d %s\n", wall.Seconds(), user.Seconds(), sys.Seconds(), rss, status)
	if *out == "" {
		fmt.Fprint(os.Stderr, line)
	} else if err := os.WriteFile(*out, []byte(line), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "runstat:", err)
		os.Exit(127)
	}
	os.Exit(code)
}
