// Command freight is the Freight download portal: the server (serve), a
// self-contained demo (demo), database migrations (migrate), and admin
// helpers. Run "freight help" for the list of commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "freight:", err)
		}
		os.Exit(2)
	}
}
