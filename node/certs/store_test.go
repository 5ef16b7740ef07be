package certs

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSaveLoadAndIssue(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCAFor("cluster CA", 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := ca.Save(dir); err == nil {
		t.Fatal("Save overwrote a CA key")
	}
	if fi, err := os.Stat(filepath.Join(dir, CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key file: %v %v", fi.Mode(), err)
	}
	loaded, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.WriteNode(dir, "a@10.0.0.1", IssueOptions{Validity: 30 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	cf, kf := NodeFiles("a@10.0.0.1")
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, cf), filepath.Join(dir, kf))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("certificate of the loaded CA does not verify against the original: %v", err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "grove:a@10.0.0.1" {
		t.Fatalf("URIs %v", leaf.URIs)
	}
	if d := time.Until(leaf.NotAfter); d < 29*24*time.Hour {
		t.Fatalf("validity %v", d)
	}
	// A key that belongs to another CA is refused.
	other, _ := NewCA("other")
	dir2 := t.TempDir()
	other.Save(dir2)
	os.WriteFile(filepath.Join(dir2, CAFile), ca.CertPEM(), 0o644)
	if _, err := LoadCA(dir2); err == nil {
		t.Fatal("mismatched CA key accepted")
	}
}
