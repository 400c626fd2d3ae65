package workflows

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/activities"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
)

// maxSignalRecords bounds the signal log in the status, so a flood of signals cannot grow it.
const maxSignalRecords = 50

// moveMode says how hard an order-status move tries.
type moveMode int

const (
	// moveForward: unlimited retries of transient failures; a refusal ends the forward path.
	moveForward moveMode = iota
	// moveBestEffort: one capped batch; a failure is logged and the saga goes on.
	moveBestEffort
	// movePersistent: until it succeeds, for moves the order must make.
	movePersistent
)

// pricing goes with the move to RESERVED.
type pricing struct {
	lines    []activities.PricedLine
	currency string
}

// setStatus is the one way the saga changes the order's status: its own view (status query,
// search attribute, Web UI details) and the order service's record. Each move sends the
// idempotency key "<workflow id>/status-<STATUS>" ("-2", "-3" … for repeated moves).
func (s *saga) setStatus(ctx workflow.Context, status orderclient.Status, reason string, mode moveMode, p *pricing) error {
	s.showStatus(status)
	s.lastMoveAttempts = 0
	if !s.orderRecorded {
		return nil
	}
	s.moves[status]++
	key := s.key("status-" + string(status))
	if n := s.moves[status]; n > 1 {
		key += "-" + strconv.Itoa(n)
	}
	in := activities.TransitionInput{IdempotencyKey: key, OrderID: s.in.OrderID, Status: status, Reason: truncate(reason, 500)}
	if p != nil {
		in.Lines, in.Currency = p.lines, p.currency
	}
	c := call{
		activity: activities.OrdersTransition, queue: s.queues.Orders,
		summary: "Move order " + s.in.OrderID + " to " + string(status), input: in,
	}
	var out activities.OrderResult
	switch mode {
	case moveBestEffort:
		n, err := s.exec(ctx, c, batchRetry(), &out)
		s.lastMoveAttempts = n
		if err != nil {
			s.logger.Warn("order status not recorded", "status", status, "error", err)
			return err
		}
	case movePersistent:
		s.lastMoveAttempts = s.persist(ctx, c, forwardRetry(), &out, func(total int32, err error) {
			s.logger.Error("order status move keeps failing; retrying", "status", status, "attempts", total, "error", err)
			s.reportRunning(total, err)
		})
	default:
		n, err := s.exec(ctx, c, forwardRetry(), &out)
		s.lastMoveAttempts = n
		if err != nil {
			return err
		}
	}
	s.recorded = status
	return nil
}

// showStatus changes the saga's own view of the status: the status query, the search
// attribute and the Web UI details.
func (s *saga) showStatus(status orderclient.Status) {
	s.st.Status = status
	s.upsert(SearchOrderStatus.ValueSet(string(status)))
	s.publish()
}

// listen receives the approve, reject and cancel signals for the whole run, on a context
// that a workflow cancellation does not stop.
func (s *saga) listen(ctx workflow.Context) {
	gctx, _ := workflow.NewDisconnectedContext(ctx)
	sel := workflow.NewSelector(gctx)
	for _, name := range []string{SignalApprove, SignalReject, SignalCancel} {
		sel.AddReceive(workflow.GetSignalChannel(gctx, name), func(c workflow.ReceiveChannel, _ bool) {
			var d Decision
			// A payload that does not decode is dropped (and logged) by the SDK.
			if c.ReceiveAsync(&d) {
				s.onSignal(name, d)
			}
		})
	}
	workflow.Go(gctx, func(gctx workflow.Context) {
		for {
			sel.Select(gctx)
		}
	})
}

func (s *saga) onSignal(name string, d Decision) {
	rec := SignalRecord{Name: name, By: truncate(d.By, 100), Reason: truncate(d.Reason, 500), At: workflow.Now(s.ctx), Outcome: SignalIgnored}
	decision := Decision{By: rec.By, Reason: rec.Reason}
	switch name {
	case SignalApprove, SignalReject:
		switch {
		case s.st.DecisionKind != "":
			rec.Note = "the order was already " + s.st.DecisionKind
		case !s.approvalOpen:
			rec.Note = "the order is not awaiting approval (status " + string(s.st.Status) + ")"
		default:
			s.st.Decision = &decision
			s.st.DecisionKind = DecisionApproved
			if name == SignalReject {
				s.st.DecisionKind = DecisionRejected
			}
			rec.Outcome = SignalAccepted
		}
	case SignalCancel:
		switch {
		case s.st.PastPivot:
			rec.Note = "the payment capture has started; the order can no longer be cancelled"
		case s.stopping:
			rec.Note = "the order is already being closed (" + string(s.st.Status) + ")"
		case s.cancelSignal != nil:
			rec.Note = "a cancel is already in progress"
		default:
			s.cancelSignal = &decision
			s.cancelForward()
			rec.Outcome = SignalAccepted
		}
	}
	s.st.Signals = append(s.st.Signals, rec)
	if len(s.st.Signals) > maxSignalRecords {
		s.st.Signals = s.st.Signals[len(s.st.Signals)-maxSignalRecords:]
	}
	if rec.Outcome == SignalAccepted {
		s.logger.Info("signal accepted", "signal", name, "by", rec.By, "reason", rec.Reason)
	} else {
		s.logger.Warn("signal ignored", "signal", name, "by", rec.By, "reason", rec.Reason, "why", rec.Note)
	}
	s.publish()
}

// query answers the status query with a copy, so the caller never shares the saga's slices.
func (s *saga) query() (SagaStatus, error) {
	out := s.st
	out.Steps = append([]StepState(nil), s.st.Steps...)
	out.Compensations = append([]StepState{}, s.st.Compensations...)
	out.Lines = append([]PricedLine(nil), s.st.Lines...)
	out.Signals = append([]SignalRecord(nil), s.st.Signals...)
	out.Resolutions = append([]Resolution(nil), s.st.Resolutions...)
	if s.st.Decision != nil {
		d := *s.st.Decision
		out.Decision = &d
	}
	return out, nil
}

func (s *saga) begin(step string) {
	s.st.CurrentStep = step
	s.setStep(step, StepRunning, 0, "")
}

// setStep records a step's state and attempts.
func (s *saga) setStep(name, status string, attempts int32, errText string) {
	for i := range s.st.Steps {
		if s.st.Steps[i].Name == name {
			s.st.Steps[i] = StepState{Name: name, Status: status, Attempts: attempts, Error: errText}
		}
	}
	s.publish()
}

// reportRunning shows the attempts and last error of the running step while it keeps failing.
func (s *saga) reportRunning(attempts int32, err error) {
	for i := range s.st.Steps {
		if s.st.Steps[i].Name == s.st.CurrentStep && s.st.Steps[i].Status == StepRunning {
			s.st.Steps[i].Attempts = attempts
			s.st.Steps[i].Error = errorText(err)
		}
	}
	s.publish()
}

// markStep changes a step's state and keeps its attempts.
func (s *saga) markStep(name, status string) {
	for i := range s.st.Steps {
		if s.st.Steps[i].Name == name {
			s.st.Steps[i].Status = status
		}
	}
	s.publish()
}

func (s *saga) upsert(updates ...temporal.SearchAttributeUpdate) {
	if err := workflow.UpsertTypedSearchAttributes(s.ctx, updates...); err != nil {
		s.logger.Warn("search attributes not updated", "error", err)
	}
}

// publish refreshes the Web UI's current details.
func (s *saga) publish() {
	workflow.SetCurrentDetails(s.ctx, s.details())
}

// details renders the saga as short markdown for the Web UI.
func (s *saga) details() string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Order %s** · **%s**", s.in.OrderID, s.st.Status)
	if s.st.Currency != "" {
		fmt.Fprintf(&b, " · total %d %s (minor units)", s.st.Total, s.st.Currency)
	}
	if s.st.PastPivot {
		b.WriteString(" · past the capture")
	}
	b.WriteString("\n\n")
	for _, st := range s.st.Steps {
		writeStep(&b, st)
	}
	if len(s.st.Compensations) > 0 {
		b.WriteString("\n**Compensations**\n\n")
		for _, st := range s.st.Compensations {
			writeStep(&b, st)
		}
	}
	if s.st.FailureReason != "" {
		fmt.Fprintf(&b, "\n**Reason:** %s\n", s.st.FailureReason)
	}
	return b.String()
}

func writeStep(b *strings.Builder, st StepState) {
	fmt.Fprintf(b, "- `%s` %s", st.Name, st.Status)
	if st.Attempts > 1 {
		fmt.Fprintf(b, " (%d attempts)", st.Attempts)
	}
	if st.Error != "" {
		fmt.Fprintf(b, " — %s", st.Error)
	}
	if r := st.Resolution; r != nil {
		fmt.Fprintf(b, " · resolved by operator %s at %s: %s", r.By, r.At.UTC().Format(time.RFC3339), r.Reason)
	}
	b.WriteString("\n")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
