package certs_test

import (
	"crypto/x509"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport/certs"
)

func TestIssueCert(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ca, err := certs.NewCA("test CA", certs.WithNow(now))
	require.NoError(t, err)
	assert.True(t, ca.Cert.IsCA)
	assert.Equal(t, "test CA", ca.Cert.Subject.CommonName)

	cert, err := ca.IssueCert("host.example",
		certs.WithNow(now),
		certs.WithDNSNames("alias.example"),
		certs.WithIPs(net.IPv4(127, 0, 0, 1)),
		certs.WithSerial(big.NewInt(4242)))
	require.NoError(t, err)
	leaf := cert.Leaf
	assert.Equal(t, []string{"host.example", "alias.example"}, leaf.DNSNames)
	assert.Equal(t, "host.example", leaf.Subject.CommonName)
	require.Len(t, leaf.IPAddresses, 1)
	assert.True(t, leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)))
	assert.Equal(t, int64(4242), leaf.SerialNumber.Int64())
	assert.Equal(t, now.Add(-time.Hour), leaf.NotBefore)
	assert.Equal(t, now.AddDate(1, 0, 0), leaf.NotAfter)
	assert.Len(t, cert.Fingerprint(), 64)
	assert.Same(t, leaf, cert.TLS.Leaf)

	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err = leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "alias.example", CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
		assert.NoError(t, err, "usage %v", usage)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now.AddDate(2, 0, 0)})
	var invalid x509.CertificateInvalidError
	require.ErrorAs(t, err, &invalid)
	assert.Equal(t, x509.Expired, invalid.Reason)
}

func TestRandomSerials(t *testing.T) {
	ca, err := certs.NewCA("test CA")
	require.NoError(t, err)
	a, err := ca.IssueCert("a")
	require.NoError(t, err)
	b, err := ca.IssueCert("a")
	require.NoError(t, err)
	assert.NotEqual(t, a.Leaf.SerialNumber, b.Leaf.SerialNumber)
	assert.NotEqual(t, a.Fingerprint(), b.Fingerprint())
	assert.Positive(t, a.Leaf.SerialNumber.Sign())
}

func TestOptionErrors(t *testing.T) {
	now := time.Now()
	for name, opt := range map[string]certs.Option{
		"validity ends before it starts": certs.WithValidity(now, now.Add(-time.Second)),
		"zero serial":                    certs.WithSerial(big.NewInt(0)),
		"nil serial":                     certs.WithSerial(nil),
	} {
		_, err := certs.NewCA("x", opt)
		assert.ErrorIs(t, err, certs.ErrOption, name)
	}
	ca, err := certs.NewCA("x")
	require.NoError(t, err)
	_, err = ca.IssueCert("y", certs.WithSerial(big.NewInt(-1)))
	assert.ErrorIs(t, err, certs.ErrOption)
}

func TestPEMFiles(t *testing.T) {
	dir := t.TempDir()
	ca, err := certs.NewCA("test CA")
	require.NoError(t, err)
	cert, err := ca.IssueCert("host.example")
	require.NoError(t, err)
	caCert, caKey := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	hostCert, hostKey := filepath.Join(dir, "host.pem"), filepath.Join(dir, "host.key")
	require.NoError(t, ca.WritePEM(caCert, caKey))
	require.NoError(t, cert.WritePEM(hostCert, hostKey))

	for _, key := range []string{caKey, hostKey} {
		st, err := os.Stat(key)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), key)
	}
	keyPEM, err := ca.KeyPEM()
	require.NoError(t, err)
	onDisk, err := os.ReadFile(caKey)
	require.NoError(t, err)
	assert.Equal(t, keyPEM, onDisk)

	loaded, err := certs.LoadCert(hostCert, hostKey)
	require.NoError(t, err)
	assert.Equal(t, cert.Leaf.Raw, loaded.Leaf.Raw)
	pool, err := certs.LoadPool(caCert)
	require.NoError(t, err)
	_, err = loaded.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "host.example"})
	require.NoError(t, err)

	_, err = certs.LoadPool(hostKey)
	require.ErrorIs(t, err, certs.ErrNoCertificate, "a key file holds no certificate")
	_, err = certs.LoadPool(filepath.Join(dir, "missing.pem"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = certs.LoadCert(hostCert, caKey)
	require.Error(t, err, "a certificate with another's key")
	require.Error(t, cert.WritePEM(filepath.Join(dir, "no", "such", "dir.pem"), hostKey))
}
