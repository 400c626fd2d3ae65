package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/internal/correlation"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	paymentclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/tools/audit"
	"github.com/sagaflow/sagaflow/workflows"
)

// Result is one scenario's summary row.
type Result struct {
	Scenario  string
	Sent      int // distinct orders (Idempotency-Keys) the clients sent
	Accepted  int // orders the API accepted (202 or 200)
	Confirmed int
	Failed    int
	Cancelled int
	// Duplicates counts second sagas for one key, second authorizations or captures of
	// one payment, and orders nobody placed.
	Duplicates int
	// Violations counts the auditor's findings plus orders lost or ending other than
	// their kind demands (e.g. a transient fault that caused a compensation).
	Violations int
	// Quiescence is the time from healing the fault until every order was terminal and
	// every saga closed.
	Quiescence time.Duration
	// Problems describes each duplicate and violation.
	Problems []string
	// Audit is the auditor's text report.
	Audit string
	// Evidence that the fault hit work in flight: activity attempts that timed out or
	// failed and were retried, across every saga's history.
	ActivityTimeouts int
	ActivityRetries  int
	// WorkflowTaskTimeouts counts saga workflow tasks that timed out (a saga worker died
	// holding them) and were handed to another worker.
	WorkflowTaskTimeouts int
	// QueuedCalls counts the calls scheduled on each service's task queue. With local
	// steps a call lands there only after its local attempt failed, so this shows the
	// work a struggling service handed to its own pool.
	QueuedCalls map[string]int
}

// Evidence summarises how hard the fault hit work in flight.
func (r Result) Evidence() string {
	return fmt.Sprintf("activity retries %d (after a timeout %d), workflow task timeouts %d, calls on service queues %v",
		r.ActivityRetries, r.ActivityTimeouts, r.WorkflowTaskTimeouts, r.QueuedCalls)
}

// Row formats the result as a Markdown table row.
func (r Result) Row() string {
	return fmt.Sprintf("| %s | %d | %d / %d / %d | %d | %d | %.1f s |",
		r.Scenario, r.Sent, r.Confirmed, r.Failed, r.Cancelled, r.Duplicates, r.Violations, r.Quiescence.Seconds())
}

// RowHeader is the table's header.
const RowHeader = "| scenario | orders sent | confirmed / failed / cancelled | duplicates | invariant violations | time to quiescence |\n| --- | --- | --- | --- | --- | --- |"

// Verify waits until the system is quiet (every order the load placed is terminal, every
// saga closed; at most bound after healedAt), then checks everything: the auditor, each
// order's outcome against its kind, no second saga, authorization or capture, and a replay
// of every saga's history against the current workflow code.
func (e *Env) Verify(ctx context.Context, name string, load *Load, healedAt time.Time, bound time.Duration) (Result, error) {
	r := Result{Scenario: name}
	orders := load.Placed()
	keys := map[string]bool{}
	want := map[string]*Order{}
	for _, o := range orders {
		keys[o.Key] = true
		if o.ID != "" {
			want[o.ID] = o
		} else {
			r.problem(true, "order %s (%s) was never accepted: %v; answers %v", o.Key, o.Kind, o.Err, o.Statuses)
		}
		if o.Err != nil && o.ID != "" {
			r.problem(true, "order %s (%s): %v", o.ID, o.Kind, o.Err)
		}
	}
	r.Sent, r.Accepted = len(keys), len(want)

	got, err := e.quiesce(ctx, want, healedAt.Add(bound))
	r.Quiescence = time.Since(healedAt)
	if err != nil {
		return r, err
	}

	for id, o := range want {
		st, ok := got[id]
		switch {
		case !ok:
			r.problem(true, "order %s (%s) is missing from the order service", id, o.Kind)
		case st.Status != o.Kind.Expected():
			r.problem(true, "order %s (%s) ended %s (%s), want %s", id, o.Kind, st.Status, st.FailureReason, o.Kind.Expected())
		}
	}
	for id, st := range got {
		switch st.Status {
		case orderclient.StatusConfirmed:
			r.Confirmed++
		case orderclient.StatusFailed:
			r.Failed++
		case orderclient.StatusCancelled:
			r.Cancelled++
		}
		if want[id] == nil {
			r.problem(false, "order %s is in the order service but nobody placed it", id)
		}
	}

	if err := e.checkSagas(ctx, want, &r); err != nil {
		return r, err
	}
	if err := e.checkPayments(ctx, &r); err != nil {
		return r, err
	}
	actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	report, err := audit.New(e.Orders, e.Payments, e.Inventory).Run(actx, audit.Options{})
	if err != nil {
		return r, fmt.Errorf("audit: %w", err)
	}
	var b bytes.Buffer
	_ = report.WriteText(&b)
	r.Audit = b.String()
	for _, v := range report.Violations {
		r.problem(true, "audit: %s", v)
	}
	sort.Strings(r.Problems)
	return r, nil
}

func (r *Result) problem(violation bool, format string, args ...any) {
	if violation {
		r.Violations++
	} else {
		r.Duplicates++
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// quiesce polls the order service and Temporal until every wanted order is terminal and
// no saga runs, and returns the orders.
func (e *Env) quiesce(ctx context.Context, want map[string]*Order, deadline time.Time) (map[string]orderclient.Order, error) {
	for {
		got, err := e.allOrders(ctx)
		if err == nil {
			open := 0
			for id := range want {
				if o, ok := got[id]; !ok || !o.Status.IsTerminal() {
					open++
				}
			}
			if open == 0 {
				running, err := e.CountSagas(ctx, "ExecutionStatus='Running'")
				if err == nil && running == 0 {
					return got, nil
				}
			}
			if time.Now().After(deadline) {
				return got, fmt.Errorf("not quiet in time: %d of %d orders not terminal", open, len(want))
			}
		} else if time.Now().After(deadline) {
			return nil, fmt.Errorf("not quiet in time: %w", err)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

func (e *Env) allOrders(ctx context.Context) (map[string]orderclient.Order, error) {
	out := map[string]orderclient.Order{}
	f := orderclient.ListFilter{Limit: 100}
	for {
		page, err := e.Orders.List(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Items {
			out[o.ID] = o
		}
		if page.NextCursor == "" {
			return out, nil
		}
		f.Cursor = page.NextCursor
	}
}

// CountSagas counts the order sagas matching a visibility query ("" = all).
func (e *Env) CountSagas(ctx context.Context, query string) (int, error) {
	n := 0
	err := e.listWorkflows(ctx, query, func(string, string) { n++ })
	return n, err
}

func (e *Env) listWorkflows(ctx context.Context, query string, each func(id, runID string)) error {
	q := "WorkflowType='" + workflows.OrderSagaName + "'"
	if query != "" {
		q += " AND " + query
	}
	var token []byte
	for {
		resp, err := e.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, NextPageToken: token, PageSize: 1000})
		if err != nil {
			return err
		}
		for _, ex := range resp.GetExecutions() {
			each(ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return nil
		}
	}
}

// checkSagas counts the runs per workflow id (one saga per key) and replays every history.
func (e *Env) checkSagas(ctx context.Context, want map[string]*Order, r *Result) error {
	runs := map[string][]string{}
	if err := e.listWorkflows(ctx, "", func(id, run string) { runs[id] = append(runs[id], run) }); err != nil {
		return fmt.Errorf("list sagas: %w", err)
	}
	for id := range want {
		if len(runs[workflows.WorkflowID(id)]) == 0 {
			r.problem(true, "order %s has no saga", id)
		}
	}
	// The histories hold encrypted payloads: the replayer reads them with the stack's keys.
	dc, err := e.Stack.PayloadKeys.DataConverter()
	if err != nil {
		return err
	}
	fc, err := e.Stack.PayloadKeys.FailureConverter()
	if err != nil {
		return err
	}
	replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		ContextPropagators: []workflow.ContextPropagator{correlation.NewPropagator()},
		DataConverter:      dc,
		FailureConverter:   fc,
	})
	if err != nil {
		return err
	}
	replayer.RegisterWorkflowWithOptions(workflows.OrderSaga, workflow.RegisterOptions{Name: workflows.OrderSagaName})
	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for id, list := range runs {
		if len(list) > 1 {
			r.problem(false, "workflow %s has %d runs", id, len(list))
		}
		if want[strings.TrimPrefix(id, "order-")] == nil {
			r.problem(false, "saga %s belongs to no accepted order", id)
		}
		for _, run := range list {
			hist, err := e.history(ctx, id, run)
			if err != nil {
				return fmt.Errorf("history of %s: %w", id, err)
			}
			for _, ev := range hist.GetEvents() {
				if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
					if r.QueuedCalls == nil {
						r.QueuedCalls = map[string]int{}
					}
					r.QueuedCalls[a.GetTaskQueue().GetName()]++
				}
				if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
					r.ActivityRetries++
					if a.GetLastFailure().GetTimeoutFailureInfo() != nil {
						r.ActivityTimeouts++
					}
				}
				if ev.GetActivityTaskTimedOutEventAttributes() != nil {
					r.ActivityTimeouts++
				}
				if ev.GetWorkflowTaskTimedOutEventAttributes() != nil {
					r.WorkflowTaskTimeouts++
				}
				if a := ev.GetWorkflowTaskFailedEventAttributes(); a != nil &&
					a.GetCause() == enumspb.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR {
					r.problem(true, "saga %s hit non-determinism: %s", id, a.GetFailure().GetMessage())
				}
			}
			if err := replayer.ReplayWorkflowHistory(quiet, hist); err != nil {
				r.problem(true, "saga %s does not replay: %v", id, err)
			}
		}
	}
	return nil
}

func (e *Env) history(ctx context.Context, id, run string) (*historypb.History, error) {
	it := e.Temporal.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}

// checkPayments counts authorizations and captures per payment: one each at most.
func (e *Env) checkPayments(ctx context.Context, r *Result) error {
	after := ""
	for {
		page, err := e.Payments.List(ctx, "", after, 500)
		if err != nil {
			return fmt.Errorf("list payments: %w", err)
		}
		for _, p := range page.Items {
			n := map[string]int{}
			for _, en := range p.Ledger {
				n[en.Kind]++
			}
			if n[paymentclient.EntryAuthorize] > 1 || n[paymentclient.EntryCapture] > 1 {
				r.problem(false, "payment of %s: %d authorizations, %d captures", p.OrderID,
					n[paymentclient.EntryAuthorize], n[paymentclient.EntryCapture])
			}
		}
		if page.Next == "" {
			return nil
		}
		after = page.Next
	}
}
