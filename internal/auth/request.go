package auth

import (
	"errors"
	"net/http"
)

// RequestChecker returns a check of a plain HTTP request (outside Huma, e.g. the codec
// server): its bearer token must verify and hold one of scopes.
func RequestChecker(v TokenVerifier, scopes ...string) func(*http.Request) error {
	return func(r *http.Request) error {
		raw, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			return &TokenError{Reason: ReasonMissing}
		}
		p, err := v.Verify(r.Context(), raw)
		if err != nil {
			return err
		}
		if p.Service || !p.HasAny(scopes...) {
			return errors.New("the token does not hold a scope this needs")
		}
		return nil
	}
}
