package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/grovedev/grove/cmd/grove/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchEventsCmd() *cobra.Command {
	var asJSON bool
	var cfg bench.EventsConfig
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Event store: appends to PostgreSQL and the embedded store, catch-up, latency growth",
		Long: `Measures the event store against its baselines in the same run: appends to PostgreSQL with
1 and 50 writers (batches of 100 and of 1), the same appends through a single $all row (the
design of EventStore for Elixir), the embedded store with 50 writers against raw pebble commits,
a subscription catching up from position 0, and the growth of the append latency between a
store of --growth-events/10 and one of --growth-events events.

Without --postgres it starts a PostgreSQL server of its own in a temporary directory from an
installed server (Debian's postgresql package) and removes it afterwards.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			res, err := bench.Events(cmd.Context(), cfg, func(step string) {
				fmt.Fprintf(errOut, "running %s...\n", step)
			})
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			printEvents(out, res)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the figures as one JSON object")
	f.StringVar(&cfg.PostgresURL, "postgres", "", "PostgreSQL server to measure (default: start one)")
	f.DurationVar(&cfg.Duration, "duration", 0, "length of each throughput figure (default 5s)")
	f.IntVar(&cfg.Writers, "writers", 0, "writers of the many-writer figures (default 50)")
	f.IntVar(&cfg.Batch, "batch", 0, "events per append of the batched figures (default 100)")
	f.IntVar(&cfg.GrowthEvents, "growth-events", 0, "store size of the latency growth's second point; the first is a tenth (default 10,000,000)")
	f.StringVar(&cfg.GrowthStore, "growth-store", "", "store of the latency growth: postgres or embedded (default postgres)")
	f.IntVar(&cfg.CatchupEvents, "catchup-events", 0, "events the catch-up figures read at most (default 1,000,000)")
	f.StringVar(&cfg.Dir, "dir", "", "directory for the embedded stores (default a temporary one)")
	return cmd
}

func printEvents(w io.Writer, r bench.EventsResult) {
	fmt.Fprintf(w, "PostgreSQL append, 1 writer, batches of %d    %10.0f events/s  (EventStore for Elixir: %.0f)\n", r.Batch, r.PGAppend1W, r.EventStoreElixir1W)
	fmt.Fprintf(w, "PostgreSQL append, %d writers, batches of %d  %10.0f events/s  (EventStore for Elixir: %.0f; target ≥ 50,000)\n", r.Writers, r.Batch, r.PGAppend50W, r.EventStoreElixir50W)
	fmt.Fprintf(w, "  baseline: one $all row per append          %10.0f events/s  (ratio %.1f)\n", r.PGHotRow50W, r.PGAppend50W/r.PGHotRow50W)
	fmt.Fprintf(w, "PostgreSQL append, %d writers, one event each %9.0f events/s\n", r.Writers, r.PGAppend50WB1)
	fmt.Fprintf(w, "embedded append, %d writers, batches of %d    %10.0f events/s  (target ≥ 200,000)\n", r.Writers, r.Batch, r.EmbeddedAppend50W)
	fmt.Fprintf(w, "  baseline: raw pebble synced batches        %10.0f events/s  (ratio %.2f)\n", r.PebbleRaw50W, r.EmbeddedAppend50W/r.PebbleRaw50W)
	fmt.Fprintf(w, "catch-up from 0 (PostgreSQL)                 %10.0f events/s  (%d events)\n", r.CatchupEPS, r.CatchupEvents)
	fmt.Fprintf(w, "catch-up from 0 (embedded)                   %10.0f events/s\n", r.EmbeddedCatchupEPS)
	fmt.Fprintf(w, "append latency p50 at %d / %d events (%s): %.0f / %.0f µs, growth %.2f (target ≤ 2)\n",
		r.GrowthEvents/10, r.GrowthEvents, r.GrowthStore, r.GrowthSmallP50Us, r.GrowthLargeP50Us, r.AppendLatencyGrowth)
}
