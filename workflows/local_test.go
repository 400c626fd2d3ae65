package workflows_test

import (
	"context"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/sagaflow/sagaflow/activities"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/workflows"
)

// starts records where each call ran: locally in the saga's worker or on a queue.
type starts struct {
	mu     sync.Mutex
	local  []string
	queued []string
}

func watchStarts(w *world) *starts {
	s := &starts{}
	w.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		s.mu.Lock()
		s.local = append(s.local, info.ActivityType.Name)
		s.mu.Unlock()
	})
	w.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		s.mu.Lock()
		s.queued = append(s.queued, info.ActivityType.Name+"@"+info.TaskQueue)
		s.mu.Unlock()
	})
	return s
}

func localInput() workflows.OrderInput {
	in := input()
	in.LocalSteps = true
	return in
}

func runSaga(t *testing.T, w *world, in workflows.OrderInput) (workflows.SagaResult, workflows.SagaStatus) {
	t.Helper()
	w.env.ExecuteWorkflow(workflows.OrderSagaName, in)
	if !w.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := w.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var res workflows.SagaResult
	if err := w.env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	st, err := queryStatus(w.env)
	if err != nil {
		t.Fatal(err)
	}
	return res, st
}

func stepAttempts(st workflows.SagaStatus) map[string]int32 {
	out := map[string]int32{}
	for _, s := range st.Steps {
		out[s.Name] = s.Attempts
	}
	return out
}

// TestLocalStepsHappyPath: with local steps every call of a confirmed order runs in the
// saga's worker, in the same order and with the same keys as on the queues.
func TestLocalStepsHappyPath(t *testing.T) {
	w := newWorld(t)
	s := watchStarts(w)
	res, st := runSaga(t, w, localInput())
	if res.Status != orderclient.StatusConfirmed {
		t.Fatalf("status %s (%s), want CONFIRMED", res.Status, res.FailureReason)
	}
	if len(s.queued) != 0 {
		t.Errorf("calls on queues %v, want none", s.queued)
	}
	want := []string{
		activities.OrdersCreate, activities.InventoryReserve, activities.OrdersTransition, activities.PaymentsAuthorize,
		activities.OrdersTransition, activities.PaymentsCapture, activities.OrdersTransition, activities.InventoryCommit,
		activities.OrdersTransition,
	}
	if !reflect.DeepEqual(s.local, want) {
		t.Errorf("local calls %v, want %v", s.local, want)
	}
	wantTransitions := []orderclient.Status{orderclient.StatusReserved, orderclient.StatusAuthorized, orderclient.StatusCaptured, orderclient.StatusConfirmed}
	if got := w.transitions(); !reflect.DeepEqual(got, wantTransitions) {
		t.Errorf("transitions %v, want %v", got, wantTransitions)
	}
	for name, n := range stepAttempts(st) {
		if n > 1 {
			t.Errorf("step %s took %d attempts, want 1", name, n)
		}
	}
}

// TestLocalStepsFallBackToTheServiceQueue: a transient failure of the local attempt hands
// the step to its service's queue, where it is retried; a business refusal is final at
// once and compensated as usual.
func TestLocalStepsFallBackToTheServiceQueue(t *testing.T) {
	unavailable := &svcclient.Error{Status: http.StatusServiceUnavailable, Code: problem.CodeUnavailable, Detail: "processor unavailable"}
	cases := []struct {
		name       string
		fail       map[string]func(int) error
		wantStatus orderclient.Status
		wantQueued []string
		wantComps  []string
		// wantAttempts are the attempts the status query reports per step.
		wantAttempts map[string]int32
	}{
		{
			name:         "transient failure goes to the queue",
			fail:         map[string]func(int) error{activities.PaymentsAuthorize: flaky(2, unavailable)},
			wantStatus:   orderclient.StatusConfirmed,
			wantQueued:   []string{activities.PaymentsAuthorize + "@" + workflows.TaskQueuePayments, activities.PaymentsAuthorize + "@" + workflows.TaskQueuePayments},
			wantComps:    []string{},
			wantAttempts: map[string]int32{workflows.StepAuthorizePayment: 3, workflows.StepCapturePayment: 1},
		},
		{
			name:         "business refusal is final locally",
			fail:         map[string]func(int) error{activities.PaymentsAuthorize: final(http.StatusPaymentRequired, problem.CodeCardDeclined, "card declined")},
			wantStatus:   orderclient.StatusFailed,
			wantQueued:   nil,
			wantComps:    []string{void, release},
			wantAttempts: map[string]int32{workflows.StepAuthorizePayment: 1},
		},
		{
			name: "failing compensation is retried on its queue",
			fail: map[string]func(int) error{
				activities.PaymentsAuthorize: final(http.StatusPaymentRequired, problem.CodeCardDeclined, "card declined"),
				void:                         flaky(1, unavailable),
			},
			wantStatus: orderclient.StatusFailed,
			wantQueued: []string{void + "@" + workflows.TaskQueuePayments},
			wantComps:  []string{void, release},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			for name, fn := range tc.fail {
				w.fail[name] = fn
			}
			s := watchStarts(w)
			res, st := runSaga(t, w, localInput())
			if res.Status != tc.wantStatus {
				t.Fatalf("status %s (%s), want %s", res.Status, res.FailureReason, tc.wantStatus)
			}
			if !reflect.DeepEqual(s.queued, tc.wantQueued) {
				t.Errorf("calls on queues %v, want %v", s.queued, tc.wantQueued)
			}
			if got := w.compensations(); !reflect.DeepEqual(got, tc.wantComps) {
				t.Errorf("compensations %v, want %v", got, tc.wantComps)
			}
			got := stepAttempts(st)
			for step, n := range tc.wantAttempts {
				if got[step] != n {
					t.Errorf("step %s: %d attempts, want %d", step, got[step], n)
				}
			}
		})
	}
}

// TestLocalStepsSlowServiceGoesToItsQueue: a call slower than the local attempt timeout is
// handed to its service's queue instead of holding the saga's worker for longer.
func TestLocalStepsSlowServiceGoesToItsQueue(t *testing.T) {
	cases := []struct {
		name       string
		stall      time.Duration
		wantQueued []string
		wantTries  int32
	}{
		{name: "within the local timeout", stall: 0, wantQueued: nil, wantTries: 1},
		{
			name: "slower than the local timeout", stall: 5 * time.Second,
			wantQueued: []string{activities.PaymentsAuthorize + "@" + workflows.TaskQueuePayments}, wantTries: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.stall[activities.PaymentsAuthorize] = tc.stall
			s := watchStarts(w)
			in := localInput()
			in.Timing.LocalAttemptTimeout = 100 * time.Millisecond
			res, st := runSaga(t, w, in)
			if res.Status != orderclient.StatusConfirmed {
				t.Fatalf("status %s (%s), want CONFIRMED", res.Status, res.FailureReason)
			}
			if !reflect.DeepEqual(s.queued, tc.wantQueued) {
				t.Errorf("calls on queues %v, want %v", s.queued, tc.wantQueued)
			}
			if got := stepAttempts(st)[workflows.StepAuthorizePayment]; got != tc.wantTries {
				t.Errorf("authorize took %d attempts, want %d", got, tc.wantTries)
			}
		})
	}
}
