// Command grove is Grove's reference node and toolbox: it runs the demo,
// the benchmarks and, in later releases, a node and commands that inspect a
// running cluster. Everything it does is a library call that a user's own
// main can make.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "grove:", err)
		stop()
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "grove",
		Short:         "Erlang/OTP's distributed toolbox, rebuilt for Go",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDemoCmd(), newBenchCmd(), newNodeCmd(), newCertsCmd())
	return root
}
