package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/tools/devauth"
	"github.com/sagaflow/sagaflow/tools/localinfra"
)

// TestCodecServerTakesOperatorTokens runs `sagaflow codec-server` configured with an issuer:
// only an operator's token (orders:read_all) decodes; a customer's, a forged one or none
// is refused.
func TestCodecServerTakesOperatorTokens(t *testing.T) {
	issuer, err := devauth.NewIssuer("http://issuer.test", devauth.DefaultAudience)
	if err != nil {
		t.Fatal(err)
	}
	idp := httptest.NewServer(issuer.Handler())
	t.Cleanup(idp.Close)
	other, err := devauth.NewIssuer("http://issuer.test", devauth.DefaultAudience) // same name, another key
	if err != nil {
		t.Fatal(err)
	}
	key, err := payloadcodec.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	ports, err := localinfra.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	t.Setenv("CODEC_HTTP_ADDR", addr)
	t.Setenv("CODEC_PATH_SECRET", "")
	t.Setenv("TEMPORAL_PAYLOAD_KEYS", key)
	t.Setenv("TEMPORAL_PAYLOAD_KEY_ID", "k1")
	t.Setenv("AUTH_ISSUER", issuer.URL)
	t.Setenv("AUTH_AUDIENCE", issuer.Audience)
	t.Setenv("AUTH_JWKS_URL", idp.URL+devauth.JWKSPath)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runCodecServer(ctx, logging.Discard()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("codec server: %v", err)
		}
	})

	mint := func(iss *devauth.Issuer, subject string, scopes ...string) string {
		raw, err := iss.Mint(devauth.Token{Subject: subject, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	body := `{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"Ingi"}]}`
	cases := []struct {
		name   string
		token  string
		status int
	}{
		{"operator", mint(issuer, "alice", devauth.OperatorScopes...), http.StatusOK},
		{"customer", mint(issuer, "cust-42", devauth.CustomerScopes...), http.StatusUnauthorized},
		{"forged by another key", mint(other, "alice", devauth.OperatorScopes...), http.StatusUnauthorized},
		{"no token", "", http.StatusUnauthorized},
	}
	waitListening(t, "http://"+addr+"/healthz")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/encode", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

func waitListening(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			_ = resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer", url)
}
