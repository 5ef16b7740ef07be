package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/grovedev/grove/cmd/grove/internal/bench"
)

func newBenchRaftCmd() *cobra.Command {
	var asJSON bool
	var skip string
	var cfg bench.RaftConfig
	cmd := &cobra.Command{
		Use:   "raft",
		Short: "Raft groups: writes on 1 and 100 groups against hashicorp/raft, KV over HTTP, failover, idle groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if skip != "" {
				cfg.Skip = strings.Split(skip, ",")
			}
			errOut := cmd.ErrOrStderr()
			res, err := bench.Raft(cmd.Context(), cfg, func(step string) { fmt.Fprintf(errOut, "running %s...\n", step) })
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			printRaft(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the figures as one JSON object")
	f.DurationVar(&cfg.Duration, "duration", 0, "length of each throughput run (default 5s)")
	f.IntVar(&cfg.Writers, "writers", 0, "concurrent writers of the one-group runs (default 64)")
	f.IntVar(&cfg.Groups, "groups", 0, "groups of the many-group runs (default 100)")
	f.IntVar(&cfg.Payload, "payload", 0, "command size in bytes (default 128)")
	f.IntVar(&cfg.IdleGroups, "idle-groups", 0, "idle groups to measure (default 10,000)")
	f.IntVar(&cfg.FailoverTrials, "failover-trials", 0, "leader kills (default 7)")
	f.StringVar(&skip, "skip", "", "parts to leave out, comma-separated: hashicorp,100g,kv,idle,failover")
	return cmd
}

func printRaft(w io.Writer, r bench.RaftResult) {
	fmt.Fprintf(w, "writes, 1 group        %10.0f/s  p50 %.2f ms  p99 %.2f ms  (hashicorp/raft %.0f/s, p50 %.2f ms; ratio %.2f)\n",
		r.WritesPerS1G, r.CommitP50Ms1G, r.CommitP99Ms1G, r.HashicorpWritesPerS1G, r.HashicorpCommitP50Ms1G, r.Ratio1G)
	fmt.Fprintf(w, "writes, 100 groups     %10.0f/s  (hashicorp/raft, one instance per group: %.0f/s; ratio %.2f)\n",
		r.WritesPerS100G, r.HashicorpWritesPerS100, r.Ratio100G)
	fmt.Fprintf(w, "fsyncs per write, 1g   %10.3f\n", r.SyncsPerWrite1G)
	fmt.Fprintf(w, "kv over HTTP           %10.0f PUT/s\n", r.KVHTTPOpsPerS)
	fmt.Fprintf(w, "failover               %10.0f ms p50  (max %.0f ms)\n", r.FailoverP50Ms, r.FailoverMaxMs)
	fmt.Fprintf(w, "idle group             %10.0f bytes per group per node (%d groups)\n", r.IdleGroupBytes, r.IdleGroups)
	fmt.Fprintf(w, "idle groups' CPU       %10.4f CPU s/s  (the 3 nodes without groups: %.4f)\n", r.Idle10kGroupsCPU, r.IdleBaselineCPU)
	fmt.Fprintf(w, "payload                %10d bytes\n", r.Payload)
	for part, err := range r.Errors {
		fmt.Fprintf(w, "FAILED %s: %s\n", part, err)
	}
}
