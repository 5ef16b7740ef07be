package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/flood"
	"github.com/grovedev/grove/internal/testutil"
)

// Flood figures of `grove node`, checked by TestFloodOnEveryPort and quoted
// in the README: under thousands of unauthenticated connections on each of
// its three ports the node's resident memory grows by at most
// floodRSSCeiling and its open files stay under floodFDCeiling (the caps:
// 256 handshakes on the listen port, 256 on the gossip port, 512 admin
// connections, plus its own links and files).
const (
	floodRSSCeiling = 64 << 20
	floodFDCeiling  = 1200
)

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// TestMain removes the binary the process tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildGrove builds the grove binary once for the package's tests.
func buildGrove(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "grove-e2e-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "grove")
		out, err := exec.Command("go", "build", "-o", built.bin, "github.com/grovedev/grove/cmd/grove").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// groveProc is a `grove node` OS process.
type groveProc struct {
	cmd                       *exec.Cmd
	addr, admin, gossip, name string
	lines                     atomic.Int64 // lines logged
	exited                    chan struct{}
	err                       error

	mu  sync.Mutex
	log []string // the last lines logged
}

var startedLine = regexp.MustCompile(`msg="node started" name=(\S+) addr=(\S+) admin=(\S+) gossip=(\S+)`)

// startGrove runs `grove node args...` and returns once it has said where
// it listens; the process is killed when the test ends.
func startGrove(t *testing.T, bin string, args ...string) *groveProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"node"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &groveProc{cmd: cmd, exited: make(chan struct{})}
	found := make(chan []string, 1)
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.lines.Add(1)
			p.mu.Lock()
			if len(p.log) == 200 {
				p.log = p.log[100:]
			}
			p.log = append(p.log, sc.Text())
			p.mu.Unlock()
			if m := startedLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			}
		}
		io.Copy(io.Discard, stderr)
		p.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	select {
	case m := <-found:
		p.name, p.addr, p.admin, p.gossip = m[1], m[2], m[3], m[4]
	case <-p.exited:
		t.Fatalf("grove node exited at start: %v\n%s", p.err, p.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("grove node did not start\n%s", p.logs())
	}
	return p
}

func (p *groveProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log, "\n")
}

// statusKB reads a field in kB of /proc/<pid>/status, as bytes.
func statusKB(pid int, field string) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// openFiles counts the process's open file descriptors.
func openFiles(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	return len(ents)
}

var floodClient = &http.Client{Timeout: 20 * time.Second}

// adminGet fetches path from p's admin API with the bearer token.
func (p *groveProc) adminGet(path string) (int, []byte, error) {
	req, _ := http.NewRequest("GET", "http://"+p.admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := floodClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// memberStates returns the members' states as p sees them.
func (p *groveProc) memberStates() (map[string]string, error) {
	code, b, err := p.adminGet("/v1/members")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("/v1/members: %d %s", code, b)
	}
	var ms []struct{ Name, State string }
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.Name] = m.State
	}
	return out, nil
}

// metrics reads p's /metrics and sums the samples of each metric over
// its label sets.
func (p *groveProc) metrics() (map[string]float64, error) {
	code, b, err := p.adminGet("/metrics")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("/metrics: %d", code)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(f[0], "{")
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		out[name] += v
	}
	return out, nil
}

// TestFloodOnEveryPort floods every port a real `grove node` process
// listens on — node links, gossip and the admin API — over real TCP, with
// connections that stay idle, that start a handshake (or an HTTP request)
// and stall in its middle, and that keep sending junk, from 200 loopback
// addresses, each redialed as soon as the node closes it. Meanwhile the
// node's resident memory and open files stay under the documented
// ceilings, its log stays quiet, its health endpoint answers, the floods
// are counted in /metrics, and a second `grove node` joins it.
// GROVE_FLOOD_CONNS sets the connections per kind and port (default 700),
// GROVE_FLOOD_SOURCES the addresses they come from (default 200).
func TestFloodOnEveryPort(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a grove node process with thousands of connections")
	}
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux: the flood dials from all of 127.0.0.0/8 and reads /proc")
	}
	perKind := 700
	if v, err := strconv.Atoi(os.Getenv("GROVE_FLOOD_CONNS")); err == nil && v > 0 {
		perKind = v
	}
	bin := buildGrove(t)
	common := []string{"--listen", "127.0.0.1:0", "--gossip", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--cookie", "flood-test-cookie", "--admin-token", adminToken}
	victim := startGrove(t, bin, append([]string{"--name", "victim@127.0.0.1"}, common...)...)
	pid := victim.cmd.Process.Pid
	time.Sleep(500 * time.Millisecond) // let it settle before the baseline
	baseRSS, baseFDs, baseLines := statusKB(pid, "VmRSS"), openFiles(pid), victim.lines.Load()

	handshakeStall := []byte{0x01, 0xff, 1, 'G', 'R', 'V', 'H'} // a 511-byte handshake message announced, 5 bytes sent
	httpStall := []byte("GET /v1/status HTTP/1.1\r\nHost: grove\r\nX-Slow: ")
	nsources := 200
	if v, err := strconv.Atoi(os.Getenv("GROVE_FLOOD_SOURCES")); err == nil && v > 0 {
		nsources = v
	}
	sources := flood.Loopbacks(nsources)
	var floods []*flood.Flood
	defer func() {
		for _, f := range floods {
			f.Close()
		}
	}()
	for _, port := range []struct{ addr, stall string }{
		{victim.addr, "handshake"}, {victim.gossip, "handshake"}, {victim.admin, "http"},
	} {
		prefix := handshakeStall
		if port.stall == "http" {
			prefix = httpStall
		}
		for _, cfg := range []flood.Config{
			{Mode: flood.Idle},
			{Mode: flood.Prefix, Prefix: prefix},
			{Mode: flood.Junk},
		} {
			cfg.Addr, cfg.Conns, cfg.Sources, cfg.Redial, cfg.Every = port.addr, perKind, sources, 100*time.Millisecond, 50*time.Millisecond
			floods = append(floods, flood.Start(cfg))
		}
	}

	var peakRSS uint64
	var peakFDs int
	sample := func() {
		peakRSS = max(peakRSS, statusKB(pid, "VmRSS"))
		peakFDs = max(peakFDs, openFiles(pid))
	}
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				sample()
			}
		}
	})
	defer func() {
		select {
		case <-stopSampling:
		default:
			close(stopSampling)
		}
		sampler.Wait()
	}()

	// Every flooding connection has been dialed at least once.
	floodStart := time.Now()
	testutil.Eventually(t, 60*time.Second, func() error {
		for i, f := range floods {
			if d := f.Stats().Dialed.Load(); d < int64(perKind) {
				return fmt.Errorf("flood %d: %d of %d connections dialed", i, d, perKind)
			}
		}
		return nil
	})
	t.Logf("%d flooding connections dialed in %v", 9*perKind, time.Since(floodStart).Round(time.Millisecond))

	// A legitimate node joins meanwhile, through the flooded ports.
	joinStart := time.Now()
	joiner := startGrove(t, bin, append([]string{"--name", "joiner@127.0.0.1", "--join", victim.addr}, common...)...)
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, p := range []*groveProc{victim, joiner} {
			ms, err := p.memberStates()
			if err != nil {
				return fmt.Errorf("%s: %v", p.name, err)
			}
			if ms["victim@127.0.0.1"] != "alive" || ms["joiner@127.0.0.1"] != "alive" {
				return fmt.Errorf("%s sees %v", p.name, ms)
			}
		}
		return nil
	})
	joined := time.Since(joinStart)
	t.Logf("a node joined in %v", joined.Round(time.Millisecond))
	// The health endpoint answers under the flood, on new connections
	// (which wait behind the flood's in the listen queue).
	var slowest time.Duration
	for range 3 {
		asked := time.Now()
		resp, err := (&http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + victim.admin + "/healthz")
		if err != nil {
			t.Fatalf("/healthz under the flood: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/healthz under the flood: %d", resp.StatusCode)
		}
		slowest = max(slowest, time.Since(asked))
	}
	t.Logf("/healthz answered under the flood within %v", slowest.Round(time.Millisecond))

	var dialed, closed int64
	for _, f := range floods {
		dialed += f.Stats().Dialed.Load()
		closed += f.Stats().Closed.Load()
	}
	floodFor := time.Since(floodStart)
	floodLines := victim.lines.Load() - baseLines
	all, err := victim.metrics()
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]float64{}
	for _, m := range []string{"grove_handshakes_refused_total", "grove_gossip_auth_refused_total",
		"grove_gossip_auth_timeouts_total", "grove_gossip_conns_refused_total", "grove_gossip_conns_evicted_total",
		"grove_admin_conns_refused_total", "grove_admin_conns_evicted_total"} {
		counted[m] = all[m]
	}
	t.Logf("health and metrics read after %v of flood", time.Since(floodStart).Round(time.Millisecond))
	close(stopSampling)
	sampler.Wait()
	t.Logf("flood of %v: %d connections dialed, %d closed by the node; its RSS %.1f → peak %.1f MiB (+%.1f), open files %d → peak %d; a node joined in %v; %d log lines",
		floodFor.Round(time.Millisecond), dialed, closed, mib(baseRSS), mib(peakRSS), mib(peakRSS-min(peakRSS, baseRSS)),
		baseFDs, peakFDs, joined.Round(time.Millisecond), floodLines)
	t.Logf("counted: %v", counted)

	if peakRSS > baseRSS+floodRSSCeiling {
		t.Errorf("RSS grew from %.1f to %.1f MiB under the flood (ceiling +%d MiB)", mib(baseRSS), mib(peakRSS), floodRSSCeiling>>20)
	}
	if peakFDs > floodFDCeiling {
		t.Errorf("%d open files under the flood (ceiling %d)", peakFDs, floodFDCeiling)
	}
	if counted["grove_handshakes_refused_total"] == 0 {
		t.Errorf("the listen port's refusals are not counted: %v", counted)
	}
	if counted["grove_gossip_auth_refused_total"]+counted["grove_gossip_auth_timeouts_total"]+counted["grove_gossip_conns_refused_total"]+counted["grove_gossip_conns_evicted_total"] == 0 {
		t.Errorf("the gossip port's refusals are not counted: %v", counted)
	}
	if counted["grove_admin_conns_refused_total"]+counted["grove_admin_conns_evicted_total"] == 0 {
		t.Errorf("the admin API's refusals are not counted: %v", counted)
	}
	// A few lines a second per kind of refusal, whatever the flood's rate.
	if limit := int64(40 * floodFor.Seconds()); floodLines > limit {
		t.Errorf("%d log lines in %v of flood (at most %d expected)\n%s", floodLines, floodFor, limit, victim.logs())
	}

	// Both stop cleanly once the flood is over.
	for _, f := range floods {
		f.Close()
	}
	floods = nil
	for _, p := range []*groveProc{victim, joiner} {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range []*groveProc{victim, joiner} {
		select {
		case <-p.exited:
			if p.err != nil {
				t.Errorf("%s after SIGTERM: %v\n%s", p.name, p.err, p.logs())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop within 20 s of SIGTERM", p.name)
		}
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
