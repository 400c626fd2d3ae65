package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/tools/audit"
)

// requireInvariants runs the auditor over everything the scenarios left behind: every
// order terminal, stock and money conserved, nothing charged twice, the services agreeing.
func (s *liveSystem) requireInvariants(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	report, err := audit.New(s.orders, s.payments, s.inventory).Run(ctx, audit.Options{InFlightBound: 0})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	var out bytes.Buffer
	if err := report.WriteText(&out); err != nil {
		t.Fatalf("audit report: %v", err)
	}
	t.Log(out.String())
	if !report.OK() {
		t.Fatalf("invariants violated:\n%s", out.String())
	}
}
