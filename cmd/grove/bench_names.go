package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/grovedev/grove/cmd/grove/internal/bench"
)

func newBenchNamesCmd() *cobra.Command {
	var asJSON bool
	var cfg bench.NamesConfig
	cmd := &cobra.Command{
		Use:   "names",
		Short: "Cluster registry, keyed processes and supervisor failover on nodes over loopback TCP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			progress := func(s string) { fmt.Fprintf(cmd.ErrOrStderr(), "running %s...\n", s) }
			res, err := bench.Names(cmd.Context(), cfg, progress)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			printNames(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the figures as one JSON object")
	f.IntVar(&cfg.Registrations, "registrations", 0, "local registrations timed (default 10,000)")
	f.IntVar(&cfg.Visible, "visible", 0, "registrations timed until visible on every node (default 200)")
	f.IntVar(&cfg.Lookups, "lookups", 0, "lookups timed (default 2,000,000)")
	f.IntVar(&cfg.Entities, "entities", 0, "active keyed processes (default 100,000)")
	f.DurationVar(&cfg.EntityFor, "entity-for", 0, "how long to stream messages to the keyed processes (default 5s)")
	f.IntVar(&cfg.Children, "children", 0, "children of the node that fails (default 10,000)")
	return cmd
}

func printNames(w io.Writer, r bench.NamesResult) {
	fmt.Fprintf(w, "register (local ack)        %10.2f µs p50, %.2f µs p99   (target ≤ 10 µs)\n", r.RegisterLocalUs, r.RegisterP99Us)
	fmt.Fprintf(w, "visible on all of 3 nodes   %10.2f ms p50, %.2f ms p99   (target ≤ 50 ms)\n", r.RegisterVisibleMs3, r.RegisterVisible3P99)
	fmt.Fprintf(w, "visible on all of 10 nodes  %10.2f ms p50\n", r.RegisterVisibleMs10)
	fmt.Fprintf(w, "lookup                      %10.1f ns, %.1f ns per lookup on %d goroutines   (target ≤ 100 ns)\n", r.LookupNs, r.LookupParallelNs, r.GOMAXPROCS)
	fmt.Fprintf(w, "entity first message        %10.1f µs p50 (activation, from one of 3 nodes)\n", r.EntityFirstMsgUs)
	fmt.Fprintf(w, "entity messages             %10.0f msg/s with %d active keyed processes\n", r.EntityMsgsPerS, r.EntitiesActive)
	fmt.Fprintf(w, "failover of %d children  %10.2f s after the dead verdict (detection took %.2f s)   (target ≤ 2 s)\n", r.FailoverChildren, r.Failover10kS, r.FailoverDetectS)
}
