// Package e2e holds the end-to-end tests: the three services, every worker pool and the
// public API run in-process over real PostgreSQL, Redis and a Temporal dev server, and
// orders go through the public HTTP API as a client would send them.
package e2e
