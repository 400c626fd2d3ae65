package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/tools/devstack"
	"github.com/sagaflow/sagaflow/tools/localinfra"
	"github.com/sagaflow/sagaflow/tools/stack"
)

// TestStackRunsOrdersAcrossProcessRestarts starts every component as its own process,
// places an order, kills and restarts the saga pool, and places another.
func TestStackRunsOrdersAcrossProcessRestarts(t *testing.T) {
	ctx := context.Background()
	root, err := stack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := stack.Build(ctx, root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	temporalBin, err := localinfra.FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	_, prefix := testenv.Redis(t)
	s, err := stack.Start(ctx, stack.Options{
		Binary:           bin,
		TemporalBinary:   temporalBin,
		StateDir:         t.TempDir(),
		AdminDatabaseURL: testenv.AdminDatabaseURL(),
		RedisURL:         testenv.RedisURL(),
		Env:              map[string]string{"REDIS_KEY_PREFIX": prefix, "RATE_LIMIT_PER_SECOND": "0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	// As `sagaflow seed` does, with the admin key.
	if _, err := devstack.SeedCatalog(ctx, s.InvURL, auth.AdminConfig{Key: string(s.Keys.Private[auth.IdentityAdmin])}); err != nil {
		t.Fatal(err)
	}
	if got := len(s.PIDs()); got != len(stack.Components())+1 {
		t.Fatalf("%d processes running, want %d", got, len(stack.Components())+1)
	}

	placeConfirmed(t, s)
	s.Proc(stack.WorkerSagas).Kill()
	if err := s.Restart(ctx, stack.WorkerSagas); err != nil {
		t.Fatal(err)
	}
	placeConfirmed(t, s)
}

func placeConfirmed(t *testing.T, s *stack.Stack) {
	t.Helper()
	token, err := s.Tokens.Customer("cust-stack")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"customer_id":"cust-stack","payment_token":"tok_visa","lines":[{"sku":"SKU-MUG","quantity":1}]}`)
	req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/orders", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "stack-"+testenv.Suffix())
	req.Header.Set("Prefer", "wait=20")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Status string `json:"status"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || out.Status != "CONFIRMED" {
		t.Fatalf("order: %d %s, want 200 CONFIRMED", resp.StatusCode, out.Status)
	}
}
