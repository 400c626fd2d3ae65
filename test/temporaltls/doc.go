// Package temporaltls tests the security of the connection to Temporal on real servers: a
// Temporal server whose frontend requires mutual TLS (the right certificate runs a workflow,
// a missing or foreign one and a wrong CA are refused with an error that says so), and a
// gRPC server that records what an API key sends.
package temporaltls
