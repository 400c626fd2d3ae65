// Package auth decides who is calling: it verifies bearer JWTs (OIDC access tokens at the
// public API, short-lived service tokens between components), puts the caller's Principal
// on the request context, and refuses what the operation does not allow with 401 or 403
// problems. It also signs the service tokens a component sends to the services it calls.
package auth

import (
	"context"
	"slices"
	"strings"
)

// Scopes of the public API's access tokens.
const (
	// ScopeOrdersRead lets a customer read and list their own orders.
	ScopeOrdersRead = "orders:read"
	// ScopeOrdersWrite lets a customer place and cancel their own orders.
	ScopeOrdersWrite = "orders:write"
	// ScopeOrdersApprove lets an operator approve, reject and cancel any order.
	ScopeOrdersApprove = "orders:approve"
	// ScopeOrdersReadAll lets an operator read and list every customer's orders (and decode
	// sagas in the Web UI through the codec server).
	ScopeOrdersReadAll = "orders:read_all"
)

// Service identities: each component that calls a service signs its tokens with its own
// key, and each service operation names the identities it accepts.
const (
	IdentityAPI             = "api"
	IdentitySagaWorker      = "saga-worker"
	IdentityOrdersWorker    = "orders-worker"
	IdentityPaymentsWorker  = "payments-worker"
	IdentityInventoryWorker = "inventory-worker"
	// IdentityAdmin is the operators' tooling: catalog changes (seed), the audit.
	IdentityAdmin = "admin"
)

// Identities lists every service identity.
func Identities() []string {
	return []string{IdentityAPI, IdentitySagaWorker, IdentityOrdersWorker, IdentityPaymentsWorker, IdentityInventoryWorker, IdentityAdmin}
}

// Principal is the verified caller of a request.
type Principal struct {
	// Subject is the token's sub: the customer id, the operator's id, or a service identity.
	Subject string
	Scopes  []string
	// Service is set for a service token: Subject is then one of Identities().
	Service bool
	// Unauthenticated is set when authentication is switched off (local use only): every
	// check passes and the caller is whoever the request says.
	Unauthenticated bool
}

// Has reports whether the principal holds scope.
func (p Principal) Has(scope string) bool {
	return p.Unauthenticated || slices.Contains(p.Scopes, scope)
}

// HasAny reports whether the principal holds one of scopes.
func (p Principal) HasAny(scopes ...string) bool {
	return slices.ContainsFunc(scopes, p.Has)
}

// parseScopes reads the scope claim: a space-separated string (RFC 8693, RFC 9068) or, as
// some issuers send it, a list.
func parseScopes(v any) []string {
	switch s := v.(type) {
	case string:
		return strings.Fields(s)
	case []any:
		out := make([]string, 0, len(s))
		for _, e := range s {
			if str, ok := e.(string); ok {
				out = append(out, str)
			}
		}
		return out
	case []string:
		return s
	}
	return nil
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// From returns the request's principal. ok is false on a route that is not protected.
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
