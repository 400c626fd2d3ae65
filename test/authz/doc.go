// Package authz holds the authorization suite of the public API: every operation called by
// every kind of caller (no token, malformed and forged tokens, tokens that are expired, not
// yet valid, of another issuer or audience, another service's token, a customer on their
// own and on another customer's order, an operator, an admin without order scopes) against
// a system running in-process over real PostgreSQL, Redis and a Temporal dev server. Each
// cell's status is written in a table; a refusal must be a problem that leaks nothing, with
// its WWW-Authenticate challenge, and must write nothing anywhere; an acceptance must do
// what it says, for the token's subject.
package authz
