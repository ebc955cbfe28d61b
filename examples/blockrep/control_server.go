package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// controlServer answers requests on serve's control socket.
type controlServer struct {
	l    net.Listener
	host *storeHost
	wg   sync.WaitGroup
}

// listenControl creates the control socket at path, replacing a stale one
// (the caller holds the store's lock, so no live serve owns it).
func listenControl(path string, host *storeHost) (*controlServer, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return &controlServer{l: l, host: host}, nil
}

// serve accepts requests until ctx is done, then waits for the requests
// in progress (cancelled with ctx) to end.
func (s *controlServer) serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.l.Close() })
	defer stop()
	defer s.wg.Wait()
	for {
		c, err := s.l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
		}()
	}
}

func (s *controlServer) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var req controlRequest
	var resp controlResponse
	if err := json.NewDecoder(io.LimitReader(c, maxControlBytes)).Decode(&req); err != nil {
		resp.Error = "bad request: " + err.Error()
	} else {
		c.SetReadDeadline(time.Time{})
		res, err := s.host.do(ctx, req)
		if err != nil {
			resp.Error = err.Error()
		} else if resp.Result, err = json.Marshal(res); err != nil {
			resp.Error = err.Error()
		}
	}
	json.NewEncoder(c).Encode(resp)
}

// close removes the socket.
func (s *controlServer) close() {
	s.l.Close()
}
