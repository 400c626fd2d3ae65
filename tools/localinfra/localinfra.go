// Package localinfra starts and stops the local infrastructure that `make run`, the tests,
// the fault suite and the benchmark need: the Temporal dev server, private PostgreSQL
// clusters and redis-servers, and the databases on a PostgreSQL server; and, for the tests
// of the Temporal connection's security, the real Temporal server with mutual TLS and a
// throwaway PKI for it. Every server binds 127.0.0.1 only, and a process is only ever
// stopped through the handle of the code that started it (its PID, or pg_ctl on the
// cluster's own data folder), never by name.
//
// It knows nothing of the saga: callers pass in what is theirs (search attributes,
// database names, ports).
package localinfra
