// Package certs makes certificate authorities and node certificates for
// tests, examples and clusters that keep a small CA of their own (`grove
// certs` uses it). The keys are ECDSA P-256. A CA saved with Save keeps its
// private key in a file of mode 0600: guard it, since whoever holds it can
// make certificates for any node name.
//
// # Usage
//
//	ca, err := certs.NewCA("test CA")
//	cert, err := ca.Issue("a@host1")
//	cfg := node.Config{Name: "a@host1", TLS: &node.TLSConfig{
//		Certificate: cert, Roots: ca.Pool()}}
//
// Issue puts the node name in a URI SAN "grove:<name>", the identity a node
// checks in its peer's certificate, plus any
// DNS names and IP addresses passed in IssueOptions. WriteFiles stores a CA
// and node certificates as PEM files for processes started separately.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// CA is a self-signed certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA creates a CA valid for a day.
func NewCA(commonName string) (*CA, error) { return NewCAFor(commonName, 24*time.Hour) }

// NewCAFor creates a CA valid for validity (zero means a day).
func NewCAFor(commonName string, validity time.Duration) (*CA, error) {
	if validity <= 0 {
		validity = 24 * time.Hour
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Pool returns a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// CertPEM returns the CA certificate in PEM.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// IssueOptions adds to a node certificate.
type IssueOptions struct {
	DNSNames []string      // extra DNS SANs, such as "localhost"
	IPs      []net.IP      // extra IP SANs
	Validity time.Duration // zero means a day
	// NoNodeURI leaves out the grove: URI SAN, to make certificates that
	// name no node.
	NoNodeURI bool
}

// Issue returns a certificate and key for node name, usable for both
// server and client authentication.
func (ca *CA) Issue(name string) (tls.Certificate, error) {
	return ca.IssueWith(name, IssueOptions{})
}

// IssueWith is Issue with options.
func (ca *CA) IssueWith(name string, opts IssueOptions) (tls.Certificate, error) {
	certPEM, keyPEM, err := ca.IssuePEM(name, opts)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// IssuePEM returns a node certificate and its key in PEM.
func (ca *CA) IssuePEM(name string, opts IssueOptions) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	validity := opts.Validity
	if validity == 0 {
		validity = 24 * time.Hour
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     opts.DNSNames,
		IPAddresses:  opts.IPs,
	}
	if !opts.NoNodeURI {
		tmpl.URIs = []*url.URL{{Scheme: "grove", Opaque: name}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	return certPEM, keyPEM, nil
}

// WriteFiles writes ca.pem, and <name>.pem and <name>-key.pem for each node
// name, into dir (created if needed). Keys are written with mode 0600.
func (ca *CA) WriteFiles(dir string, names ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM(), 0o644); err != nil {
		return err
	}
	for _, n := range names {
		c, k, err := ca.IssuePEM(n, IssueOptions{})
		if err != nil {
			return fmt.Errorf("certs: %s: %w", n, err)
		}
		if err := os.WriteFile(filepath.Join(dir, n+".pem"), c, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, n+"-key.pem"), k, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}
