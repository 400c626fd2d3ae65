package idempotency_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/workflows"
)

// TestMinRetentionCoversTheSaga fails when the saga may retry a call longer than the
// retention floor assumes: the API must refuse timing beyond the floor's bounds.
func TestMinRetentionCoversTheSaga(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*api.Config)
		wantErr string // the variable the API must refuse; "" means accepted
	}{
		{name: "defaults", mutate: func(*api.Config) {}},
		{name: "longest attempt", mutate: func(c *api.Config) { c.SagaActivityTimeout = idempotency.SagaMaxAttempt }},
		{name: "longer attempt", mutate: func(c *api.Config) { c.SagaActivityTimeout = idempotency.SagaMaxAttempt + time.Second },
			wantErr: "SAGA_ACTIVITY_TIMEOUT"},
		{name: "longest backoff", mutate: func(c *api.Config) { c.SagaRetryMaxInterval = idempotency.SagaMaxBackoff }},
		{name: "longer backoff", mutate: func(c *api.Config) { c.SagaRetryMaxInterval = idempotency.SagaMaxBackoff + time.Second },
			wantErr: "SAGA_RETRY_MAX_INTERVAL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := api.DefaultConfig()
			cfg.OrderServiceURL, cfg.InventoryServiceURL = "http://127.0.0.1:8081", "http://127.0.0.1:8083"
			// Only the timing is judged here: no issuer is needed without authentication.
			cfg.Insecure = true
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.wantErr == "" && err != nil {
				t.Fatalf("the API refuses timing within the floor's bounds: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("the API accepts timing beyond the floor's bounds (error %v): raise the bounds in retention.go", err)
			}
		})
	}
	if workflows.DefaultActivityTimeout > idempotency.SagaMaxAttempt {
		t.Errorf("the saga's default attempt (%s) outlasts the floor's bound (%s)", workflows.DefaultActivityTimeout, idempotency.SagaMaxAttempt)
	}
	want := idempotency.SagaMaxAttempt + idempotency.SagaMaxBackoff + idempotency.OutageAllowance
	if idempotency.MinRetention != want || idempotency.DefaultRetention < idempotency.MinRetention {
		t.Errorf("MinRetention %s, want %s; DefaultRetention %s must not be below it", idempotency.MinRetention, want, idempotency.DefaultRetention)
	}
}
