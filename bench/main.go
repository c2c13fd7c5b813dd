package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(mainCode(os.Args[1:], os.Stdout, os.Stderr))
}

// mainCode runs the program and returns its exit code: 0, 1 on failure, 2
// on a bad command line, 130 when interrupted. Every server it started is
// stopped before it returns, whatever happened.
func mainCode(args []string, stdout, stderr io.Writer) int {
	// The first SIGINT/SIGTERM cancels ctx: the trial in progress fails, and
	// run stops its servers and prints what it has. A second one kills the
	// process at once (redisserver's servers die with it on Linux).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "bench: interrupted:", err)
		return 130
	default:
		fmt.Fprintln(stderr, "bench: FAILED:", err)
		return 1
	}
}
