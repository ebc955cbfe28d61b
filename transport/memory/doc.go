// Package memory is an in-memory network implementing transport.Transport,
// for tests of code that replicates over a network: it is deterministic,
// needs no sockets or certificates, and can partition hosts and damage
// frames on purpose. It is not for production: nothing is authenticated
// beyond the endpoint names the test chose, and nothing leaves the process.
//
// # Endpoints and identities
//
// A [Network] holds named endpoints. Network.Endpoint(name) returns the
// transport of one host; a listener listens at any address string unique in
// the network (the endpoint's name by default), and every connection
// reports the other endpoint's name as its authenticated Identity.
//
// # Partitions
//
// Network.Partition(a, b) cuts the link between two endpoints in both
// directions: dials fail with transport.ErrUnreachable and open connections
// are cut (frames already buffered are delivered, then both ends see
// transport.ErrConnectionLost). Heal and HealAll lift partitions; cut
// connections stay cut, as TCP connections would.
//
// # Faults
//
// [Faults] set on a route (Network.SetFaults) or on one connection
// (Conn.SetFaults) drop, duplicate or corrupt frames with given
// probabilities or by a per-frame hook, delay them, or cut the connection
// after a number of bytes. Random choices come from sources seeded by the
// network's seed and the connection's number, so a failing test replays
// exactly. Delays run on the network's [Clock]: a test passes a fake and
// fires it, and never sleeps.
//
// # Flow control and closing
//
// Each direction of a connection buffers at most a window of bytes (see
// WithWindow); Send blocks beyond it, so a transfer of any size runs in
// constant memory. Closing one end makes the other read the frames already
// sent and then io.EOF, while its Send fails with
// transport.ErrConnectionLost. A Send or Recv whose context ends returns the
// context's error and closes the connection, as on TCP.
package memory
