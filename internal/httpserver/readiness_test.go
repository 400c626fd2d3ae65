package httpserver

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

func TestReadiness(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("down") }
	cases := []struct {
		name       string
		ready      *Readiness
		drain      bool
		wantStatus int
		wantReport map[string]string
	}{
		{"all up", NewReadiness(map[string]Check{"db": ok}), false, http.StatusOK,
			map[string]string{"db": "ok", "status": "ready"}},
		{"required down", NewReadiness(map[string]Check{"db": down}), false, http.StatusServiceUnavailable,
			map[string]string{"db": "unavailable", "status": "not ready"}},
		{"optional down stays ready", NewReadiness(map[string]Check{"db": ok}).WithDegraded(map[string]Check{"redis": down}), false, http.StatusOK,
			map[string]string{"db": "ok", "redis": "degraded", "status": "ready"}},
		{"draining", NewReadiness(map[string]Check{"db": ok}), true, http.StatusServiceUnavailable,
			map[string]string{"status": "draining"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.drain {
				tc.ready.Drain()
			}
			status, report := tc.ready.evaluate(context.Background())
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d", status, tc.wantStatus)
			}
			if len(report) != len(tc.wantReport) {
				t.Fatalf("report %v, want %v", report, tc.wantReport)
			}
			for k, v := range tc.wantReport {
				if report[k] != v {
					t.Fatalf("report %v, want %v", report, tc.wantReport)
				}
			}
		})
	}
}
