package certs_test

import (
	"crypto/x509"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/blockrep/blockrep/transport/certs"
)

// A CA issues a host certificate, written to and read back from PEM files.
func Example() {
	ca, err := certs.NewCA("blockrep CA")
	if err != nil {
		log.Fatal(err)
	}
	cert, err := ca.IssueCert("replica.example")
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "certs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	caFile := filepath.Join(dir, "ca.pem")
	certFile, keyFile := filepath.Join(dir, "replica.pem"), filepath.Join(dir, "replica.key")
	if err := ca.WritePEM(caFile, ""); err != nil {
		log.Fatal(err)
	}
	if err := cert.WritePEM(certFile, keyFile); err != nil {
		log.Fatal(err)
	}

	pool, err := certs.LoadPool(caFile)
	if err != nil {
		log.Fatal(err)
	}
	loaded, err := certs.LoadCert(certFile, keyFile)
	if err != nil {
		log.Fatal(err)
	}
	_, err = loaded.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "replica.example", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	fmt.Println("name:", loaded.Leaf.DNSNames[0])
	fmt.Println("verifies:", err == nil)
	fmt.Println("same fingerprint:", loaded.Fingerprint() == cert.Fingerprint())
	// Output:
	// name: replica.example
	// verifies: true
	// same fingerprint: true
}
