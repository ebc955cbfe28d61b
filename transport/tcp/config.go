package tcp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/blockrep/blockrep/transport"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultIdleTimeout      = 2 * time.Minute
	DefaultKeepAlive        = 15 * time.Second
	DefaultMaxConns         = 256
	DefaultMaxHandshakes    = 64
)

// MaxNameLen bounds a name sent in the hello of an insecure link.
const MaxNameLen = 255

// ErrConfig is returned by Config.Validate and New for an invalid Config.
var ErrConfig = errors.New("tcp: invalid config")

// Config configures a Transport. Zero durations and counts mean the
// documented defaults.
type Config struct {
	// Certificates are this host's certificate chains with their keys,
	// presented both when dialing and when listening. Required unless
	// Insecure.
	Certificates []tls.Certificate

	// RootCAs are the authorities trusted to vouch for peers, in both
	// directions. Required unless Insecure.
	RootCAs *x509.CertPool

	// Name is this host's name, sent to peers over an insecure link (where
	// it is all a peer learns of us) and used in logs. Required when
	// Insecure.
	Name string

	// ServerName, when set, is the name every dialed server's certificate
	// must carry; by default it is the host part of the dialed address.
	// DialName sets it per dial.
	ServerName string

	// DenyFingerprints (hex SHA-256 of a certificate's DER, any case) and
	// DenySerials revoke certificates: a peer presenting a matching
	// certificate (leaf or any certificate of its chain) is refused on both
	// sides of the handshake. Serials are compared whatever their issuer,
	// so with several CAs prefer fingerprints.
	DenyFingerprints []string
	DenySerials      []*big.Int

	// Insecure selects plain TCP without TLS, for tests and trusted links:
	// peers are not authenticated (Identity.Authenticated is false) and
	// nothing is encrypted.
	Insecure bool

	// FrameLimit bounds one frame in both directions (default
	// transport.MaxFrameSize).
	FrameLimit int

	// HandshakeTimeout bounds connecting, the TLS handshake and the hello
	// exchange, on both sides (default DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration

	// IdleTimeout bounds how long one Send or Recv may wait for the peer:
	// a silent peer is dropped with ErrConnectionLost (default
	// DefaultIdleTimeout; negative means no bound). A connection kept open
	// between replication cycles must either exchange a frame more often
	// or use a longer (or no) bound and rely on contexts and keep-alives.
	IdleTimeout time.Duration

	// KeepAlive is the TCP keep-alive period (default DefaultKeepAlive;
	// negative disables keep-alives).
	KeepAlive time.Duration

	// MaxConns bounds the connections a listener has open at once,
	// accepted or waiting to be; further peers are refused with
	// ErrTooManyConnections (default DefaultMaxConns).
	MaxConns int

	// MaxHandshakes bounds the handshakes a listener runs at once; raw
	// connections beyond it are closed at once (default
	// DefaultMaxHandshakes).
	MaxHandshakes int

	// Now is the clock certificates' validity is checked against (default
	// time.Now).
	Now func() time.Time

	// Logger receives refused peers and accept errors (nil: discard).
	Logger *slog.Logger
}

// Validate reports the first problem with c, wrapping ErrConfig.
func (c *Config) Validate() error {
	switch {
	case !c.Insecure && len(c.Certificates) == 0:
		return fmt.Errorf("%w: no certificate (set Insecure for plain TCP)", ErrConfig)
	case !c.Insecure && c.RootCAs == nil:
		return fmt.Errorf("%w: no RootCAs to verify peers with", ErrConfig)
	case c.Insecure && c.Name == "":
		return fmt.Errorf("%w: Insecure needs a Name to present", ErrConfig)
	case len(c.Name) > MaxNameLen:
		return fmt.Errorf("%w: Name longer than %d bytes", ErrConfig, MaxNameLen)
	case c.FrameLimit < 0:
		return fmt.Errorf("%w: negative FrameLimit", ErrConfig)
	case c.HandshakeTimeout < 0:
		return fmt.Errorf("%w: negative HandshakeTimeout", ErrConfig)
	case c.MaxConns < 0 || c.MaxHandshakes < 0:
		return fmt.Errorf("%w: negative MaxConns or MaxHandshakes", ErrConfig)
	}
	for _, s := range c.DenySerials {
		if s == nil {
			return fmt.Errorf("%w: nil serial in DenySerials", ErrConfig)
		}
	}
	return nil
}

// withDefaults returns a copy of c with the defaults filled in.
func (c Config) withDefaults() Config {
	if c.FrameLimit == 0 {
		c.FrameLimit = transport.MaxFrameSize
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxHandshakes == 0 {
		c.MaxHandshakes = DefaultMaxHandshakes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
