package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	orderclient "github.com/sagaflow/sagaflow/services/order/client"
)

// errInvalidResolve is the application error type of a refused resolve-compensation.
const errInvalidResolve = "InvalidResolve"

// resolveDescription is shown by `temporal workflow metadata` and the Web UI.
const resolveDescription = `While a compensation keeps failing: {"by", "reason", "action": "retry-now" | "mark-resolved"}. See docs/operations.md.`

// operator is the saga's side of the resolve-compensation escape hatch: what the
// compensation loop exposes to the handlers while a compensation runs, and what the
// handlers ask the loop to do.
type operator struct {
	// active is true while the compensation at index idx of st.Compensations runs.
	active bool
	idx    int
	// sleeping is true during the backoff pause between two failed batches; wake ends it.
	sleeping bool
	wake     workflow.CancelFunc
	// stop cancels the batch of attempts in flight.
	stop workflow.CancelFunc
	// skipPause makes the loop retry without pausing after the batch in flight fails.
	skipPause bool
	// resolved is a mark-resolved request the loop has not applied yet.
	resolved *Resolution
	// settled lists the compensations marked resolved, for the order's terminal reason.
	settled []Resolution
}

// handleOperator registers the resolve-compensation update (validated before it enters
// the history) and the signal of the same name, which goes through the same checks.
func (s *saga) handleOperator(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateResolveCompensation,
		func(ctx workflow.Context, req ResolveRequest) (Resolution, error) {
			// The validator ran just before, in the same workflow task; checking again
			// keeps the handler safe on its own.
			if err := s.checkResolve(req); err != nil {
				return Resolution{}, err
			}
			return s.resolve(ctx, req, ViaUpdate), nil
		},
		workflow.UpdateHandlerOptions{Validator: s.checkResolve, Description: resolveDescription},
	)
	if err != nil {
		return err
	}
	gctx, _ := workflow.NewDisconnectedContext(ctx)
	ch := workflow.GetSignalChannelWithOptions(gctx, SignalResolveCompensation,
		workflow.SignalChannelOptions{Description: resolveDescription})
	workflow.Go(gctx, func(gctx workflow.Context) {
		for {
			// Raw JSON, so a malformed input is recorded as ignored instead of dropped.
			var raw json.RawMessage
			ch.Receive(gctx, &raw)
			s.onResolveSignal(gctx, raw)
		}
	})
	return nil
}

// checkResolve is the update's validator: it must not change state.
func (s *saga) checkResolve(req ResolveRequest) error {
	if why := s.refusal(req); why != "" {
		return temporal.NewNonRetryableApplicationError(why, errInvalidResolve, nil)
	}
	return nil
}

// refusal says why a resolve request cannot be applied now ("" when it can).
func (s *saga) refusal(req ResolveRequest) string {
	refuse := fmt.Sprintf
	switch {
	case strings.TrimSpace(req.By) == "":
		return refuse("by is required: who resolves the compensation")
	case strings.TrimSpace(req.Reason) == "":
		return refuse("reason is required: why and how the compensation is resolved")
	case len(req.By) > 100 || len(req.Reason) > 500:
		return refuse("by is limited to 100 bytes and reason to 500")
	case strings.ContainsFunc(req.By+req.Reason, unicode.IsControl):
		return refuse("by and reason must not contain control characters")
	case req.Action != ResolveRetryNow && req.Action != ResolveMarkResolved:
		return refuse("action must be %q or %q, not %q", ResolveRetryNow, ResolveMarkResolved, req.Action)
	case !s.op.active || !s.st.CompensationFailing:
		return refuse("no compensation is failing (order status %s); resolve-compensation applies only while a compensation keeps failing", s.st.Status)
	case s.op.resolved != nil:
		return refuse("%s is already marked resolved", s.st.Compensations[s.op.idx].Name)
	}
	return ""
}

// resolve applies a checked request to the failing compensation and records it.
func (s *saga) resolve(ctx workflow.Context, req ResolveRequest, via string) Resolution {
	rec := Resolution{
		Step: s.st.Compensations[s.op.idx].Name, Action: req.Action,
		By: req.By, Reason: req.Reason, At: workflow.Now(ctx), Via: via,
	}
	switch req.Action {
	case ResolveRetryNow:
		if s.op.sleeping {
			rec.Note = "the backoff pause was cut short; retrying now"
			s.op.wake()
		} else {
			rec.Note = "a retry is under way; if it fails, the next one starts without a pause"
			s.op.skipPause = true
		}
	case ResolveMarkResolved:
		rec.Note = "retries stopped; the saga goes on to close the order without this compensation"
		r := rec
		s.op.resolved = &r
		if s.op.stop != nil {
			s.op.stop()
		}
		if s.op.wake != nil {
			s.op.wake()
		}
	}
	s.st.Resolutions = append(s.st.Resolutions, rec)
	if len(s.st.Resolutions) > maxSignalRecords {
		s.st.Resolutions = s.st.Resolutions[len(s.st.Resolutions)-maxSignalRecords:]
	}
	s.logger.Warn("compensation resolution by operator", "compensation", rec.Step, "action", rec.Action,
		"by", rec.By, "reason", rec.Reason, "via", via)
	s.publish()
	return rec
}

// onResolveSignal checks a resolve-compensation signal like the update's validator does,
// applies it when valid and lists it in the status either way.
func (s *saga) onResolveSignal(ctx workflow.Context, raw json.RawMessage) {
	rec := SignalRecord{Name: SignalResolveCompensation, At: workflow.Now(ctx), Outcome: SignalIgnored}
	var req ResolveRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		rec.Note = `the input is not {"by", "reason", "action"}: ` + truncate(err.Error(), 200)
	} else {
		rec.By, rec.Reason, rec.Action = truncate(req.By, 100), truncate(req.Reason, 500), truncate(req.Action, 50)
		if why := s.refusal(req); why != "" {
			rec.Note = why
		} else {
			rec.Note = s.resolve(ctx, req, ViaSignal).Note
			rec.Outcome = SignalAccepted
		}
	}
	if rec.Outcome != SignalAccepted {
		s.logger.Warn("signal ignored", "signal", rec.Name, "by", rec.By, "reason", rec.Reason, "why", rec.Note)
	}
	s.st.Signals = append(s.st.Signals, rec)
	if len(s.st.Signals) > maxSignalRecords {
		s.st.Signals = s.st.Signals[len(s.st.Signals)-maxSignalRecords:]
	}
	s.publish()
}

// runCompensation runs the compensation at index idx of st.Compensations until it
// succeeds or an operator marks it resolved: batch after batch, reporting each failed
// batch (status, search attribute, log) and pausing with capped backoff in between. An
// operator's retry-now ends a pause early; mark-resolved cancels the batch in flight.
// Without an operator it makes exactly the calls and timers of persist.
func (s *saga) runCompensation(dctx workflow.Context, c compensation, idx int) {
	s.op.active, s.op.idx = true, idx
	defer func() { s.op = operator{settled: s.op.settled} }()
	var total int32
	pause := batchPauseFirst
	for {
		bctx, stop := workflow.WithCancel(dctx)
		s.op.stop = stop
		var out compensationResult
		n, err := s.exec(bctx, c.call, batchRetry(), &out)
		s.op.stop = nil
		stop()
		total += n
		if err == nil {
			if s.op.resolved != nil {
				// The batch succeeded in the same moment the operator resolved it.
				s.amendLast(c.call.step, "the compensation succeeded before the resolution took effect")
			}
			s.st.Compensations[idx] = StepState{Name: c.call.step, Status: StepCompleted, Attempts: total}
			s.markStep(c.of, StepCompensated)
			if s.st.CompensationFailing {
				s.setFailing(dctx, false)
			}
			return
		}
		if s.op.resolved != nil {
			s.settle(dctx, idx, total)
			return
		}
		s.st.Compensations[idx].Status = StepFailed
		s.st.Compensations[idx].Attempts = total
		s.st.Compensations[idx].Error = errorText(err)
		s.logger.Error("compensation keeps failing; retrying", "compensation", c.call.step, "attempts", total, "error", err)
		s.setFailing(dctx, true)
		if s.op.resolved != nil {
			s.settle(dctx, idx, total)
			return
		}
		if s.op.skipPause {
			s.op.skipPause = false
			continue
		}
		tctx, wake := workflow.WithCancel(dctx)
		s.op.sleeping, s.op.wake = true, wake
		_ = workflow.NewTimerWithOptions(tctx, pause, workflow.TimerOptions{Summary: "Pause before retrying " + c.call.step}).Get(tctx, nil)
		s.op.sleeping, s.op.wake = false, nil
		wake()
		if s.op.resolved != nil {
			s.settle(dctx, idx, total)
			return
		}
		pause = min(2*pause, batchPauseMax)
	}
}

// amendLast replaces the note of the latest resolution of step.
func (s *saga) amendLast(step, note string) {
	for i := len(s.st.Resolutions) - 1; i >= 0; i-- {
		if s.st.Resolutions[i].Step == step {
			s.st.Resolutions[i].Note = note
			return
		}
	}
}

// settle ends a compensation an operator marked resolved: it is reported as such, the
// failure flag is cleared and the order's history records who settled it and why.
func (s *saga) settle(dctx workflow.Context, idx int, attempts int32) {
	rec := *s.op.resolved
	s.op.resolved = nil
	s.op.settled = append(s.op.settled, rec)
	comp := &s.st.Compensations[idx]
	comp.Status, comp.Attempts, comp.Resolution = StepResolvedByOperator, attempts, &rec
	s.logger.Warn("compensation resolved by operator; not retried any more", "compensation", rec.Step,
		"by", rec.By, "reason", rec.Reason, "attempts", attempts)
	s.st.CompensationFailing = false
	s.upsert(SearchCompensationFailing.ValueSet(false))
	_ = s.setStatus(dctx, orderclient.StatusCompensating, operatorClause([]Resolution{rec}), moveBestEffort, nil)
}

// closeReason puts the operator's resolutions, if any, in front of the reason the order
// closes with, so the terminal transition (and the order's failure reason) carries them.
func (s *saga) closeReason(st *stop) {
	if len(s.op.settled) == 0 {
		return
	}
	st.reason = truncate(operatorClause(s.op.settled)+"; "+st.reason, 500)
	s.st.FailureReason = st.reason
}

// operatorClause renders "operator resolved [void-payment] (alice: voided by hand)".
func operatorClause(rs []Resolution) string {
	steps := make([]string, 0, len(rs))
	notes := make([]string, 0, len(rs))
	for _, r := range rs {
		steps = append(steps, r.Step)
		notes = append(notes, r.By+": "+r.Reason)
	}
	return OperatorResolvedPrefix + strings.Join(steps, " ") + "] (" + strings.Join(notes, "; ") + ")"
}

// ResolvedCompensations returns the compensations an order's terminal reason says an
// operator marked resolved (none when the reason does not start with
// OperatorResolvedPrefix).
func ResolvedCompensations(reason string) []string {
	rest, ok := strings.CutPrefix(reason, OperatorResolvedPrefix)
	if !ok {
		return nil
	}
	list, _, ok := strings.Cut(rest, "]")
	if !ok {
		return nil
	}
	return strings.Fields(list)
}
