package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/humatest"

	"github.com/sagaflow/sagaflow/internal/logging"
)

// fixedVerifier accepts one token as one principal.
type fixedVerifier struct {
	token string
	p     Principal
}

func (v fixedVerifier) Verify(_ context.Context, raw string) (Principal, error) {
	if raw != v.token {
		return Principal{}, refuse(ReasonSignature, errors.New("not the token"))
	}
	return v.p, nil
}

// TestGuard: what each guard answers on an operation that needs orders:read, and on one
// whose handler refuses the caller itself.
func TestGuard(t *testing.T) {
	reader := fixedVerifier{token: "good", p: Principal{Subject: "cust-1", Scopes: []string{ScopeOrdersRead}}}
	cases := []struct {
		name          string
		guard         *Guard
		path          string
		authorization string
		status        int
		challenge     string // a fragment WWW-Authenticate must hold; "" = no header
	}{
		{"valid token", NewGuard(reader, logging.Discard()), "/read", "Bearer good", 204, ""},
		{"no token", NewGuard(reader, logging.Discard()), "/read", "", 401, `Bearer realm="sagaflow"`},
		{"invalid token", NewGuard(reader, logging.Discard()), "/read", "Bearer bad", 401, `error="invalid_token"`},
		{"without the scope", NewGuard(fixedVerifier{token: "good", p: Principal{Subject: "c"}}, logging.Discard()), "/read", "Bearer good", 403, `error="insufficient_scope", scope="orders:read"`},
		// A guard built without a verifier refuses every token rather than letting it through.
		{"no verifier", NewGuard(nil, logging.Discard()), "/read", "Bearer good", 401, `error="invalid_token"`},
		{"unprotected", Unprotected(logging.Discard()), "/read", "", 204, ""},
		// A handler's own refusal carries the challenge every documented 403 has.
		{"refused by the handler", NewGuard(reader, logging.Discard()), "/forbidden", "Bearer good", 403, `error="insufficient_scope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, api := humatest.New(t)
			tc.guard.Install(api)
			Declare(api, "test tokens")
			req := Requirement{Scopes: []string{ScopeOrdersRead}}
			huma.Register(api, Protect(huma.Operation{OperationID: "read", Method: http.MethodGet, Path: "/read"}, req),
				func(context.Context, *struct{}) (*struct{}, error) { return nil, nil })
			huma.Register(api, Protect(huma.Operation{OperationID: "forbidden", Method: http.MethodGet, Path: "/forbidden"}, req),
				func(context.Context, *struct{}) (*struct{}, error) { return nil, Forbidden("not yours") })
			var args []any
			if tc.authorization != "" {
				args = append(args, "Authorization: "+tc.authorization)
			}
			resp := api.Get(tc.path, args...)
			if resp.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.Code, tc.status, resp.Body.String())
			}
			got := resp.Header().Get("WWW-Authenticate")
			if (tc.challenge == "") != (got == "") || !strings.Contains(got, tc.challenge) {
				t.Fatalf("WWW-Authenticate %q, want it to hold %q", got, tc.challenge)
			}
		})
	}
}
