package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/grovedev/grove/cmd/grove/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run Grove's benchmarks with their baselines",
	}
	cmd.AddCommand(newBenchLocalCmd(), newBenchRemoteCmd(), newBenchPeerCmd())
	cmd.AddCommand(newBenchEventsCmd())
	cmd.AddCommand(newBenchRaftCmd())
	cmd.AddCommand(newBenchPubSubCmd())
	cmd.AddCommand(newBenchNamesCmd())
	return cmd
}

func newBenchLocalCmd() *cobra.Command {
	var asJSON bool
	var cfg bench.LocalConfig
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Process runtime on one node: ping-pong, streams, spawn, call latency (B1–B4)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			res, err := bench.Local(cmd.Context(), cfg, func(step string) {
				fmt.Fprintf(errOut, "running %s...\n", step)
			})
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(out)
				return enc.Encode(res)
			}
			printLocal(out, res)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the figures as one JSON object")
	f.IntVar(&cfg.PingPongRounds, "rounds", 0, "ping-pong round trips (default 2,000,000)")
	f.IntVar(&cfg.StreamMessages, "messages", 0, "messages per stream (default 10,000,000)")
	f.IntVar(&cfg.StreamPairs, "pairs", 0, "sender/receiver pairs of the N→N stream (default 8)")
	f.IntVar(&cfg.Processes, "processes", 0, "idle processes to spawn (default 1,000,000)")
	f.IntVar(&cfg.Calls, "calls", 0, "calls to time (default 200,000)")
	return cmd
}

func printLocal(w io.Writer, r bench.LocalResult) {
	fmt.Fprintf(w, "B1 ping-pong          %12.0f round trips/s  (channel baseline %.0f; ratio %.2f)\n",
		r.PingPongRTPS, r.ChanPingPongRTPS, r.PingPongRatio)
	fmt.Fprintf(w, "B2 stream 1→1         %12.0f msg/s\n", r.Stream1to1MPS)
	fmt.Fprintf(w, "B2 stream %d→%d         %12.0f msg/s\n", r.StreamPairs, r.StreamPairs, r.StreamNtoNMPS)
	fmt.Fprintf(w, "B3 spawn              %12.0f processes/s\n", r.SpawnPerS)
	fmt.Fprintf(w, "B3 memory             %12.0f bytes per idle process (%d processes)\n", r.BytesPerProcess, r.Processes)
	fmt.Fprintf(w, "B4 call latency       %12.0f ns p50, %.0f ns p99\n", r.CallP50Ns, r.CallP99Ns)
	fmt.Fprintf(w, "(%s, GOMAXPROCS=%d)\n", r.GoVersion, r.GOMAXPROCS)
}
