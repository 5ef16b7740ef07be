package discovery

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// apiServer is a fake Kubernetes API server over TLS that serves the
// EndpointSlices of one Service, checks the bearer token, and fails as the
// test tells it to.
type apiServer struct {
	srv      *httptest.Server
	dir      string // holds token, ca.crt and namespace
	requests atomic.Int64

	mu struct {
		sync.Mutex
		token  string            // the only token accepted
		slices []json.RawMessage // the Service's slices, one page each when paged
		status int               // when non-zero, every request gets this status
		body   string            // when set, the body of every 200 answer
		paged  bool              // when set, one slice per page
	}
}

const (
	testNS  = "prod"
	testSvc = "grove"
)

func startAPI(t *testing.T) *apiServer {
	t.Helper()
	a := &apiServer{dir: t.TempDir()}
	a.srv = httptest.NewTLSServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(a.dir, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(filepath.Join(a.dir, "namespace"), testNS+"\n"); err != nil {
		t.Fatal(err)
	}
	a.rotate(t, "token-1")
	a.accept("token-1")
	return a
}

func (a *apiServer) serve(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	status := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"code":%d}`, msg, code)
	}
	if r.Header.Get("Authorization") != "Bearer "+a.mu.token {
		status(http.StatusUnauthorized, "Unauthorized")
		return
	}
	if r.URL.Path != "/apis/discovery.k8s.io/v1/namespaces/"+testNS+"/endpointslices" {
		status(http.StatusNotFound, "no such path "+r.URL.Path)
		return
	}
	if sel := r.URL.Query().Get("labelSelector"); sel != "kubernetes.io/service-name="+testSvc {
		status(http.StatusBadRequest, "unexpected selector "+sel)
		return
	}
	if a.mu.status != 0 {
		status(a.mu.status, http.StatusText(a.mu.status))
		return
	}
	if a.mu.body != "" {
		w.Write([]byte(a.mu.body))
		return
	}
	items := a.mu.slices
	cont := ""
	if a.mu.paged && len(items) > 0 {
		i := 0
		if c := r.URL.Query().Get("continue"); c != "" {
			i, _ = strconv.Atoi(c)
		}
		if i+1 < len(items) {
			cont = strconv.Itoa(i + 1)
		}
		items = items[i : i+1]
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	json.NewEncoder(w).Encode(map[string]any{
		"kind":       "EndpointSliceList",
		"apiVersion": "discovery.k8s.io/v1",
		"metadata":   map[string]any{"resourceVersion": "1", "continue": cont},
		"items":      items,
	})
}

// rotate writes a new token into the token file.
func (a *apiServer) rotate(t *testing.T, token string) {
	t.Helper()
	if err := writeFile(filepath.Join(a.dir, "token"), token); err != nil {
		t.Fatal(err)
	}
}

// accept makes the server accept only token.
func (a *apiServer) accept(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mu.token = token
}

func (a *apiServer) setSlices(s ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mu.slices = nil
	for _, x := range s {
		a.mu.slices = append(a.mu.slices, json.RawMessage(x))
	}
}

func (a *apiServer) fail(status int, body string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mu.status, a.mu.body = status, body
}

func (a *apiServer) config() KubernetesConfig {
	return KubernetesConfig{
		Service:       testSvc,
		APIServer:     a.srv.URL,
		TokenFile:     filepath.Join(a.dir, "token"),
		CAFile:        filepath.Join(a.dir, "ca.crt"),
		NamespaceFile: filepath.Join(a.dir, "namespace"),
	}
}

func newKube(t *testing.T, cfg KubernetesConfig) *Kubernetes {
	t.Helper()
	k, err := NewKubernetes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// slice writes an EndpointSlice; each endpoint is "IP" (ready unset),
// "IP+" (ready) or "IP-" (not ready).
func slice(addrType, ports string, endpoints ...string) string {
	var eps []string
	for _, e := range endpoints {
		cond := `{}`
		switch {
		case strings.HasSuffix(e, "+"):
			e, cond = strings.TrimSuffix(e, "+"), `{"ready":true,"serving":true,"terminating":false}`
		case strings.HasSuffix(e, "-"):
			e, cond = strings.TrimSuffix(e, "-"), `{"ready":false,"serving":true,"terminating":true}`
		}
		eps = append(eps, fmt.Sprintf(`{"addresses":[%q],"conditions":%s,"targetRef":{"kind":"Pod","name":"p"},"nodeName":"n1"}`, e, cond))
	}
	return fmt.Sprintf(`{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"grove-%s","labels":{"kubernetes.io/service-name":"grove"}},"addressType":%q,"endpoints":[%s],"ports":%s}`,
		addrType, addrType, strings.Join(eps, ","), ports)
}

const distPorts = `[{"name":"http","protocol":"TCP","port":8080},{"name":"dist","protocol":"TCP","port":4370}]`

func TestKubernetesReadyEndpoints(t *testing.T) {
	t.Parallel()
	api := startAPI(t)
	api.setSlices(
		slice("IPv4", distPorts, "10.0.0.1+", "10.0.0.2-", "10.0.0.3"),
		slice("IPv4", distPorts, "10.0.1.1+", "not-an-ip+", "fd00::9+"),
		slice("IPv6", distPorts, "fd00::1+", "fd00::2-"),
		slice("FQDN", distPorts, "grove.example.com+"),
		slice("IPv4", `[{"name":"http","port":8080}]`, "10.0.2.1+"), // no "dist" port
	)
	cfg := api.config()
	cfg.PortName = "dist"
	cfg.NodeBasename = "grove"
	k := newKube(t, cfg)
	got, err := k.Discover(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []Peer{
		{Name: "grove@10.0.0.1", Addr: "10.0.0.1:4370"},
		{Name: "grove@10.0.0.3", Addr: "10.0.0.3:4370"},
		{Name: "grove@10.0.1.1", Addr: "10.0.1.1:4370"},
		{Name: "grove@fd00::1", Addr: "[fd00::1]:4370"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}

	// A fixed port overrides the slices' ports; without either, the first TCP port.
	cfg = api.config()
	cfg.Port = 9000
	if got, err := newKube(t, cfg).Discover(ctxT(t)); err != nil || len(got) != 5 || got[0].Addr != "10.0.0.1:9000" {
		t.Fatalf("fixed port: %v, %v", got, err)
	}
	if got, err := newKube(t, api.config()).Discover(ctxT(t)); err != nil || len(got) != 5 || got[0].Addr != "10.0.0.1:8080" || got[0].Name != "" {
		t.Fatalf("first port: %v, %v", got, err)
	}
}

func TestKubernetesPages(t *testing.T) {
	t.Parallel()
	api := startAPI(t)
	api.mu.paged = true
	api.setSlices(
		slice("IPv4", distPorts, "10.0.0.1+"),
		slice("IPv4", distPorts, "10.0.0.2+"),
		slice("IPv4", distPorts, "10.0.0.3+"),
	)
	cfg := api.config()
	cfg.Port = 4370
	cfg.PageSize = 1
	got, err := newKube(t, cfg).Discover(ctxT(t))
	if err != nil || !slices.Equal(addrs(got), []string{"10.0.0.1:4370", "10.0.0.2:4370", "10.0.0.3:4370"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if n := api.requests.Load(); n != 3 {
		t.Fatalf("%d requests; want 3 pages", n)
	}
}

// TestPollerKubernetesTokenRotation rotates the token: the server rejects
// the old one before the file changes (an error, peers kept), and the
// strategy picks up the new file without being rebuilt.
func TestPollerKubernetesTokenRotation(t *testing.T) {
	t.Parallel()
	api := startAPI(t)
	api.setSlices(slice("IPv4", distPorts, "10.0.0.1+", "10.0.0.2+"))
	cfg := api.config()
	cfg.Port = 4370
	p, _ := newTestPoller(t, newKube(t, cfg), PollerConfig{})
	ctx := ctxT(t)
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1:4370", "10.0.0.2:4370"}
	if got := addrs(p.Peers()); !slices.Equal(got, want) {
		t.Fatalf("peers %v", got)
	}

	api.accept("token-2") // the old token is revoked before the kubelet writes the new one
	var apiErr *APIError
	if err := p.Refresh(ctx); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || !errors.Is(err, ErrKubernetes) {
		t.Fatalf("Refresh with a revoked token: %v; want an APIError 401", err)
	}
	if got := addrs(p.Peers()); !slices.Equal(got, want) {
		t.Fatalf("after a 401: peers %v; want %v kept", got, want)
	}

	api.rotate(t, "token-2\n")
	api.setSlices(slice("IPv4", distPorts, "10.0.0.3+"))
	if err := p.Refresh(ctx); err != nil {
		t.Fatalf("Refresh after rotation: %v", err)
	}
	want = append(want, "10.0.0.3:4370")
	if got := addrs(p.Peers()); !slices.Equal(got, want) {
		t.Fatalf("after rotation: peers %v; want %v", got, want)
	}
}

// TestPollerKubernetesErrorsKeepPeers: a 403 (missing RBAC), a 500, a
// malformed answer and an empty list never remove a peer.
func TestPollerKubernetesErrorsKeepPeers(t *testing.T) {
	t.Parallel()
	api := startAPI(t)
	api.setSlices(slice("IPv4", distPorts, "10.0.0.1+"), slice("IPv4", distPorts, "10.0.0.2+"))
	cfg := api.config()
	cfg.PortName = "dist"
	p, rec := newTestPoller(t, newKube(t, cfg), PollerConfig{})
	ctx := ctxT(t)
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1:4370", "10.0.0.2:4370"}
	nUpdates := len(rec.all())
	for _, tc := range []struct {
		name   string
		status int
		body   string
		code   int // APIError status code, 0 for a decoding error
	}{
		{"403", http.StatusForbidden, "", 403},
		{"500", http.StatusInternalServerError, "", 500},
		{"503", http.StatusServiceUnavailable, "", 503},
		{"malformed JSON", 0, `{"kind":"EndpointSliceList","items":[{"endpoints":`, 0},
		{"HTML", 0, `<html>proxy error</html>`, 0},
		{"no items", 0, `{"kind":"EndpointSliceList","metadata":{}}`, 0},
		{"wrong kind", 0, `{"kind":"Status","items":[]}`, 0},
		{"trailing data", 0, `{"kind":"EndpointSliceList","items":[]} {}`, 0},
	} {
		api.fail(tc.status, tc.body)
		before := p.Stats().Errors
		err := p.Refresh(ctx)
		if !errors.Is(err, ErrKubernetes) {
			t.Fatalf("%s: Refresh returned %v; want ErrKubernetes", tc.name, err)
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) != (tc.code != 0) || (tc.code != 0 && apiErr.StatusCode != tc.code) {
			t.Fatalf("%s: error %v; want APIError code %d", tc.name, err, tc.code)
		}
		if got := addrs(p.Peers()); !slices.Equal(got, want) {
			t.Fatalf("%s: peers %v; want %v kept", tc.name, got, want)
		}
		if p.Stats().Errors != before+1 {
			t.Fatalf("%s: error not counted", tc.name)
		}
	}
	api.fail(0, "")
	api.setSlices()
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := addrs(p.Peers()); !slices.Equal(got, want) || p.Stats().EmptyAnswers != 1 {
		t.Fatalf("empty list: peers %v, stats %+v; want %v kept and one empty answer", got, p.Stats(), want)
	}
	if n := len(rec.all()); n != nUpdates {
		t.Fatalf("%d updates after errors; want none", n-nUpdates)
	}
	api.setSlices(slice("IPv4", distPorts, "10.0.0.3-", "10.0.0.4+"))
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := addrs(rec.last().Added); !slices.Equal(got, []string{"10.0.0.4:4370"}) {
		t.Fatalf("added %v; want the new ready endpoint only", got)
	}
}

func TestKubernetesAPIErrorMessage(t *testing.T) {
	t.Parallel()
	api := startAPI(t)
	api.fail(http.StatusForbidden, "")
	_, err := newKube(t, api.config()).Discover(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "HTTP 403: Forbidden") {
		t.Fatalf("error %v; want the status and the server's message", err)
	}
}

// TestKubernetesInClusterDefaults finds the API server from the environment
// and the namespace from the service account's file.
func TestKubernetesInClusterDefaults(t *testing.T) {
	api := startAPI(t)
	api.setSlices(slice("IPv4", distPorts, "10.0.0.1+"))
	u, err := url.Parse(api.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(u.Host)
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)
	cfg := api.config()
	cfg.APIServer = ""
	k := newKube(t, cfg)
	if got, err := k.Discover(ctxT(t)); err != nil || len(got) != 1 {
		t.Fatalf("got %v, %v", got, err)
	}
	if k.cfg.Namespace != testNS {
		t.Fatalf("namespace %q; want %q from the file", k.cfg.Namespace, testNS)
	}

	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := NewKubernetes(cfg); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "KUBERNETES_SERVICE_HOST") {
		t.Fatalf("outside a pod: %v", err)
	}
}

func TestKubernetesUntrustedServer(t *testing.T) {
	t.Parallel()
	api := startAPI(t)
	cfg := api.config()
	cfg.CAFile = filepath.Join(t.TempDir(), "other-ca.crt")
	if err := os.WriteFile(cfg.CAFile, selfSignedPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := newKube(t, cfg).Discover(ctxT(t))
	if !errors.Is(err, ErrKubernetes) || api.requests.Load() != 0 {
		t.Fatalf("got %v after %d requests; want a TLS error before any request", err, api.requests.Load())
	}
}

func TestKubernetesConfigErrors(t *testing.T) {
	t.Parallel()
	api := startAPI(t)
	dir := t.TempDir()
	for name, mod := range map[string]func(*KubernetesConfig){
		"no service":       func(c *KubernetesConfig) { c.Service = "" },
		"bad service":      func(c *KubernetesConfig) { c.Service = "Grove" },
		"bad namespace":    func(c *KubernetesConfig) { c.Namespace = "-x" },
		"port and name":    func(c *KubernetesConfig) { c.Port, c.PortName = 1, "dist" },
		"bad port":         func(c *KubernetesConfig) { c.Port = -1 },
		"bad port name":    func(c *KubernetesConfig) { c.PortName = "123" },
		"bad API server":   func(c *KubernetesConfig) { c.APIServer = "ftp://x" },
		"missing CA":       func(c *KubernetesConfig) { c.CAFile = filepath.Join(dir, "none") },
		"CA not PEM":       func(c *KubernetesConfig) { c.CAFile = c.NamespaceFile },
		"missing ns file":  func(c *KubernetesConfig) { c.NamespaceFile = filepath.Join(dir, "none") },
		"negative limit":   func(c *KubernetesConfig) { c.MaxResponseBytes = -1 },
		"negative pages":   func(c *KubernetesConfig) { c.PageSize = -1 },
		"bad basename":     func(c *KubernetesConfig) { c.NodeBasename = "a b" },
		"bad ns from file": func(c *KubernetesConfig) { c.NamespaceFile = c.CAFile },
	} {
		cfg := api.config()
		mod(&cfg)
		if k, err := NewKubernetes(cfg); !errors.Is(err, ErrInvalidConfig) {
			if k != nil {
				k.Close()
			}
			t.Errorf("%s: NewKubernetes error %v; want ErrInvalidConfig", name, err)
		}
	}
	// A missing or empty token file is an error of Discover, not of New: the
	// kubelet may write it later.
	cfg := api.config()
	cfg.TokenFile = filepath.Join(dir, "token")
	k := newKube(t, cfg)
	if _, err := k.Discover(ctxT(t)); !errors.Is(err, ErrKubernetes) {
		t.Fatalf("missing token: %v", err)
	}
	if err := writeFile(cfg.TokenFile, "\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Discover(ctxT(t)); !errors.Is(err, ErrKubernetes) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty token: %v", err)
	}
}

func TestKubernetesResponseLimit(t *testing.T) {
	t.Parallel()
	api := startAPI(t)
	api.setSlices(slice("IPv4", distPorts, "10.0.0.1+", "10.0.0.2+", "10.0.0.3+"))
	cfg := api.config()
	cfg.MaxResponseBytes = 100
	if _, err := newKube(t, cfg).Discover(ctxT(t)); !errors.Is(err, ErrKubernetes) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized answer: %v", err)
	}
}

// selfSignedPEM returns a fresh self-signed CA certificate, one that signed
// nothing the test servers present.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "other CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestKubernetesContext(t *testing.T) {
	t.Parallel()
	hung := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	}))
	t.Cleanup(hung.Close)
	api := startAPI(t) // for its CA and token files; httptest servers share one certificate
	cfg := api.config()
	cfg.APIServer = hung.URL
	k := newKube(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := k.Discover(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrKubernetes) {
		t.Fatalf("Discover = %v; want ErrKubernetes wrapping the context's error", err)
	}
}
