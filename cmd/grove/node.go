package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/grovedev/grove/agent"
	"github.com/spf13/cobra"
)

func newNodeCmd() *cobra.Command {
	var cfg agent.Config
	var verbose bool
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a Grove node",
		Long: `Run a Grove node: node links on --listen, peers from --join, the admin API on --admin.
Every flag has a GROVE_* environment variable (GROVE_NAME, GROVE_LISTEN, GROVE_JOIN, GROVE_COOKIE, ...);
flags win. SIGTERM or SIGINT shuts the node down gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := agent.LoadEnv(cmd.Flags(), os.LookupEnv); err != nil {
				return err
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			a, err := agent.Start(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			<-cmd.Context().Done()
			return a.Close(context.Background())
		},
	}
	cfg.RegisterFlags(cmd.Flags())
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log at debug level")
	return cmd
}
