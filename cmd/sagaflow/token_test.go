package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/tools/devauth"
)

// TestTokenVerifiesAtTheAPI mints tokens as the README does and verifies them the way the
// API does, against the key set served from the same state folder.
func TestTokenVerifiesAtTheAPI(t *testing.T) {
	state := t.TempDir()
	mint := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := runToken(append(args, "--state", state), &out); err != nil {
			t.Fatalf("token %v: %v", args, err)
		}
		return strings.TrimSpace(out.String())
	}
	customer := mint("--customer", "cust-42")
	operator := mint("--operator", "alice", "--ttl", "5m")

	// What `make run` serves: the issuer loaded from the same folder.
	issuer, err := devauth.LoadIssuer(filepath.Join(state, devauth.StateSubdir), devauth.LocalIssuerURL, devauth.DefaultAudience)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(issuer.Handler())
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := auth.NewOIDCVerifier(ctx, auth.OIDCConfig{
		Issuer: devauth.LocalIssuerURL, Audience: devauth.DefaultAudience, JWKSURL: srv.URL + devauth.JWKSPath,
		Algorithms: []string{"RS256"}, ClockSkew: time.Second, JWKSRefresh: time.Hour, JWKSMinRefresh: time.Second,
	}, nil, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token, subject string
		scopes         []string
	}{
		{customer, "cust-42", devauth.CustomerScopes},
		{operator, "alice", devauth.OperatorScopes},
	} {
		p, err := v.Verify(ctx, tc.token)
		if err != nil {
			t.Fatalf("%s: %v", tc.subject, err)
		}
		if p.Subject != tc.subject || !slices.Equal(p.Scopes, tc.scopes) {
			t.Fatalf("principal = %+v, want %s with %v", p, tc.subject, tc.scopes)
		}
	}
}

func TestTokenUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--customer", "a", "--operator", "b"},
		{"--customer", "a", "extra"},
		{"--customer", "a", "--ttl", "48h"},
	} {
		err := runToken(append(args, "--state", t.TempDir()), &bytes.Buffer{})
		var usage *usageError
		if !errors.As(err, &usage) {
			t.Errorf("token %v: err = %v, want a usage error", args, err)
		}
	}
}
