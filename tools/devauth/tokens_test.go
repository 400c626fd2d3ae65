package devauth

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
)

// TestTokens: each caller's token verifies at an API trusting the issuer, as that caller
// with its kind's scopes, and is minted once.
func TestTokens(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	issuer, err := NewIssuer(url, DefaultAudience)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = issuer.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := auth.NewOIDCVerifier(ctx, auth.OIDCConfig{
		Issuer: url, Audience: DefaultAudience, Algorithms: []string{"RS256"},
		ClockSkew: time.Second, JWKSRefresh: time.Hour, JWKSMinRefresh: time.Second,
	}, nil, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	tokens := NewTokens(issuer)
	cases := []struct {
		name    string
		mint    func() (string, error)
		subject string
		scopes  []string
	}{
		{"a customer", func() (string, error) { return tokens.Customer("cust-1") }, "cust-1", CustomerScopes},
		{"another customer", func() (string, error) { return tokens.Customer("cust-2") }, "cust-2", CustomerScopes},
		{"an operator", func() (string, error) { return tokens.Operator("ops") }, "ops", OperatorScopes},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			first, err := tc.mint()
			if err != nil {
				t.Fatal(err)
			}
			again, err := tc.mint()
			if err != nil || again != first {
				t.Fatalf("the second token differs (%v): one per caller is reused", err)
			}
			if seen[first] {
				t.Fatal("two callers got the same token")
			}
			seen[first] = true
			p, err := v.Verify(ctx, first)
			if err != nil || p.Subject != tc.subject || !slices.Equal(p.Scopes, tc.scopes) {
				t.Fatalf("principal %+v, err %v; want %s with %v", p, err, tc.subject, tc.scopes)
			}
		})
	}
}
