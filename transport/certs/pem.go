package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// ErrNoCertificate is returned by LoadPool when a file holds no PEM
// certificate.
var ErrNoCertificate = errors.New("certs: no certificate in PEM data")

// CertPEM returns the CA certificate, PEM encoded.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// KeyPEM returns the CA's private key, PEM encoded (PKCS #8).
func (ca *CA) KeyPEM() ([]byte, error) { return keyPEM(ca.Key) }

// WritePEM writes the CA certificate to certPath (mode 0644) and, when
// keyPath is not empty, its private key to keyPath (mode 0600).
func (ca *CA) WritePEM(certPath, keyPath string) error {
	return writePair(ca.CertPEM(), ca.Key, certPath, keyPath)
}

// CertPEM returns the certificate, PEM encoded.
func (c *Cert) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Raw})
}

// KeyPEM returns the private key, PEM encoded (PKCS #8).
func (c *Cert) KeyPEM() ([]byte, error) { return keyPEM(c.TLS.PrivateKey) }

// WritePEM writes the certificate to certPath (mode 0644) and its private
// key to keyPath (mode 0600); tls.LoadX509KeyPair or LoadCert reads them.
func (c *Cert) WritePEM(certPath, keyPath string) error {
	return writePair(c.CertPEM(), c.TLS.PrivateKey, certPath, keyPath)
}

func keyPEM(key any) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func writePair(certPEM []byte, key any, certPath, keyPath string) error {
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if keyPath == "" {
		return nil
	}
	k, err := keyPEM(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, k, 0o600); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

// LoadCert reads a certificate and its key written by WritePEM (or any PEM
// pair tls.LoadX509KeyPair accepts).
func LoadCert(certPath, keyPath string) (*Cert, error) {
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return &Cert{TLS: c, Leaf: c.Leaf}, nil
}

// LoadPool reads the PEM certificates in path into a pool, for
// Config.RootCAs.
func LoadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: %s", ErrNoCertificate, path)
	}
	return p, nil
}
