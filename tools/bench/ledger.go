package bench

import (
	"context"
	"fmt"
	"sync"

	orderclient "github.com/sagaflow/sagaflow/services/order/client"
)

// Ledger remembers every order the bench placed, to check afterwards that each accepted
// order exists exactly once, reached a terminal state, and that the order service
// recorded the outcome the API reported.
type Ledger struct {
	mu     sync.Mutex
	placed map[string]placed
}

type placed struct {
	accepted bool
	status   string // terminal status the API reported, "" when none
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{placed: map[string]placed{}} }

// Record notes the outcome of one placed order.
func (l *Ledger) Record(o Outcome) {
	if o.ID == "" {
		return
	}
	l.mu.Lock()
	l.placed[o.ID] = placed{accepted: o.Accepted, status: o.Status}
	l.mu.Unlock()
}

// RecordAll notes every outcome of a run.
func (l *Ledger) RecordAll(r Result) {
	for _, s := range r.Samples {
		l.Record(s.Outcome)
	}
}

// Reconciliation compares the ledger with the order service.
type Reconciliation struct {
	Accepted int `json:"accepted"`
	// Found counts accepted orders the order service holds in a terminal state.
	Found int `json:"found"`
	// Lost counts accepted orders the order service does not hold, or holds in a
	// non-terminal state after the traffic stopped.
	Lost int `json:"lost"`
	// Duplicated counts orders the order service holds that the bench never placed.
	Duplicated int `json:"duplicated"`
	// Disagree counts orders whose recorded status differs from what the API answered.
	Disagree int `json:"disagree"`
	// Unacknowledged counts orders the service holds whose placing request got an error
	// answer (a timeout, say): placed, but the client was not told.
	Unacknowledged int      `json:"unacknowledged"`
	Samples        []string `json:"samples,omitempty"`
}

// Reconcile reads every order from the order service and compares.
func (l *Ledger) Reconcile(ctx context.Context, orders *orderclient.Client) (Reconciliation, error) {
	held := map[string]orderclient.Status{}
	cursor := ""
	for {
		page, err := orders.List(ctx, orderclient.ListFilter{Limit: 100, Cursor: cursor})
		if err != nil {
			return Reconciliation{}, fmt.Errorf("list orders: %w", err)
		}
		for _, o := range page.Items {
			held[o.ID] = o.Status
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var r Reconciliation
	sample := func(format string, args ...any) {
		if len(r.Samples) < 10 {
			r.Samples = append(r.Samples, fmt.Sprintf(format, args...))
		}
	}
	for id, p := range l.placed {
		status, ok := held[id]
		if !p.accepted {
			if ok {
				r.Unacknowledged++
			}
			continue
		}
		r.Accepted++
		switch {
		case !ok:
			r.Lost++
			sample("order %s accepted but unknown to the order service", id)
		case !status.IsTerminal():
			r.Lost++
			sample("order %s still %s", id, status)
		default:
			r.Found++
			if p.status != "" && p.status != string(status) {
				r.Disagree++
				sample("order %s: API answered %s, order service holds %s", id, p.status, status)
			}
		}
	}
	for id := range held {
		if _, ok := l.placed[id]; !ok {
			r.Duplicated++
			sample("order %s held by the order service but never placed", id)
		}
	}
	return r, nil
}
