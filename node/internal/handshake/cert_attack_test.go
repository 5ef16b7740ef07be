package handshake_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/grovedev/grove/node/certs"
	"github.com/grovedev/grove/node/internal/handshake"
)

// rawCert signs tmpl with issuer and returns the certificate (with the
// chain given after it) and its key as a tls.Certificate; the template's
// defaults are those of a good node certificate.
func rawCert(t *testing.T, issuer *x509.Certificate, issuerKey any, tmpl *x509.Certificate, chain ...[]byte) (tls.Certificate, *x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sn, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = sn
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if tmpl.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: append([][]byte{der}, chain...), PrivateKey: key, Leaf: leaf}, leaf, key
}

func groveURIs(names ...string) []*url.URL {
	var us []*url.URL
	for _, n := range names {
		us = append(us, handshake.NodeURI(n))
	}
	return us
}

func certCfg(name string, cert tls.Certificate, trust *certs.CA) *handshake.Config {
	return &handshake.Config{Name: name, Creation: 9, Timeout: 2 * time.Second,
		TLS: &handshake.TLSConfig{Certificate: cert, Roots: trust.Pool()}}
}

// wantCertRefused checks that the side that checked the bad certificate
// refused it, and the other side learned only that it was refused.
// wantCertRefused checks that the checker refused the holder's
// certificate and the holder was told. A holder that accepted the
// connection may instead see the dialler hang up (ErrHungUp): when the
// dialler refuses after TLS completed, its close can meet the server's
// next write before the server reads the refusal, and the server cannot
// tell that from any other dialler going away.
func wantCertRefused(t *testing.T, holder, checker result, holderAccepted bool) {
	t.Helper()
	if holder.err == nil || checker.err == nil {
		t.Fatalf("a bad certificate was accepted: holder %v, checker %v", holder.err, checker.err)
	}
	if !errors.Is(checker.err, handshake.ErrUntrustedCert) && !errors.Is(checker.err, handshake.ErrNameMismatch) {
		t.Fatalf("checker: %v, want an untrusted certificate or a name mismatch", checker.err)
	}
	if !errors.Is(holder.err, handshake.ErrRefused) && !(holderAccepted && errors.Is(holder.err, handshake.ErrHungUp)) {
		t.Fatalf("holder: %v, want ErrRefused", holder.err)
	}
}

// TestBadNodeCertificates presents, on either side, certificates signed by
// the trusted CA that must still not identify a node.
func TestBadNodeCertificates(t *testing.T) {
	p := newPKI(t)
	root, rootKey := p.ca.Cert, p.ca.Key
	now := time.Now()
	cases := []struct {
		name string
		make func(t *testing.T, node string) tls.Certificate
	}{
		{"two node names", func(t *testing.T, node string) tls.Certificate {
			c, _, _ := rawCert(t, root, rootKey, &x509.Certificate{Subject: pkix.Name{CommonName: node}, URIs: groveURIs(node, "other")})
			return c
		}},
		{"the same name twice", func(t *testing.T, node string) tls.Certificate {
			c, _, _ := rawCert(t, root, rootKey, &x509.Certificate{URIs: groveURIs(node, node)})
			return c
		}},
		{"a CA certificate naming the node", func(t *testing.T, node string) tls.Certificate {
			c, _, _ := rawCert(t, root, rootKey, &x509.Certificate{URIs: groveURIs(node), IsCA: true, BasicConstraintsValid: true,
				KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature})
			return c
		}},
		{"a node certificate that may sign certificates", func(t *testing.T, node string) tls.Certificate {
			c, _, _ := rawCert(t, root, rootKey, &x509.Certificate{URIs: groveURIs(node),
				KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature})
			return c
		}},
		{"the CA's own certificate", func(t *testing.T, node string) tls.Certificate {
			return tls.Certificate{Certificate: [][]byte{root.Raw}, PrivateKey: rootKey, Leaf: root}
		}},
		{"minted by another node's certificate", func(t *testing.T, node string) tls.Certificate {
			// A node certificate wrongly issued with CA:TRUE signs a
			// certificate for the node it wants to impersonate.
			_, evil, evilKey := rawCert(t, root, rootKey, &x509.Certificate{URIs: groveURIs("evil"), IsCA: true, BasicConstraintsValid: true,
				KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature})
			c, _, _ := rawCert(t, evil, evilKey, &x509.Certificate{URIs: groveURIs(node)}, evil.Raw)
			return c
		}},
		{"expired", func(t *testing.T, node string) tls.Certificate {
			c, _, _ := rawCert(t, root, rootKey, &x509.Certificate{URIs: groveURIs(node), NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)})
			return c
		}},
		{"not yet valid", func(t *testing.T, node string) tls.Certificate {
			c, _, _ := rawCert(t, root, rootKey, &x509.Certificate{URIs: groveURIs(node), NotBefore: now.Add(time.Hour), NotAfter: now.Add(2 * time.Hour)})
			return c
		}},
		{"for servers only", func(t *testing.T, node string) tls.Certificate {
			c, _, _ := rawCert(t, root, rootKey, &x509.Certificate{URIs: groveURIs(node), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			return c
		}},
		{"for clients only", func(t *testing.T, node string) tls.Certificate {
			c, _, _ := rawCert(t, root, rootKey, &x509.Certificate{URIs: groveURIs(node), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			return c
		}},
		{"a name the handshake refuses", func(t *testing.T, node string) tls.Certificate {
			c, _, _ := rawCert(t, root, rootKey, &x509.Certificate{URIs: []*url.URL{{Scheme: "grove", Opaque: node + "!"}}})
			return c
		}},
	}
	for _, nw := range networks {
		for _, tc := range cases {
			t.Run(nw.name+"/"+tc.name, func(t *testing.T) {
				t.Run("as dialer", func(t *testing.T) {
					c, s := shake(t, nw, certCfg("a", tc.make(t, "a"), p.ca), tlsCfg(t, "b", "b", p.ca, p.ca), "")
					if tc.name == "for servers only" {
						// Only the other side's use matters.
						if c.err == nil && s.err == nil {
							t.Fatal("a server-only certificate authenticated a dialer")
						}
						return
					}
					if tc.name == "for clients only" {
						wantOK(t, c, s)
						return
					}
					wantCertRefused(t, c, s, false)
				})
				t.Run("as dialled", func(t *testing.T) {
					c, s := shake(t, nw, tlsCfg(t, "a", "a", p.ca, p.ca), certCfg("b", tc.make(t, "b"), p.ca), "")
					if tc.name == "for clients only" {
						if c.err == nil && s.err == nil {
							t.Fatal("a client-only certificate authenticated a server")
						}
						return
					}
					if tc.name == "for servers only" {
						wantOK(t, c, s)
						return
					}
					wantCertRefused(t, s, c, true)
				})
			})
		}
	}
}

// TestCertName checks which certificates identify a node.
func TestCertName(t *testing.T) {
	p := newPKI(t)
	good, _ := p.ca.Issue("a@h")
	leaf, _ := x509.ParseCertificate(good.Certificate[0])
	if n, err := handshake.CertName(leaf); err != nil || n != "a@h" {
		t.Fatalf("CertName of a good certificate: %q %v", n, err)
	}
	_, two, _ := rawCert(t, p.ca.Cert, p.ca.Key, &x509.Certificate{URIs: groveURIs("a", "b")})
	if n, err := handshake.CertName(two); err == nil {
		t.Fatalf("a certificate with two names names %q", n)
	}
	_, other, _ := rawCert(t, p.ca.Cert, p.ca.Key, &x509.Certificate{URIs: []*url.URL{handshake.NodeURI("a"), {Scheme: "spiffe", Host: "example.org", Path: "/a"}}})
	if n, err := handshake.CertName(other); err != nil || n != "a" {
		t.Fatalf("a URI of another scheme beside the node's: %q %v", n, err)
	}
	_, bad, _ := rawCert(t, p.ca.Cert, p.ca.Key, &x509.Certificate{URIs: []*url.URL{{Scheme: "grove", Opaque: "a!b"}}})
	if n, err := handshake.CertName(bad); err == nil {
		t.Fatalf("a name the handshake refuses: %q", n)
	}
}
