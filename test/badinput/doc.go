// Package badinput holds the bad-input suite: malformed, oversized, mistyped and hostile
// requests sent as raw HTTP to the public API and to each service of a system running
// in-process over real PostgreSQL, Redis and a Temporal dev server. Every one must get a
// clear problem+json 4xx, never a 500, and must write nothing; afterwards the invariant
// auditor checks the whole system. Check is the same verdict on one answer, for the fuzz
// targets of the API and the services.
package badinput
