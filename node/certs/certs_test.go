package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/grovedev/grove/node/certs"
	"github.com/grovedev/grove/node/internal/handshake"
)

func TestIssueAndVerify(t *testing.T) {
	ca, err := certs.NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueWith("a@host", certs.IssueOptions{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if name, err := handshake.CertName(leaf); err != nil || name != "a@host" {
		t.Fatalf("node name %q: %v", name, err)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "localhost" {
		t.Fatalf("DNS names %v", leaf.DNSNames)
	}
}

func TestWriteFiles(t *testing.T) {
	ca, err := certs.NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ca.WriteFiles(dir, "a@h1", "b@h2"); err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "b@h2.pem"), filepath.Join(dir, "b@h2-key.pem")); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem does not parse")
	}
	if fi, err := os.Stat(filepath.Join(dir, "a@h1-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
}
