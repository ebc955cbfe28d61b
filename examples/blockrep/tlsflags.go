package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/blockrep/blockrep/transport/certs"
	"github.com/blockrep/blockrep/transport/tcp"
)

// peerFlags are the flags of every command that talks to a peer: the
// host's certificate and key and the CA that vouches for peers, or
// --insecure for plain TCP.
type peerFlags struct {
	cert, key, ca string
	insecure      bool
	name          string
}

func (p *peerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.cert, "cert", "", "this host's certificate (PEM)")
	fs.StringVar(&p.key, "key", "", "this host's private key (PEM)")
	fs.StringVar(&p.ca, "ca", "", "the CA certificate peers must be issued by (PEM)")
	fs.BoolVar(&p.insecure, "insecure", false, "plain TCP without TLS: nothing is authenticated or encrypted (tests and trusted links only)")
	fs.StringVar(&p.name, "name", "", "with --insecure: the name this host claims to peers (default: the host name)")
}

// given reports whether any TLS or insecure flag was set.
func (p *peerFlags) given() bool {
	return p.cert != "" || p.key != "" || p.ca != "" || p.insecure
}

// validate checks that the flags make a complete choice.
func (p *peerFlags) validate() error {
	if p.insecure {
		if p.cert != "" || p.key != "" || p.ca != "" {
			return usagef("--insecure and --cert/--key/--ca exclude each other")
		}
		return nil
	}
	if p.cert == "" || p.key == "" || p.ca == "" {
		return usagef("--cert, --key and --ca are required (or --insecure for plain TCP)")
	}
	return nil
}

// transport builds the TCP transport the flags describe; with --insecure
// it prints a warning on stderr.
func (p *peerFlags) transport(stderr io.Writer) (*tcp.Transport, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	cfg := tcp.Config{IdleTimeout: 10 * time.Minute}
	if p.insecure {
		fmt.Fprintln(stderr, "blockrep: warning: --insecure: plain TCP, peers are not authenticated and nothing is encrypted")
		cfg.Insecure = true
		cfg.Name = p.name
		if cfg.Name == "" {
			h, err := os.Hostname()
			if err != nil || h == "" {
				h = "blockrep"
			}
			cfg.Name = h
		}
	} else {
		cert, err := certs.LoadCert(p.cert, p.key)
		if err != nil {
			return nil, fmt.Errorf("loading --cert/--key: %w", err)
		}
		pool, err := certs.LoadPool(p.ca)
		if err != nil {
			return nil, fmt.Errorf("loading --ca: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert.TLS}
		cfg.RootCAs = pool
	}
	return tcp.New(cfg)
}
