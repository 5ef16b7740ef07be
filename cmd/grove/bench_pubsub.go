package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/grovedev/grove/cmd/grove/internal/bench"
)

func newBenchPubSubCmd() *cobra.Command {
	var asJSON bool
	var cfg bench.PubSubConfig
	cmd := &cobra.Command{
		Use:   "pubsub",
		Short: "PubSub, pg and presence over three node processes: broadcast to 10k and 1M subscribers, throughput, 10k joins, presence list",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cookie := make([]byte, 16)
			rand.Read(cookie)
			sec := bench.LinkSecurity{Cookie: cookie}
			progress := func(s string) { fmt.Fprintf(cmd.ErrOrStderr(), "running %s...\n", s) }
			start := func(ctx context.Context, name string) (string, func(), error) {
				return startPubSubPeer(ctx, name, cookie)
			}
			res, err := bench.PubSub(ctx, cfg, sec, start, progress)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			printPubSub(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the figures as one JSON object")
	f.IntVar(&cfg.Small, "small", 0, "subscribers of the small broadcast (default 10,000)")
	f.IntVar(&cfg.Large, "large", 0, "subscribers of the large broadcast (default 1,000,000)")
	f.IntVar(&cfg.Rounds, "rounds", 0, "broadcasts timed per size, median kept (default 7; half for the large one)")
	f.IntVar(&cfg.Stream, "stream", 0, "broadcasts of the throughput run (default 20,000)")
	f.IntVar(&cfg.StreamSubs, "stream-subscribers", 0, "subscribers per node of the throughput run (default 100)")
	f.IntVar(&cfg.Joins, "joins", 0, "group joins to make visible on every node (default 10,000)")
	f.IntVar(&cfg.Presences, "presences", 0, "presences to list (default 100,000)")
	cmd.AddCommand(newBenchPubSubPeerCmd())
	return cmd
}

func newBenchPubSubPeerCmd() *cobra.Command {
	var name, cookie string
	cmd := &cobra.Command{
		Use:    "peer",
		Short:  "A peer node of `grove bench pubsub` (started by it)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := hex.DecodeString(cookie)
			if err != nil {
				return fmt.Errorf("--cookie: %w", err)
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go func() { // the driver closes our stdin when it is done with us
				io.Copy(io.Discard, os.Stdin)
				cancel()
			}()
			return bench.RunPubSubPeer(ctx, name, bench.LinkSecurity{Cookie: key}, func(addr string) {
				fmt.Fprintf(cmd.OutOrStdout(), "ADDR %s\n", addr)
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "node name")
	cmd.Flags().StringVar(&cookie, "cookie", "", "hex cookie")
	return cmd
}

// startPubSubPeer runs `grove bench pubsub peer` as an OS process.
func startPubSubPeer(ctx context.Context, name string, cookie []byte) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "bench", "pubsub", "peer", "--name", name, "--cookie", hex.EncodeToString(cookie))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		stop()
		return "", nil, fmt.Errorf("bench pubsub peer did not start: %q %v", line, err)
	}
	return addr, stop, nil
}

func printPubSub(w io.Writer, r bench.PubSubResult) {
	fmt.Fprintf(w, "broadcast to %d process subscribers (%d nodes)   %10.2f ms   (target ≤ 10 ms; %.1f ms of CPU on the three processes)\n", r.SmallSubscribers, r.Nodes, r.Broadcast10kMs, r.Broadcast10kCPUMs)
	fmt.Fprintf(w, "broadcast to %d inline subscribers (%d nodes)    %10.2f ms\n", r.SmallSubscribers, r.Nodes, r.Broadcast10kInlineMs)
	fmt.Fprintf(w, "broadcast to %d process subscribers (%d nodes) %10.2f ms   (target ≤ 300 ms; %.0f ms of CPU on the three processes)\n", r.LargeSubscribers, r.Nodes, r.Broadcast1MMs, r.Broadcast1MCPUMs)
	fmt.Fprintf(w, "broadcast to %d inline subscribers (%d nodes)  %10.2f ms\n", r.LargeSubscribers, r.Nodes, r.Broadcast1MInlineMs)
	fmt.Fprintf(w, "broadcasts, 100 subscribers per node              %10.0f /s\n", r.BroadcastsPerS)
	fmt.Fprintf(w, "10k pg joins visible on every node                %10.2f ms   (target ≤ 100 ms; %d batches)\n", r.PGJoin10kVisibleMs, r.PGJoinBatches)
	fmt.Fprintf(w, "list of %d presences, %.0f updates/s going on %7.2f ms   (target ≤ 10 ms; %.2f ms of CPU; copying a slice of as many: %.2f ms; Range without a copy: %.2f ms)\n",
		r.Presences, r.PresenceUpdatesPerS, r.PresenceList100kMs, r.PresenceList100kCPUMs, r.SliceCopy100kMs, r.PresenceRange100kMs)
}
