package main

import (
	"encoding/json"
	"path/filepath"
)

// The control socket: "blockrep serve --store DIR" listens on the unix
// socket DIR/blockrep.sock (mode 0600: only its user may connect), and the
// commands that read or change a served store send their request there, so
// that one process — the one holding the store's lock — does everything to
// the store. One request per connection: a JSON request, a JSON response.
const (
	socketName      = "blockrep.sock"
	maxControlBytes = 1 << 20
)

func socketPath(store string) string { return filepath.Join(store, socketName) }

// controlRequest is one request on the control socket.
type controlRequest struct {
	Op    string `json:"op"` // points, export, status, failover, complete, cancel, stop-test, extend, import, seed
	Group string `json:"group,omitempty"`
	Point string `json:"point,omitempty"` // an id, latest or latest-app
	Out   string `json:"out,omitempty"`   // an absolute directory
	Test  bool   `json:"test,omitempty"`
	// extend: the further replica and the forwarding interval; Stop ends it.
	To    string   `json:"to,omitempty"`
	Every duration `json:"every,omitempty"`
	Stop  bool     `json:"stop,omitempty"`
	// import: the media directory (absolute); seed: the copy's files.
	From    string   `json:"from,omitempty"`
	Volumes []string `json:"volumes,omitempty"`
}

// controlResponse answers it: Error is empty on success.
type controlResponse struct {
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}
