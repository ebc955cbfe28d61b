// Package certs makes a certificate authority and the certificates blockrep
// hosts present to each other over mutual TLS (package transport/tcp), for
// tests, examples and first setups; production deployments may use any CA
// whose certificates carry the host's name as a DNS SAN and allow both
// server and client authentication.
//
// # Authority and certificates
//
// [NewCA] makes a self-signed CA with a fresh ECDSA P-256 key;
// [CA.IssueCert] issues a certificate for a host name, usable both to
// listen and to dial. Options set the validity window (for expired-
// certificate tests), the serial number, and extra DNS or IP SANs.
//
// # Files
//
// [CA.WritePEM] and [Cert.WritePEM] write PEM files (private keys with mode
// 0600); [LoadCert] and [LoadPool] read them back into what tcp.Config
// takes.
package certs
