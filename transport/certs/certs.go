package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// ErrOption is returned by NewCA and IssueCert for an invalid option.
var ErrOption = errors.New("certs: invalid option")

// Option adjusts a certificate being made.
type Option func(*options) error

type options struct {
	notBefore, notAfter time.Time
	now                 time.Time
	ips                 []net.IP
	dnsNames            []string
	serial              *big.Int
}

// WithValidity sets the certificate's validity window. By default it runs
// from an hour before now to a year after (see WithNow).
func WithValidity(notBefore, notAfter time.Time) Option {
	return func(o *options) error {
		if !notAfter.After(notBefore) {
			return fmt.Errorf("%w: validity ends %v, before it starts %v", ErrOption, notAfter, notBefore)
		}
		o.notBefore, o.notAfter = notBefore, notAfter
		return nil
	}
}

// WithNow sets the instant the default validity window is built around
// (default: time.Now at the call).
func WithNow(now time.Time) Option {
	return func(o *options) error {
		o.now = now
		return nil
	}
}

// WithIPs adds IP address SANs, for peers dialed by address.
func WithIPs(ips ...net.IP) Option {
	return func(o *options) error {
		o.ips = append(o.ips, ips...)
		return nil
	}
}

// WithDNSNames adds DNS SANs after the certificate's name.
func WithDNSNames(names ...string) Option {
	return func(o *options) error {
		o.dnsNames = append(o.dnsNames, names...)
		return nil
	}
}

// WithSerial sets the serial number (default: 128 random bits).
func WithSerial(serial *big.Int) Option {
	return func(o *options) error {
		if serial == nil || serial.Sign() <= 0 {
			return fmt.Errorf("%w: serial must be positive", ErrOption)
		}
		o.serial = new(big.Int).Set(serial)
		return nil
	}
}

func buildOptions(opts []Option) (options, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	if o.now.IsZero() {
		o.now = time.Now()
	}
	if o.notBefore.IsZero() {
		o.notBefore, o.notAfter = o.now.Add(-time.Hour), o.now.AddDate(1, 0, 0)
	}
	if o.serial == nil {
		s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
		if err != nil {
			return o, fmt.Errorf("certs: serial: %w", err)
		}
		o.serial = s.Add(s, big.NewInt(1))
	}
	return o, nil
}

// CA is a certificate authority that issues peer certificates.
type CA struct {
	// Cert is the CA's self-signed certificate.
	Cert *x509.Certificate
	// Key is its private key.
	Key crypto.Signer
}

// NewCA makes a self-signed CA whose Common Name is name, with a new
// ECDSA P-256 key.
func NewCA(name string, opts ...Option) (*CA, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          o.serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Pool returns a pool holding only this CA, for Config.RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// IssueCert issues a certificate for name (its Common Name and first DNS
// SAN) valid for both TLS server and client authentication, so one
// certificate serves a host that dials and listens.
func (ca *CA) IssueCert(name string, opts ...Option) (*Cert, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: key for %q: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: o.serial,
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     append([]string{name}, o.dnsNames...),
		IPAddresses:  o.ips,
		NotBefore:    o.notBefore,
		NotAfter:     o.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("certs: certificate for %q: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: certificate for %q: %w", name, err)
	}
	return &Cert{TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, Leaf: leaf}, nil
}

// Cert is an issued certificate with its private key.
type Cert struct {
	// TLS is the certificate ready for a tls.Config or tcp.Config.
	TLS tls.Certificate
	// Leaf is the parsed certificate.
	Leaf *x509.Certificate
}

// Fingerprint returns the hex SHA-256 of the certificate's DER encoding,
// as transport.Identity reports it.
func (c *Cert) Fingerprint() string {
	sum := sha256.Sum256(c.Leaf.Raw)
	return hex.EncodeToString(sum[:])
}
