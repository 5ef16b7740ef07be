package agent

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/node/certs"
)

func TestAdminAuthValidate(t *testing.T) {
	for _, c := range []struct {
		addr string
		auth AdminAuthConfig
		ok   bool
	}{
		{"127.0.0.1:4371", AdminAuthConfig{}, true},
		{"[::1]:4371", AdminAuthConfig{}, true},
		{"localhost:4371", AdminAuthConfig{}, true},
		{"", AdminAuthConfig{}, true}, // disabled
		{"0.0.0.0:4371", AdminAuthConfig{}, false},
		{":4371", AdminAuthConfig{}, false},
		{"10.0.0.5:4371", AdminAuthConfig{}, false},
		{"0.0.0.0:4371", AdminAuthConfig{Token: "t"}, true},
		{"0.0.0.0:4371", AdminAuthConfig{TokenFile: "/f"}, true},
		{"0.0.0.0:4371", AdminAuthConfig{TLSCert: "c", TLSKey: "k"}, false}, // HTTPS alone authenticates nobody
		{"0.0.0.0:4371", AdminAuthConfig{TLSCert: "c", TLSKey: "k", ClientCA: "ca"}, true},
		{"127.0.0.1:4371", AdminAuthConfig{Token: "t", TokenFile: "/f"}, false},
		{"127.0.0.1:4371", AdminAuthConfig{TLSCert: "c"}, false},
		{"127.0.0.1:4371", AdminAuthConfig{ClientCA: "ca"}, false},
	} {
		err := c.auth.Validate(c.addr)
		if (err == nil) != c.ok {
			t.Errorf("%s %+v: %v", c.addr, c.auth, err)
		}
	}
	// From the environment.
	cfg, err := parse(t, []string{"--name", "a@h", "--cookie", "c", "--admin", "0.0.0.0:4371"}, map[string]string{"GROVE_ADMIN_TOKEN_FILE": "/run/secrets/token"})
	if err != nil || cfg.AdminAuth.TokenFile != "/run/secrets/token" || cfg.Validate() != nil {
		t.Fatalf("%+v %v", cfg.AdminAuth, err)
	}
	cfg, _ = parse(t, []string{"--name", "a@h", "--cookie", "c", "--admin", "0.0.0.0:4371"}, nil)
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "GROVE_ADMIN_TOKEN") {
		t.Fatalf("unauthenticated admin on all interfaces: %v", err)
	}
}

func startWithAdmin(t *testing.T, auth AdminAuthConfig) *Agent {
	t.Helper()
	a, err := Start(context.Background(), Config{
		Name: "adm@127.0.0.1", Listen: "127.0.0.1:0", Gossip: "127.0.0.1:0", Admin: "127.0.0.1:0", Cookie: "c",
		ShutdownTTL: 5 * time.Second, AdminAuth: auth,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	return a
}

func fetch(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	os.WriteFile(file, []byte("s3cret-token\n"), 0o600)
	a := startWithAdmin(t, AdminAuthConfig{TokenFile: file})
	base := "http://" + a.AdminAddr()
	c := &http.Client{Timeout: 5 * time.Second}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := fetch(t, c, base+p, ""); code != 200 {
			t.Errorf("%s without a token: %d", p, code)
		}
	}
	for _, p := range []string{"/v1/status", "/v1/members", "/metrics", "/v1/pg"} {
		for _, tok := range []string{"", "wrong", "s3cret-token-and-more"} {
			if code, _ := fetch(t, c, base+p, tok); code != http.StatusUnauthorized {
				t.Errorf("%s with token %q: %d", p, tok, code)
			}
		}
		if code, _ := fetch(t, c, base+p, "s3cret-token"); code != 200 {
			t.Errorf("%s with the token: %d", p, code)
		}
	}
	_, body := fetch(t, c, base+"/metrics", "s3cret-token")
	for _, want := range []string{"go_goroutines", "process_resident_memory_bytes", "grove_admin_unauthorized_total", "grove_gossip_auth_refused_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if a.adminSec.Unauthorized.Load() < 12 {
		t.Errorf("unauthorized counted %d", a.adminSec.Unauthorized.Load())
	}
}

func TestAdminMutualTLS(t *testing.T) {
	ca, err := certs.NewCA("admin")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := certs.NewCA("other")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	srvCert, srvKey, err := ca.IssuePEM("adm@127.0.0.1", certs.IssueOptions{IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	a := startWithAdmin(t, AdminAuthConfig{
		TLSCert: write("srv.pem", srvCert), TLSKey: write("srv-key.pem", srvKey), ClientCA: write("ca.pem", ca.CertPEM()),
	})
	base := "https://" + a.AdminAddr()
	client := func(issuer *certs.CA) *http.Client {
		tc := &tls.Config{RootCAs: ca.Pool()}
		if issuer != nil {
			cert, err := issuer.Issue("operator@ops")
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	if code, _ := fetch(t, client(ca), base+"/v1/status", ""); code != 200 {
		t.Errorf("with a client certificate: %d", code)
	}
	if code, _ := fetch(t, client(nil), base+"/v1/status", ""); code != http.StatusUnauthorized {
		t.Errorf("without a client certificate: %d", code)
	}
	if code, _ := fetch(t, client(nil), base+"/healthz", ""); code != 200 {
		t.Errorf("/healthz without a client certificate: %d", code)
	}
	// A certificate of another CA, presented anyway, fails the TLS
	// handshake.
	cert, _ := other.Issue("intruder@x")
	forced := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:              ca.Pool(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
	}}}
	req, _ := http.NewRequest("GET", base+"/v1/status", nil)
	if resp, err := forced.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("a certificate of another CA: %d", resp.StatusCode)
	}
}

// TestAdminIdleConnectionsClosed: a connection that sends no request is
// closed after the read-header timeout, and an idle keep-alive after the
// idle timeout is not kept forever either.
func TestAdminIdleConnectionsClosed(t *testing.T) {
	t.Parallel()
	a := startWithAdmin(t, AdminAuthConfig{})
	conn, err := net.Dial("tcp", a.AdminAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(adminReadHeaderTimeout + 5*time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server sent something to a silent client")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("a silent connection still open after %v", time.Since(start))
	}
	t.Logf("a silent connection was closed after %v", time.Since(start).Round(100*time.Millisecond))
	if a.admin.ReadTimeout == 0 || a.admin.WriteTimeout == 0 || a.admin.IdleTimeout == 0 || a.admin.MaxHeaderBytes == 0 {
		t.Fatalf("server limits %+v", a.admin)
	}
}
