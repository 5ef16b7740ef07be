package main

import (
	"os"

	"github.com/grovedev/grove/cmd/grove/internal/demo"
	"github.com/spf13/cobra"
)

func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Walk through Grove's capabilities with progress output",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			return demo.Run(cmd.Context(), cmd.OutOrStdout(), demo.Options{Grove: exe})
		},
	}
}
