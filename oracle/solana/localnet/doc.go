// Package localnet starts and stops the local Solana chain used by hexfield's tests and
// devnet: server.js, a Node JSON-RPC server (HTTP on a port, websocket pubsub on the next
// port) around the litesvm SVM, bound to loopback only. See shared/spec/solana-rewards.md §7–8.
//
// The Node side is installed with `npm ci --prefix oracle/solana/localnet`. When node or the
// packages are missing, Start returns an error matching ErrUnavailable so tests can skip.
// This package imports only the standard library.
package localnet
