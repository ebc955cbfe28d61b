package transport_test

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/certs"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/blockrep/blockrep/transport/tcp"
	"github.com/blockrep/blockrep/transport/transporttest"
)

// Each benchmark operation moves 1 GiB in 1 MiB frames (or writes), the
// shape of a large delta stream, so the figures of the transports compare
// directly: TLS against plain loopback gives the cost of encryption.
const (
	benchTotal = 1 << 30
	benchFrame = 1 << 20
)

func BenchmarkTransfer(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		n, err := memory.NewNetwork(1)
		if err != nil {
			b.Fatal(err)
		}
		benchConn(b, n.Endpoint("primary"), n.Endpoint("replica"), "replica")
	})
	b.Run("tls-loopback", func(b *testing.B) {
		ca, err := certs.NewCA("bench CA")
		if err != nil {
			b.Fatal(err)
		}
		dialer := benchTLS(b, ca, "primary.example")
		listener := benchTLS(b, ca, "replica.example")
		benchConn(b, dialer, listener, "127.0.0.1:0")
	})
	b.Run("insecure-loopback", func(b *testing.B) {
		dialer, err := tcp.New(tcp.Config{Insecure: true, Name: "primary"})
		if err != nil {
			b.Fatal(err)
		}
		listener, err := tcp.New(tcp.Config{Insecure: true, Name: "replica"})
		if err != nil {
			b.Fatal(err)
		}
		benchConn(b, dialer, listener, "127.0.0.1:0")
	})
	b.Run("plain-loopback-io.Copy", func(b *testing.B) { benchCopy(b, nil) })
	b.Run("crypto-tls-loopback-io.Copy", func(b *testing.B) {
		ca, err := certs.NewCA("bench CA")
		if err != nil {
			b.Fatal(err)
		}
		cert, err := ca.IssueCert("replica.example")
		if err != nil {
			b.Fatal(err)
		}
		benchCopy(b, &tls.Config{Certificates: []tls.Certificate{cert.TLS}, RootCAs: ca.Pool(), ServerName: "replica.example", MinVersion: tls.VersionTLS13})
	})
}

func benchTLS(b *testing.B, ca *certs.CA, name string) *tcp.Transport {
	cert, err := ca.IssueCert(name)
	if err != nil {
		b.Fatal(err)
	}
	t, err := tcp.New(tcp.Config{
		Certificates: []tls.Certificate{cert.TLS},
		RootCAs:      ca.Pool(),
		ServerName:   "replica.example",
	})
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// benchConn sends 1 GiB per operation from dialer to listener, reusing one
// buffer on each side.
func benchConn(b *testing.B, dialer, listener transport.Transport, addr string) {
	move := connMover(b, dialer, listener, addr)
	b.SetBytes(benchTotal)
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	for b.Loop() {
		move()
	}
}

// connMover connects dialer to listener and returns a function that sends
// 1 GiB over the connection in benchFrame frames; the connection is closed
// when the benchmark ends.
func connMover(b *testing.B, dialer, listener transport.Transport, addr string) (move func()) {
	ctx := b.Context()
	l, err := listener.Listen(ctx, addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	var acc errgroup.Group
	var accepted transport.Conn
	acc.Go(func() (err error) {
		accepted, err = l.Accept(ctx)
		return err
	})
	dialed, err := dialer.Dial(ctx, l.Addr())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = dialed.Close() })
	if err := acc.Wait(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = accepted.Close() })

	msg := make([]byte, benchFrame)
	transporttest.Fill(msg, 0)
	buf := make([]byte, benchFrame)
	return func() {
		var g errgroup.Group
		g.Go(func() error {
			for range benchTotal / benchFrame {
				if err := dialed.Send(ctx, msg); err != nil {
					return err
				}
			}
			return nil
		})
		for range benchTotal / benchFrame {
			got, err := accepted.Recv(ctx, buf)
			if err != nil {
				b.Fatal(err)
			}
			if len(got) != benchFrame {
				b.Fatalf("frame of %d bytes", len(got))
			}
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCopy is the baseline: io.Copy of 1 GiB over a loopback TCP
// connection with no framing, and no encryption unless tlsConfig is set
// (then it is crypto/tls alone, without this package's framing).
func benchCopy(b *testing.B, tlsConfig *tls.Config) {
	move := copyMover(b, tlsConfig)
	b.SetBytes(benchTotal)
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	for b.Loop() {
		move()
	}
}

// copyMover connects a loopback TCP pair (under TLS when tlsConfig is set)
// and returns a function that copies 1 GiB through it; the connections
// are closed when the benchmark ends.
func copyMover(b *testing.B, tlsConfig *tls.Config) (move func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	var acc errgroup.Group
	var server net.Conn
	acc.Go(func() (err error) {
		server, err = ln.Accept()
		return err
	})
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Close() })
	if err := acc.Wait(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = server.Close() })
	if tlsConfig != nil {
		tc := tls.Client(client, tlsConfig)
		ts := tls.Server(server, tlsConfig)
		var hs errgroup.Group
		hs.Go(ts.Handshake)
		if err := tc.Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := hs.Wait(); err != nil {
			b.Fatal(err)
		}
		client, server = tc, ts
	}

	msg := make([]byte, benchFrame)
	transporttest.Fill(msg, 0)
	buf := make([]byte, benchFrame)
	return func() {
		var g errgroup.Group
		g.Go(func() error {
			for range benchTotal / benchFrame {
				if _, err := client.Write(msg); err != nil {
					return err
				}
			}
			return nil
		})
		n, err := io.CopyBuffer(sink{}, io.LimitReader(server, benchTotal), buf)
		if err != nil || n != benchTotal {
			b.Fatalf("copied %d bytes: %v", n, err)
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTLSVersusPlain moves 1 GiB over a plain loopback connection and
// then 1 GiB over this package's TLS transport in every operation, so that
// machine load changing during the run weighs on both alike, and reports
// TLS throughput and CPU efficiency as percentages of the plain copy's.
// (BenchmarkTransfer runs each kind as its own sub-benchmark, seconds
// apart.)
func BenchmarkTLSVersusPlain(b *testing.B) {
	ca, err := certs.NewCA("bench CA")
	if err != nil {
		b.Fatal(err)
	}
	plain := copyMover(b, nil)
	secure := connMover(b, benchTLS(b, ca, "primary.example"), benchTLS(b, ca, "replica.example"), "127.0.0.1:0")
	var plainWall, plainCPU, tlsWall, tlsCPU time.Duration
	measure := func(move func(), wall, cpu *time.Duration) {
		w, c := time.Now(), processCPU()
		move()
		*wall += time.Since(w)
		*cpu += processCPU() - c
	}
	b.SetBytes(2 * benchTotal)
	for b.Loop() {
		measure(plain, &plainWall, &plainCPU)
		measure(secure, &tlsWall, &tlsCPU)
	}
	mbps := func(d time.Duration) float64 { return float64(b.N) * benchTotal / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(plainWall), "plain-MB/s")
	b.ReportMetric(mbps(tlsWall), "tls-MB/s")
	b.ReportMetric(100*plainWall.Seconds()/tlsWall.Seconds(), "tls-%-of-plain")
	if plainCPU > 0 && tlsCPU > 0 {
		b.ReportMetric(100*plainCPU.Seconds()/tlsCPU.Seconds(), "tls-cpu-%-of-plain")
	}
}

// sink discards what it is given; unlike io.Discard it has no ReadFrom, so
// io.CopyBuffer uses the benchmark's 1 MiB buffer.
type sink struct{}

func (sink) Write(p []byte) (int, error) { return len(p), nil }

// reportCPU reports the process CPU time per operation since start (both
// ends of the transfer, user and system).
func reportCPU(b *testing.B, start time.Duration) {
	if used := processCPU() - start; used > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
