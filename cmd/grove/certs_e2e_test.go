package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/cmd/grove/internal/nodeproc"
	"github.com/grovedev/grove/internal/testutil"
)

// startTLSNode runs `grove node` with the certificates `grove certs` wrote
// for name in dir, and no cookie.
func startTLSNode(t *testing.T, bin, dir, name string, args ...string) *nodeProc {
	t.Helper()
	p, err := nodeproc.Start(context.Background(), bin, append([]string{"-v", "--name", name,
		"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--heartbeat", "100ms",
		"--tls-cert", filepath.Join(dir, name+".pem"), "--tls-key", filepath.Join(dir, name+"-key.pem"),
		"--tls-ca", filepath.Join(dir, "ca.pem")}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return &nodeProc{p}
}

func refusedOfKind(t *testing.T, np *nodeProc, kind string) int {
	t.Helper()
	resp, err := http.Get("http://" + np.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`grove_handshakes_refused_total\{[^}]*kind="` + kind + `"[^}]*\} (\d+)`)
	m := re.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestCertsMakeATLSCluster makes a CA and node certificates with `grove
// certs`, starts two nodes with them and no cookie, and checks that they
// form a cluster while a node whose certificate comes from another CA is
// refused.
func TestCertsMakeATLSCluster(t *testing.T) {
	bin := buildGrove(t)
	dir := filepath.Join(t.TempDir(), "certs")
	out, err := exec.Command(bin, "certs", "--dir", dir, "a@127.0.0.1", "b@127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("grove certs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "created a CA") || !strings.Contains(string(out), "b@127.0.0.1: --tls-cert") {
		t.Fatalf("grove certs said:\n%s", out)
	}
	// A second run reuses the CA and refuses to overwrite a certificate.
	out, err = exec.Command(bin, "certs", "--dir", dir, "a@127.0.0.1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "exists") {
		t.Fatalf("second run over an existing certificate: %v\n%s", err, out)
	}
	other := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command(bin, "certs", "--dir", other, "c@127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("grove certs: %v\n%s", err, out)
	}

	a := startTLSNode(t, bin, dir, "a@127.0.0.1")
	b := startTLSNode(t, bin, dir, "b@127.0.0.1", "--join", a.Addr)
	testutil.Eventually(t, 15*time.Second, func() error {
		ms := a.members(t)
		if ms["a@127.0.0.1"].State != "alive" || ms["b@127.0.0.1"].State != "alive" {
			return fmt.Errorf("members of a: %+v", ms)
		}
		if b.get(t, "/readyz") != 200 {
			return fmt.Errorf("b not ready")
		}
		return nil
	})

	// A node with a certificate of another CA is refused and never joins.
	// It trusts its own CA only, so both sides refuse the other.
	c := startTLSNode(t, bin, other, "c@127.0.0.1", "--join", a.Addr)
	// c verifies a's certificate first (the dialled side's, in TLS) and
	// refuses it; a sees c hang up on it with an alert.
	testutil.Eventually(t, 15*time.Second, func() error {
		if n := refusedOfKind(t, c, "bad_certificate"); n == 0 {
			return fmt.Errorf("c counted no bad certificate yet")
		}
		if n := refusedOfKind(t, a, "refused_by_peer") + refusedOfKind(t, a, "bad_certificate"); n == 0 {
			return fmt.Errorf("a counted no refusal yet")
		}
		return nil
	})
	if _, ok := a.members(t)["c@127.0.0.1"]; ok {
		t.Fatalf("a node of another CA became a member: %+v", a.members(t))
	}
}
