package api

import (
	"context"
	"net/http"
	"regexp"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/problem"
)

// bearerDescription describes the security scheme in the OpenAPI document.
const bearerDescription = "An OAuth 2 access token (a JWT) of the configured issuer, with this API as its audience. " +
	"Its subject is the customer for orders:read and orders:write, and the operator for orders:approve and orders:read_all."

// anonymous records who decided while authentication is off: nobody is known.
const anonymous = "anonymous"

// caller returns the request's principal, which the guard put on its context. A request
// without one never passed the guard (the handler was wired without it): it is refused,
// never served as anyone.
func (s *Server) caller(ctx context.Context) (auth.Principal, error) {
	p, ok := auth.From(ctx)
	if !ok || (!p.Unauthenticated && p.Subject == "") {
		s.logger.ErrorContext(ctx, "request without a verified caller: the API's guard is not installed")
		return auth.Principal{}, problem.Internal()
	}
	return p, nil
}

// customerIDPattern is what a customer id looks like, in the body and as a token subject.
var customerIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@-]*$`)

const maxCustomerID = 64

// customerFor says whose order a caller places: the token's subject. The body may repeat
// it, never name another customer. Without authentication the body names the customer.
func customerFor(p auth.Principal, named string) (string, error) {
	if p.Unauthenticated {
		if named == "" {
			return "", problem.New(http.StatusUnprocessableEntity, problem.CodeValidation,
				"customer_id is required while authentication is off")
		}
		return named, nil
	}
	if named != "" && named != p.Subject {
		return "", auth.Forbidden("an order is placed for the token's subject; customer_id may only repeat it")
	}
	if len(p.Subject) > maxCustomerID || !customerIDPattern.MatchString(p.Subject) {
		return "", auth.Forbidden("the token's subject cannot be a customer id (1 to 64 characters: letters, digits and _ . : @ -)")
	}
	return p.Subject, nil
}

// mayAccess reports whether the caller may act on an order of owner: their own, or any
// order with the scope every. An order whose owner is unknown is nobody's.
func mayAccess(p auth.Principal, owner, every string) bool {
	return p.Has(every) || (owner != "" && !p.Service && owner == p.Subject)
}

// idempotencyScope is whose Idempotency-Keys a request's key is among: the subject's, so
// one caller's key never replays or blocks another's ("" while authentication is off).
func idempotencyScope(p auth.Principal) string {
	if p.Unauthenticated {
		return ""
	}
	return p.Subject
}

// orderNotFound is the answer for an order that does not exist and for another customer's
// order alike, so a caller learns nothing of orders that are not theirs.
func orderNotFound(id string) error {
	return problem.New(http.StatusNotFound, problem.CodeNotFound, "no order with id "+id)
}
