// Command freight is the Freight download portal: the server (serve), a
// self-contained demo (demo), database migrations (migrate), and admin
// helpers. Run "freight help" for the list of commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	endProfile := startProfile()
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	endProfile()
	stop()
	if err != nil {
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "freight:", err)
		}
		// 2: the command was called wrongly; 1: it ran and failed.
		if _, ok := errors.AsType[usageError](err); ok || err == errUsage {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
