package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// erlangModule is the Erlang side of the comparison: the same round trip
// and streams as Drive, between two BEAM VMs over Erlang distribution.
//
//go:embed erlang/grove_bench_dist.erl
var erlangModule []byte

// ErlangResult is what Erlang distribution measured between two VMs on
// loopback.
type ErlangResult struct {
	OTP      string // release, such as "25"
	RTTP50us float64
	RTTP99us float64
	SmallMPS float64
	KiBMiBps float64
	BigMiBps float64
}

// ErlangConfig sizes the Erlang runs; zero fields take the defaults.
type ErlangConfig struct {
	RoundTrips    int // default 20,000
	SmallMessages int // default 500,000 (Erlang streams small messages slower than Grove)
	KiBMessages   int // default 200,000
	BigMessages   int // default 4,000
}

func (c ErlangConfig) withDefaults() ErlangConfig {
	if c.RoundTrips <= 0 {
		c.RoundTrips = 20_000
	}
	if c.SmallMessages <= 0 {
		c.SmallMessages = 500_000
	}
	if c.KiBMessages <= 0 {
		c.KiBMessages = 200_000
	}
	if c.BigMessages <= 0 {
		c.BigMessages = 4_000
	}
	return c
}

// ErrNoErlang is returned by RunErlang when erl, erlc or epmd is not on
// the PATH (Debian and Ubuntu: apt-get install erlang-base).
var ErrNoErlang = errors.New("bench: Erlang/OTP not found (erl, erlc and epmd on PATH; Debian: apt-get install erlang-base)")

// RunErlang measures Erlang distribution between two BEAM VMs on loopback:
// it compiles the embedded module, runs a private epmd on a free port (no
// epmd daemon is left behind), a peer VM, and a driving VM that prints the
// figures. Every process it starts is stopped before it returns.
func RunErlang(ctx context.Context, cfg ErlangConfig) (ErlangResult, error) {
	cfg = cfg.withDefaults()
	var res ErlangResult
	tools := map[string]string{}
	for _, t := range []string{"erl", "erlc", "epmd"} {
		p, err := exec.LookPath(t)
		if err != nil {
			return res, ErrNoErlang
		}
		tools[t] = p
	}
	dir, err := os.MkdirTemp("", "grove-bench-erlang")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "grove_bench_dist.erl")
	if err := os.WriteFile(src, erlangModule, 0o600); err != nil {
		return res, err
	}
	if out, err := exec.CommandContext(ctx, tools["erlc"], "-o", dir, src).CombinedOutput(); err != nil {
		return res, fmt.Errorf("bench: erlc: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return res, err
	}
	env := append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port))
	start := func(name string, args ...string) (*exec.Cmd, *bytes.Buffer, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		return cmd, &out, cmd.Start()
	}
	stop := func(cmd *exec.Cmd) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	epmd, epmdOut, err := start(tools["epmd"], "-port", strconv.Itoa(port), "-address", "127.0.0.1")
	if err != nil {
		return res, fmt.Errorf("bench: epmd: %w", err)
	}
	defer stop(epmd)
	if err := waitListening(ctx, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second); err != nil {
		return res, fmt.Errorf("bench: epmd did not start: %w: %s", err, epmdOut)
	}
	cookie := make([]byte, 16)
	rand.Read(cookie)
	suffix := strconv.Itoa(os.Getpid())
	peerName := "grove-bench-b-" + suffix + "@127.0.0.1"
	common := []string{"-noshell", "-setcookie", hex.EncodeToString(cookie), "-pa", dir, "-start_epmd", "false"}
	peer, peerOut, err := start(tools["erl"], append(common, "-name", peerName)...)
	if err != nil {
		return res, fmt.Errorf("bench: erl peer: %w", err)
	}
	defer stop(peer)
	args := append(common, "-name", "grove-bench-a-"+suffix+"@127.0.0.1", "-run", "grove_bench_dist", "main", peerName,
		strconv.Itoa(cfg.RoundTrips), strconv.Itoa(cfg.SmallMessages), strconv.Itoa(cfg.KiBMessages), strconv.Itoa(cfg.BigMessages))
	drv := exec.CommandContext(ctx, tools["erl"], args...)
	drv.Dir, drv.Env = dir, env
	out, err := drv.CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("bench: erl driver: %w: %s (peer: %s)", err, out, peerOut)
	}
	return parseErlang(out)
}

func parseErlang(out []byte) (ErlangResult, error) {
	var res ErlangResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 7 || f[0] != "ERLANG" {
			continue
		}
		res.OTP = f[1]
		dst := []*float64{&res.RTTP50us, &res.RTTP99us, &res.SmallMPS, &res.KiBMiBps, &res.BigMiBps}
		for i, p := range dst {
			v, err := strconv.ParseFloat(f[2+i], 64)
			if err != nil {
				return res, fmt.Errorf("bench: Erlang output %q: %w", sc.Text(), err)
			}
			*p = v
		}
		return res, nil
	}
	return res, fmt.Errorf("bench: no figures in Erlang's output: %s", out)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
