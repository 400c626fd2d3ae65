package workflows_test

import (
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/sagaflow/sagaflow/activities"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/workflows"
)

// Timeline of a declined order whose void keeps failing: the first batch of 5 attempts
// fails at 7.5s, the saga pauses 5s, the second batch fails at 20s, then it pauses 10s
// (until 30s). duringPause falls in that second pause.
const duringPause = 22 * time.Second

// voidDown makes the void fail with a retryable 503 until up is set.
func voidDown(w *world, up *atomic.Bool) {
	w.fail[activities.PaymentsAuthorize] = final(402, problem.CodeCardDeclined, "card declined")
	w.fail[void] = func(int) error {
		if up.Load() {
			return nil
		}
		return &svcclient.Error{Status: http.StatusServiceUnavailable, Code: problem.CodeUnavailable, Detail: "processor unavailable"}
	}
}

// updateOutcome is what the test environment reported for one update.
type updateOutcome struct {
	accepted, rejected bool
	rejectErr          error
	result             workflows.Resolution
	completeErr        error
}

// update sends the resolve-compensation update at d and records its outcome.
func (w *world) update(t *testing.T, d time.Duration, req workflows.ResolveRequest) *updateOutcome {
	out := &updateOutcome{}
	w.at(d, func() {
		w.env.UpdateWorkflow(workflows.UpdateResolveCompensation, "resolve-"+d.String(), &testsuite.TestUpdateCallback{
			OnAccept: func() { out.accepted = true },
			OnReject: func(err error) { out.rejected, out.rejectErr = true, err },
			OnComplete: func(v any, err error) {
				out.completeErr = err
				if r, ok := v.(workflows.Resolution); ok {
					out.result = r
				} else if v != nil {
					t.Errorf("update result is %T, want workflows.Resolution", v)
				}
			},
		}, req)
	})
	return out
}

// run executes the declined-order saga and returns its result and final status.
func (w *world) run(t *testing.T) (workflows.SagaResult, workflows.SagaStatus, time.Duration) {
	t.Helper()
	start := w.env.Now()
	res, st := runSaga(t, w, input())
	return res, st, w.env.Now().Sub(start)
}

func TestResolveRetryNowRetriesAtOnce(t *testing.T) {
	w := newWorld(t)
	var up atomic.Bool
	voidDown(w, &up)
	w.at(duringPause-time.Millisecond, func() { up.Store(true) })
	out := w.update(t, duringPause, workflows.ResolveRequest{By: "alice", Reason: "processor is back", Action: workflows.ResolveRetryNow})

	res, st, took := w.run(t)

	if !out.accepted || out.rejected || out.completeErr != nil {
		t.Fatalf("update outcome %+v, want accepted and completed", out)
	}
	if out.result.Step != workflows.StepVoidPayment || out.result.By != "alice" || out.result.Via != workflows.ViaUpdate ||
		!strings.Contains(out.result.Note, "cut short") {
		t.Errorf("update result %+v", out.result)
	}
	// Without the update the next batch would start when the pause ends, at 30s.
	if took >= 30*time.Second {
		t.Errorf("the saga finished after %s: the pause was not cut short", took)
	}
	if res.Status != orderclient.StatusFailed || res.FailureReason != "card declined" {
		t.Errorf("result %+v, want FAILED for card declined", res)
	}
	want := []workflows.StepState{
		{Name: workflows.StepVoidPayment, Status: workflows.StepCompleted, Attempts: 11},
		{Name: workflows.StepReleaseStock, Status: workflows.StepCompleted, Attempts: 1},
	}
	if !reflect.DeepEqual(st.Compensations, want) {
		t.Errorf("compensations %+v, want %+v", st.Compensations, want)
	}
	if len(st.Resolutions) != 1 || st.Resolutions[0].Action != workflows.ResolveRetryNow || st.Resolutions[0].Reason != "processor is back" {
		t.Errorf("resolutions %+v, want the retry-now", st.Resolutions)
	}
	if st.CompensationFailing || !reflect.DeepEqual(w.failing, []bool{true, false}) {
		t.Errorf("compensation failing %v, upserts %v; want cleared after [true false]", st.CompensationFailing, w.failing)
	}
	if got := w.called(void); got != 11 {
		t.Errorf("void called %d times, want two failed batches of 5 and one success", got)
	}
}

func TestResolveMarkResolvedClosesTheOrder(t *testing.T) {
	cases := []struct {
		name string
		// at is when the update arrives; delay slows every void attempt down.
		at         time.Duration
		delay      time.Duration
		wantVoids  int
		wantBefore time.Duration
	}{
		// During the pause: the pause ends at once.
		{name: "during the backoff pause", at: duringPause, wantVoids: 10, wantBefore: 30 * time.Second},
		// Each attempt takes 10s: the first batch fails at 57.5s, the second starts at
		// 62.5s and its first attempt would answer at 72.5s. The update at 65s cancels it
		// (a cancelled attempt never answers, so only the first batch's 5 are counted).
		{name: "while a batch is in flight", at: 65 * time.Second, delay: 10 * time.Second, wantVoids: 5, wantBefore: 72 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			var up atomic.Bool
			voidDown(w, &up)
			w.delay[void] = tc.delay
			w.snapshotAt(t, tc.at-time.Millisecond)
			req := workflows.ResolveRequest{By: "alice", Reason: "voided the hold by hand at the processor", Action: workflows.ResolveMarkResolved}
			out := w.update(t, tc.at, req)

			res, st, took := w.run(t)

			before := w.snapshot[tc.at-time.Millisecond]
			if !before.CompensationFailing || before.Status != orderclient.StatusCompensationFailed {
				t.Fatalf("before the update: failing %v status %s, want a failing compensation", before.CompensationFailing, before.Status)
			}
			if !out.accepted || out.completeErr != nil {
				t.Fatalf("update outcome %+v, want accepted and completed", out)
			}
			if took >= tc.wantBefore {
				t.Errorf("the saga finished after %s, want before %s", took, tc.wantBefore)
			}
			wantReason := "operator resolved [void-payment] (alice: voided the hold by hand at the processor); card declined"
			if res.Status != orderclient.StatusFailed || res.FailureReason != wantReason {
				t.Errorf("result %+v, want FAILED with %q", res, wantReason)
			}
			if st.FailureReason != wantReason || w.reasons[orderclient.StatusFailed] != wantReason {
				t.Errorf("failure reason: status query %q, order service %q; want %q", st.FailureReason, w.reasons[orderclient.StatusFailed], wantReason)
			}
			if got := w.reasons[orderclient.StatusCompensating]; !strings.HasPrefix(got, "operator resolved [void-payment] (alice: ") {
				t.Errorf("the move back to COMPENSATING says %q, want the resolution", got)
			}
			if got := workflows.ResolvedCompensations(res.FailureReason); !reflect.DeepEqual(got, []string{workflows.StepVoidPayment}) {
				t.Errorf("ResolvedCompensations = %v", got)
			}
			if len(st.Compensations) != 2 {
				t.Fatalf("compensations %+v", st.Compensations)
			}
			v := st.Compensations[0]
			if v.Name != workflows.StepVoidPayment || v.Status != workflows.StepResolvedByOperator || v.Resolution == nil ||
				v.Resolution.By != "alice" || v.Resolution.Reason != req.Reason || v.Resolution.At.IsZero() ||
				v.Resolution.Action != workflows.ResolveMarkResolved || !strings.HasPrefix(v.Error, problem.CodeUnavailable) {
				t.Errorf("void compensation %+v (resolution %+v), want resolved by alice with the last error kept", v, v.Resolution)
			}
			if r := st.Compensations[1]; r.Name != workflows.StepReleaseStock || r.Status != workflows.StepCompleted {
				t.Errorf("release %+v, want completed after the resolution", r)
			}
			if got := stepOf(st, workflows.StepAuthorizePayment).Status; got == workflows.StepCompensated {
				t.Error("authorize-payment reported compensated although its void never succeeded")
			}
			wantTransitions := []orderclient.Status{orderclient.StatusReserved, orderclient.StatusCompensating, orderclient.StatusCompensationFailed,
				orderclient.StatusCompensating, orderclient.StatusFailed}
			if got := w.transitions(); !reflect.DeepEqual(got, wantTransitions) {
				t.Errorf("transitions %v, want %v", got, wantTransitions)
			}
			if st.CompensationFailing || !reflect.DeepEqual(w.failing, []bool{true, false}) {
				t.Errorf("compensation failing %v, upserts %v; want cleared", st.CompensationFailing, w.failing)
			}
			if got := w.called(void); got != tc.wantVoids {
				t.Errorf("void called %d times, want %d", got, tc.wantVoids)
			}
			if got := w.called(release); got != 1 {
				t.Errorf("release called %d times, want 1", got)
			}
		})
	}
}

func TestResolveIsRefused(t *testing.T) {
	valid := workflows.ResolveRequest{By: "alice", Reason: "settled by hand", Action: workflows.ResolveMarkResolved}
	cases := []struct {
		name    string
		failing bool
		req     func(r *workflows.ResolveRequest)
		want    string
	}{
		{name: "nothing is failing", want: "no compensation is failing"},
		{name: "no by", failing: true, req: func(r *workflows.ResolveRequest) { r.By = " " }, want: "by is required"},
		{name: "no reason", failing: true, req: func(r *workflows.ResolveRequest) { r.Reason = "" }, want: "reason is required"},
		{name: "unknown action", failing: true, req: func(r *workflows.ResolveRequest) { r.Action = "skip" }, want: "action must be"},
		{name: "control characters", failing: true, req: func(r *workflows.ResolveRequest) { r.Reason = "ok\nforged line" }, want: "control characters"},
		{name: "reason too long", failing: true, req: func(r *workflows.ResolveRequest) { r.Reason = strings.Repeat("x", 501) }, want: "limited"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			at := 5 * time.Second
			if tc.failing {
				var up atomic.Bool
				voidDown(w, &up)
				at = duringPause
				w.at(at+time.Second, func() { up.Store(true) })
			} else {
				w.delay[activities.PaymentsAuthorize] = 10 * time.Second
			}
			req := valid
			if tc.req != nil {
				tc.req(&req)
			}
			out := w.update(t, at, req)

			_, st, _ := w.run(t)

			if !out.rejected || out.accepted || out.rejectErr == nil || !strings.Contains(out.rejectErr.Error(), tc.want) {
				t.Fatalf("update outcome %+v, want rejected with %q", out, tc.want)
			}
			if len(st.Resolutions) != 0 {
				t.Errorf("a refused update was recorded: %+v", st.Resolutions)
			}
			for _, c := range st.Compensations {
				if c.Status != workflows.StepCompleted {
					t.Errorf("compensation %+v did not complete on its own", c)
				}
			}
		})
	}
}

func TestResolveSignal(t *testing.T) {
	w := newWorld(t)
	var up atomic.Bool
	voidDown(w, &up)
	send := func(d time.Duration, input any) {
		w.at(d, func() { w.env.SignalWorkflow(workflows.SignalResolveCompensation, input) })
	}
	// Too early: nothing is failing yet.
	send(time.Second, map[string]string{"by": "bob", "reason": "early", "action": workflows.ResolveRetryNow})
	// Failing, but malformed or incomplete.
	send(duringPause-3*time.Second, map[string]string{"by": "bob", "reason": "typo", "acton": workflows.ResolveMarkResolved})
	send(duringPause-2*time.Second, map[string]string{"by": "bob", "action": workflows.ResolveMarkResolved})
	send(duringPause-time.Second, "mark-resolved")
	// Valid.
	send(duringPause, map[string]string{"by": "alice", "reason": "voided by hand", "action": workflows.ResolveMarkResolved})

	res, st, _ := w.run(t)

	if res.Status != orderclient.StatusFailed || workflows.ResolvedCompensations(res.FailureReason) == nil {
		t.Fatalf("result %+v, want FAILED with the operator resolution", res)
	}
	if len(st.Signals) != 5 {
		t.Fatalf("signals %+v, want 5", st.Signals)
	}
	wantNotes := []string{"no compensation is failing", "not {", "reason is required", "not {", "retries stopped"}
	for i, s := range st.Signals {
		wantOutcome := workflows.SignalIgnored
		if i == 4 {
			wantOutcome = workflows.SignalAccepted
		}
		if s.Name != workflows.SignalResolveCompensation || s.Outcome != wantOutcome || !strings.Contains(s.Note, wantNotes[i]) {
			t.Errorf("signal %d: %+v, want %s with a note containing %q", i, s, wantOutcome, wantNotes[i])
		}
	}
	if a := st.Signals[4]; a.By != "alice" || a.Action != workflows.ResolveMarkResolved {
		t.Errorf("accepted signal %+v", a)
	}
	v := st.Compensations[0]
	if v.Status != workflows.StepResolvedByOperator || v.Resolution == nil || v.Resolution.Via != workflows.ViaSignal || v.Resolution.By != "alice" {
		t.Errorf("void compensation %+v, want resolved by alice through the signal", v)
	}
	if len(st.Resolutions) != 1 || st.Resolutions[0].Via != workflows.ViaSignal {
		t.Errorf("resolutions %+v, want the one signal", st.Resolutions)
	}
}

func TestResolvedCompensations(t *testing.T) {
	cases := []struct {
		reason string
		want   []string
	}{
		{"card declined", nil},
		{"operator resolved [void-payment] (alice: by hand); card declined", []string{"void-payment"}},
		{"operator resolved [void-payment release-stock] (a: x; b: y); rejected by ops", []string{"void-payment", "release-stock"}},
		// Client text can only follow the saga's own words, never start the reason.
		{"cancelled by bob: operator resolved [void-payment] (x)", nil},
		{"operator resolved [void-payment", nil},
	}
	for _, tc := range cases {
		if got := workflows.ResolvedCompensations(tc.reason); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ResolvedCompensations(%q) = %v, want %v", tc.reason, got, tc.want)
		}
	}
}
