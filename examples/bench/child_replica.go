package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
)

// runReplica serves the store in spec.Store on a loopback port: it reports
// the port on stdout, then serves until its stdin is closed (the parent's
// way of stopping it), answering the parent's verification requests (one JSON
// line each on stdin) meanwhile. Verifying here, through the store the host
// serves from, keeps a second process from opening the store.
func runReplica(ctx context.Context, spec childSpec, stdin io.Reader, stdout io.Writer) (err error) {
	stop, err := startProfile(spec.Profile)
	if err != nil {
		return err
	}
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	store, err := checkpoint.Open(vfs.OS(), spec.Store)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	var opts []transport.AuthorizerOption
	if spec.Insecure {
		// Over plain TCP the primary's name is only what it claims.
		opts = append(opts, transport.AllowUnauthenticated())
	}
	auth, err := transport.NewAuthorizer([]transport.AuthEntry{{Peer: primaryName, Group: "*", Storage: "."}}, opts...)
	if err != nil {
		return err
	}
	tr, err := newTransport(spec.Certs, replicaName, spec.Insecure)
	if err != nil {
		return err
	}
	l, err := tr.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	rh, err := replica.NewReplicaHost(replica.ReplicaConfig{Listener: l, Store: store, Authorizer: auth})
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- rh.Serve(ctx) }()
	if err := json.NewEncoder(stdout).Encode(childResult{Addr: l.Addr()}); err != nil {
		cancel()
		<-served
		return err
	}
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for in.Scan() {
		var req verifyRequest
		var rep verifyReply
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			rep.Error = err.Error()
		} else if rep.Hash, err = verifyLatest(ctx, store, req); err != nil {
			rep.Error = err.Error()
		}
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			break
		}
	}
	cancel()
	err = <-served
	if spec.Profile != "" {
		// What the replica allocated over its life (alloc_space) and
		// still held at the end (inuse_space).
		err = errors.Join(err, writeHeapProfile(strings.TrimSuffix(spec.Profile, ".pprof")+"-heap.pprof"))
	}
	return errors.Join(err, rh.Close())
}

// verifyRequest asks a replica child to compare its latest point of Group,
// which must be Point, with the primary's file Volume: every byte, or the
// whole blocks listed in Blocks when it is not empty.
type verifyRequest struct {
	Group  string  `json:"group"`
	Point  string  `json:"point"`
	Volume string  `json:"volume"`
	Size   int64   `json:"size"`
	Blocks []int64 `json:"blocks,omitempty"`
}

// verifyReply is the answer: the point's content hash, or what differs.
type verifyReply struct {
	Hash  string `json:"hash,omitempty"`
	Error string `json:"error,omitempty"`
}

func verifyLatest(ctx context.Context, store checkpoint.Store, req verifyRequest) (hash string, err error) {
	g, err := store.Group(ctx, req.Group)
	if err != nil {
		return "", err
	}
	latest, err := g.Latest(ctx)
	if err != nil {
		return "", err
	}
	if latest.ID.String() != req.Point {
		return "", fmt.Errorf("the replica's latest point is %s, the primary's last acknowledged %s", latest.ID, req.Point)
	}
	view, err := g.OpenPoint(ctx, latest.ID)
	if err != nil {
		return "", err
	}
	defer func() { err = errors.Join(err, view.Close()) }()
	rv := view.Volumes()[0]
	if rv.Size() != req.Size {
		return "", fmt.Errorf("the replica's volume has %d bytes, the primary's %d", rv.Size(), req.Size)
	}
	f, err := os.Open(req.Volume)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if len(req.Blocks) == 0 {
		if err := compareAt(f, rv, req.Size); err != nil {
			return "", fmt.Errorf("replica of %s: %w", req.Volume, err)
		}
		return latest.Hash.String(), nil
	}
	pa, pb := make([]byte, blockSize), make([]byte, blockSize)
	for _, blk := range req.Blocks {
		off := blk * blockSize
		n := min(blockSize, req.Size-off)
		if err := compareBuffered(offsetReader{f, off}, offsetReader{rv, off}, n, pa[:n], pb[:n]); err != nil {
			return "", fmt.Errorf("replica of %s, block %d: %w", req.Volume, blk, err)
		}
	}
	return latest.Hash.String(), nil
}

// offsetReader reads r from off on.
type offsetReader struct {
	r   io.ReaderAt
	off int64
}

func (o offsetReader) ReadAt(p []byte, off int64) (int, error) { return o.r.ReadAt(p, o.off+off) }
