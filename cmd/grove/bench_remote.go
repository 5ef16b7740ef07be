package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/grovedev/grove/cmd/grove/internal/bench"
	"github.com/grovedev/grove/node/certs"
	"github.com/spf13/cobra"
)

// RemoteResult holds the figures of `grove bench remote`. JSON names are
// part of the command's output contract.
type RemoteResult struct {
	StreamSmallMPS    float64 `json:"remote_stream_small_mps"`
	Stream1KMiBps     float64 `json:"remote_stream_1k_mibps"`
	Stream64KMiBps    float64 `json:"remote_stream_64k_mibps"`
	RTTP50us          float64 `json:"remote_rtt_p50_us"`
	RTTP99us          float64 `json:"remote_rtt_p99_us"`
	StreamSmallTLSMPS float64 `json:"remote_stream_small_tls_mps"`
	TLSCost           float64 `json:"tls_cost"` // 1 − tls/plain
	// The default cookie mode, encrypted with the handshake's session
	// keys; the figures above are of cookie mode without encryption, as
	// Erlang's distribution runs.
	StreamSmallAEADMPS float64 `json:"remote_stream_small_aead_mps"`
	Stream64KAEADMiBps float64 `json:"remote_stream_64k_aead_mibps"`
	AEADCost           float64 `json:"aead_cost"` // 1 − aead/plain, small stream
	RawTCPSmallMPS     float64 `json:"raw_tcp_small_mps"`
	RawTCP64KMiBps     float64 `json:"raw_tcp_64k_mibps"`
	RawTCPRTTP50us     float64 `json:"raw_tcp_rtt_p50_us"`
	RawTCP1KMiBps      float64 `json:"raw_tcp_1k_mibps"`
	RawPayloadBytes    int     `json:"raw_payload_bytes"`
	// Erlang distribution between two BEAM VMs in the same sitting (left
	// out when Erlang/OTP is not installed or --erlang=false).
	ErlangOTP            string  `json:"erlang_otp,omitempty"`
	ErlangRTTP50us       float64 `json:"erlang_rtt_p50_us,omitempty"`
	ErlangRTTP99us       float64 `json:"erlang_rtt_p99_us,omitempty"`
	ErlangStreamSmallMPS float64 `json:"erlang_stream_small_mps,omitempty"`
	ErlangStream1KMiBps  float64 `json:"erlang_stream_1k_mibps,omitempty"`
	ErlangStream64KMiBps float64 `json:"erlang_stream_64k_mibps,omitempty"`
}

// rawPayloadBytes is the size of the raw baseline's frames: about what a
// small Grove message takes on the wire (sender and receiver PIDs and an
// encoded integer).
const rawPayloadBytes = 32

func newBenchRemoteCmd() *cobra.Command {
	var asJSON, erlang bool
	var cfg bench.RemoteConfig
	cmd := &cobra.Command{
		Use:   "remote",
		Short: "Two node processes on loopback: streams, round trips, TLS, raw TCP baselines and Erlang distribution (B5, B6)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			progress := func(s string) { fmt.Fprintf(cmd.ErrOrStderr(), "running %s...\n", s) }
			res, err := benchRemote(ctx, cfg, progress)
			if err != nil {
				return err
			}
			if erlang {
				progress("Erlang distribution (two BEAM VMs)")
				ecfg := bench.ErlangConfig{RoundTrips: cfg.RoundTrips, BigMessages: cfg.BigMessages}
				if cfg.SmallMessages > 0 {
					ecfg.SmallMessages = min(cfg.SmallMessages, 500_000)
				}
				if cfg.KiBMessages > 0 {
					ecfg.KiBMessages = min(cfg.KiBMessages, 200_000)
				}
				e, err := bench.RunErlang(ctx, ecfg)
				switch {
				case errors.Is(err, bench.ErrNoErlang):
					fmt.Fprintf(cmd.ErrOrStderr(), "skipping Erlang distribution: %v\n", err)
				case err != nil:
					return err
				default:
					res.ErlangOTP, res.ErlangRTTP50us, res.ErlangRTTP99us = e.OTP, e.RTTP50us, e.RTTP99us
					res.ErlangStreamSmallMPS, res.ErlangStream1KMiBps, res.ErlangStream64KMiBps = e.SmallMPS, e.KiBMiBps, e.BigMiBps
				}
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			printRemote(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the figures as one JSON object")
	f.IntVar(&cfg.SmallMessages, "small", 0, "small messages to stream (default 2,000,000)")
	f.IntVar(&cfg.KiBMessages, "kib", 0, "1 KiB messages to stream (default 500,000)")
	f.IntVar(&cfg.BigMessages, "big", 0, "64 KiB messages to stream (default 4,000)")
	f.IntVar(&cfg.RoundTrips, "round-trips", 0, "calls to time (default 20,000)")
	f.BoolVar(&erlang, "erlang", true, "also measure Erlang distribution between two BEAM VMs, when Erlang/OTP is installed (up to 500,000 small and 200,000 1 KiB messages)")
	f.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write CPU profiles of both processes of the unencrypted run to `PREFIX`.driver.prof and PREFIX.peer.prof")
	return cmd
}

func benchRemote(ctx context.Context, cfg bench.RemoteConfig, progress func(string)) (RemoteResult, error) {
	var res RemoteResult
	cookie := make([]byte, 16)
	rand.Read(cookie)
	plain := bench.LinkSecurity{Cookie: cookie, Unencrypted: true}
	sealed := bench.LinkSecurity{Cookie: cookie}

	progress("peer node process")
	var peerArgs []string
	if cfg.CPUProfile != "" {
		peerArgs = []string{"--cpuprofile", cfg.CPUProfile + ".peer.prof"}
	}
	addr, stop, err := startPeer(ctx, "node", plain, peerArgs...)
	if err != nil {
		return res, err
	}
	stopProfile, err := startCPUProfile(cfg.CPUProfile, ".driver.prof")
	if err != nil {
		stop()
		return res, err
	}
	r, err := bench.Drive(ctx, addr, plain, cfg, false, progress)
	stopProfile()
	stop()
	if err != nil {
		return res, err
	}
	res.StreamSmallMPS, res.Stream1KMiBps, res.Stream64KMiBps = r.SmallMPS, r.KiBMiBps, r.BigMiBps
	res.RTTP50us, res.RTTP99us = r.RTTP50us, r.RTTP99us

	dir, err := os.MkdirTemp("", "grove-bench-tls")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	ca, err := certs.NewCA("grove bench")
	if err != nil {
		return res, err
	}
	if err := ca.WriteFiles(dir, bench.DriverNode, bench.PeerNode); err != nil {
		return res, err
	}
	secure := bench.LinkSecurity{TLSDir: dir}
	progress("peer node process with TLS")
	addr, stop, err = startPeer(ctx, "node", secure)
	if err != nil {
		return res, err
	}
	r, err = bench.Drive(ctx, addr, secure, cfg, true, progress)
	stop()
	if err != nil {
		return res, err
	}
	res.StreamSmallTLSMPS = r.SmallMPS
	if res.StreamSmallMPS > 0 {
		res.TLSCost = 1 - res.StreamSmallTLSMPS/res.StreamSmallMPS
	}

	progress("peer node process, encrypted cookie mode")
	addr, stop, err = startPeer(ctx, "node", sealed)
	if err != nil {
		return res, err
	}
	r, err = bench.Drive(ctx, addr, sealed, bench.RemoteConfig{SmallMessages: cfg.SmallMessages, KiBMessages: 1, BigMessages: cfg.BigMessages, RoundTrips: 1}, false, progress)
	stop()
	if err != nil {
		return res, err
	}
	res.StreamSmallAEADMPS, res.Stream64KAEADMiBps = r.SmallMPS, r.BigMiBps
	if res.StreamSmallMPS > 0 {
		res.AEADCost = 1 - res.StreamSmallAEADMPS/res.StreamSmallMPS
	}

	progress("raw TCP baseline")
	addr, stop, err = startPeer(ctx, "raw", plain)
	if err != nil {
		return res, err
	}
	defer stop()
	n := cfg.SmallMessages
	if n <= 0 {
		n = 2_000_000
	}
	res.RawPayloadBytes = rawPayloadBytes
	if res.RawTCPSmallMPS, err = bench.RawStream(ctx, addr, n, make([]byte, rawPayloadBytes)); err != nil {
		return res, err
	}
	big := cfg.BigMessages
	if big <= 0 {
		big = 4_000
	}
	mps, err := bench.RawStream(ctx, addr, big, make([]byte, 64<<10))
	if err != nil {
		return res, err
	}
	res.RawTCP64KMiBps = mps * 64 / 1024
	kib := cfg.KiBMessages
	if kib <= 0 {
		kib = 500_000
	}
	if mps, err = bench.RawStream(ctx, addr, kib, make([]byte, 1024)); err != nil {
		return res, err
	}
	res.RawTCP1KMiBps = mps / 1024
	trips := cfg.RoundTrips
	if trips <= 0 {
		trips = 20_000
	}
	res.RawTCPRTTP50us, err = bench.RawRoundTrips(ctx, addr, trips, make([]byte, rawPayloadBytes))
	return res, err
}

// startPeer runs `grove bench peer` as a separate OS process and returns the
// address it listens on. stop ends it.
func startPeer(ctx context.Context, mode string, sec bench.LinkSecurity, extra ...string) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	args := append([]string{"bench", "peer", "--mode", mode, "--cookie", hex.EncodeToString(sec.Cookie)}, extra...)
	if sec.Unencrypted {
		args = append(args, "--unencrypted")
	}
	if sec.TLSDir != "" {
		args = append(args, "--tls-dir", sec.TLSDir)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
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
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		stop()
		return "", nil, fmt.Errorf("bench peer did not start: %q %v", line, err)
	}
	return addr, stop, nil
}

// startCPUProfile writes a CPU profile to prefix+suffix until the returned
// function is called; with an empty prefix it does nothing.
func startCPUProfile(prefix, suffix string) (func(), error) {
	if prefix == "" {
		return func() {}, nil
	}
	f, err := os.Create(prefix + suffix)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func newBenchPeerCmd() *cobra.Command {
	var mode, cookie, tlsDir, profile string
	var unencrypted bool
	cmd := &cobra.Command{
		Use:    "peer",
		Short:  "The other side of `grove bench remote` (started by it)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := hex.DecodeString(cookie)
			if err != nil {
				return fmt.Errorf("--cookie: %w", err)
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			// The driver closes our stdin when it is done with us.
			go func() {
				io.Copy(io.Discard, os.Stdin)
				cancel()
			}()
			ready := func(addr string) { fmt.Fprintf(cmd.OutOrStdout(), "ADDR %s\n", addr) }
			stopProfile, err := startCPUProfile(profile, "")
			if err != nil {
				return err
			}
			defer stopProfile()
			switch mode {
			case "node":
				return bench.RunPeer(ctx, bench.LinkSecurity{Cookie: key, TLSDir: tlsDir, Unencrypted: unencrypted}, ready)
			case "raw":
				return bench.RunRawSink(ctx, ready)
			}
			return fmt.Errorf("--mode %q: want node or raw", mode)
		},
	}
	f := cmd.Flags()
	f.StringVar(&mode, "mode", "node", "node or raw")
	f.StringVar(&cookie, "cookie", "", "hex cookie")
	f.StringVar(&tlsDir, "tls-dir", "", "directory with ca.pem and the nodes' certificates")
	f.BoolVar(&unencrypted, "unencrypted", false, "cookie mode without encryption")
	f.StringVar(&profile, "cpuprofile", "", "write a CPU profile to `FILE`")
	return cmd
}

func printRemote(w io.Writer, r RemoteResult) {
	fmt.Fprintf(w, "B5 stream small      %12.0f msg/s   (raw TCP baseline %.0f msg/s of %d-byte frames)\n", r.StreamSmallMPS, r.RawTCPSmallMPS, r.RawPayloadBytes)
	fmt.Fprintf(w, "B5 stream small TLS  %12.0f msg/s   (TLS costs %.0f%%)\n", r.StreamSmallTLSMPS, 100*r.TLSCost)
	fmt.Fprintf(w, "B5 stream small AEAD %12.0f msg/s   (encrypted cookie mode costs %.0f%%)\n", r.StreamSmallAEADMPS, 100*r.AEADCost)
	fmt.Fprintf(w, "B5 stream 1 KiB      %12.0f MiB/s   (raw TCP %.0f MiB/s)\n", r.Stream1KMiBps, r.RawTCP1KMiBps)
	fmt.Fprintf(w, "B5 stream 64 KiB     %12.0f MiB/s   (raw TCP %.0f MiB/s; encrypted %.0f MiB/s)\n", r.Stream64KMiBps, r.RawTCP64KMiBps, r.Stream64KAEADMiBps)
	fmt.Fprintf(w, "B6 round trip        %12.1f µs p50, %.1f µs p99   (raw TCP %.1f µs p50)\n", r.RTTP50us, r.RTTP99us, r.RawTCPRTTP50us)
	if r.ErlangOTP != "" {
		fmt.Fprintf(w, "Erlang/OTP %s distribution: round trip %.1f µs p50, %.1f µs p99; small %.0f msg/s; 1 KiB %.0f MiB/s; 64 KiB %.0f MiB/s\n",
			r.ErlangOTP, r.ErlangRTTP50us, r.ErlangRTTP99us, r.ErlangStreamSmallMPS, r.ErlangStream1KMiBps, r.ErlangStream64KMiBps)
	}
}
