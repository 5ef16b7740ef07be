package certs

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File names in a certificate directory.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

// NodeFiles returns the certificate and key file names of node name.
func NodeFiles(name string) (cert, key string) { return name + ".pem", name + "-key.pem" }

// Save writes the CA's certificate (ca.pem) and private key (ca-key.pem,
// mode 0600) into dir, created if needed. It does not overwrite a key.
func (ca *CA) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	f, err := os.OpenFile(filepath.Join(dir, CAKeyFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if _, err := f.Write(keyPEM); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, CAFile), ca.CertPEM(), 0o644)
}

// LoadCA reads a CA that Save wrote into dir.
func LoadCA(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("certs: " + CAFile + " holds no certificate")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", CAFile, err)
	}
	if !cert.IsCA {
		return nil, errors.New("certs: " + CAFile + " is not a CA certificate")
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("certs: " + CAKeyFile + " holds no key")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", CAKeyFile, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("certs: " + CAKeyFile + " is not a signing key")
	}
	type publicKey interface{ Equal(crypto.PublicKey) bool }
	if pk, ok := signer.Public().(publicKey); !ok || !pk.Equal(cert.PublicKey) {
		return nil, errors.New("certs: " + CAKeyFile + " does not belong to " + CAFile)
	}
	return &CA{Cert: cert, Key: signer}, nil
}

// WriteNode issues a certificate for node name and writes it and its key
// (mode 0600) into dir as NodeFiles names them.
func (ca *CA) WriteNode(dir, name string, opts IssueOptions) error {
	c, k, err := ca.IssuePEM(name, opts)
	if err != nil {
		return fmt.Errorf("certs: %s: %w", name, err)
	}
	cf, kf := NodeFiles(name)
	if err := os.WriteFile(filepath.Join(dir, cf), c, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, kf), k, 0o600)
}
