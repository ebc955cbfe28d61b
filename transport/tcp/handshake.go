package tcp

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"unicode/utf8"

	"github.com/blockrep/blockrep/transport"
)

// ErrProtocol is returned by Dial when the peer answers with something
// other than this package's handshake.
var ErrProtocol = errors.New("tcp: peer does not speak the blockrep transport protocol")

// After TLS (or at once on an insecure link) the dialer sends a hello frame
// and the listener answers with a reply frame:
//
//	hello: magic, name
//	reply: magic, status byte, name
//
// The reply is what lets Dial report a listener that refused the dialer's
// certificate: in TLS 1.3 the client's handshake ends before the server has
// checked the client certificate, so the refusal (a TLS alert) only arrives
// on the first read, which is this reply. The names only matter on an
// insecure link; with TLS the identities come from the certificates.
var magic = []byte("BRT1")

const (
	statusOK   byte = 0
	statusBusy byte = 1

	helloLimit = 4 + 1 + MaxNameLen
)

func helloFrame(name string) []byte {
	return append(bytes.Clone(magic), name...)
}

func replyFrame(status byte, name string) []byte {
	return append(append(bytes.Clone(magic), status), name...)
}

func parseHello(b []byte) (string, error) {
	if !bytes.HasPrefix(b, magic) {
		return "", ErrProtocol
	}
	return parseName(b[len(magic):])
}

func parseReply(b []byte) (byte, string, error) {
	if !bytes.HasPrefix(b, magic) || len(b) < len(magic)+1 {
		return 0, "", ErrProtocol
	}
	name, err := parseName(b[len(magic)+1:])
	return b[len(magic)], name, err
}

func parseName(b []byte) (string, error) {
	if len(b) > MaxNameLen || !utf8.Valid(b) {
		return "", fmt.Errorf("%w: bad peer name", ErrProtocol)
	}
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w: control character in peer name", ErrProtocol)
		}
	}
	return string(b), nil
}

// identity is who a verified TLS peer is: the first DNS SAN of its leaf
// certificate, or its Common Name.
func identity(cs tls.ConnectionState) transport.Identity {
	if len(cs.PeerCertificates) == 0 {
		return transport.Identity{}
	}
	leaf := cs.PeerCertificates[0]
	name := leaf.Subject.CommonName
	if len(leaf.DNSNames) > 0 {
		name = leaf.DNSNames[0]
	}
	return transport.Identity{Name: name, Authenticated: true, Fingerprint: Fingerprint(leaf)}
}

// Fingerprint returns the hex SHA-256 of a certificate's DER encoding, the
// form of Identity.Fingerprint and Config.DenyFingerprints.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// checkDenied refuses a peer whose presented chain holds a revoked
// certificate; it runs as tls.Config.VerifyConnection on both sides.
func (t *Transport) checkDenied(cs tls.ConnectionState) error {
	for _, cert := range cs.PeerCertificates {
		if fp := Fingerprint(cert); t.denyFP[fp] {
			return fmt.Errorf("%w: certificate %q (fingerprint %s) is revoked", transport.ErrUnauthenticated, cert.Subject.CommonName, fp)
		}
		for _, s := range t.cfg.DenySerials {
			if s.Cmp(cert.SerialNumber) == 0 {
				return fmt.Errorf("%w: certificate %q (serial %s) is revoked", transport.ErrUnauthenticated, cert.Subject.CommonName, s)
			}
		}
	}
	return nil
}

func (t *Transport) serverTLS() *tls.Config {
	return &tls.Config{
		Certificates:                t.cfg.Certificates,
		ClientCAs:                   t.cfg.RootCAs,
		ClientAuth:                  tls.RequireAndVerifyClientCert,
		MinVersion:                  tls.VersionTLS13,
		Time:                        t.cfg.Now,
		VerifyConnection:            t.checkDenied,
		SessionTicketsDisabled:      true, // nothing unread left behind: Close then ends with FIN, not RST
		DynamicRecordSizingDisabled: true,
	}
}

func (t *Transport) clientTLS(serverName string) *tls.Config {
	return &tls.Config{
		Certificates:                t.cfg.Certificates,
		RootCAs:                     t.cfg.RootCAs,
		ServerName:                  serverName,
		MinVersion:                  tls.VersionTLS13,
		Time:                        t.cfg.Now,
		VerifyConnection:            t.checkDenied,
		DynamicRecordSizingDisabled: true,
	}
}

// isAuthError reports whether a handshake error is about certificates
// rather than the network: ours refused by the peer, or the peer's by us.
func isAuthError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
		op       *net.OpError
	)
	switch {
	case errors.Is(err, transport.ErrUnauthenticated),
		errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &hostname), errors.As(err, &verify):
		return true
	case errors.As(err, &op) && op.Op == "remote error":
		return true // a TLS alert from the peer: it refused our certificate
	}
	return false
}
