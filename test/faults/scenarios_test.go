package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/api"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/test/faults"
	"github.com/sagaflow/sagaflow/tools/stack"
	"github.com/sagaflow/sagaflow/workflows"
)

// compensationOutage is how long the compensation scenario keeps the void failing.
const compensationOutage = 2 * time.Minute

// scenarios lists the fault suite, in the order it runs.
func scenarios() []scenario {
	return []scenario{
		{
			name:   "kill-activity-pool",
			orders: 40, span: 6 * time.Second,
			// A processor slower than the local attempt hands every payment call to the
			// payments pool, which has several in flight when it dies.
			opts: faults.Options{ComponentEnv: map[string]map[string]string{
				stack.Payment: {"PAYMENT_PROCESSOR_LATENCY": "800ms"},
				stack.API:     {"SAGA_LOCAL_ATTEMPT_TIMEOUT": "300ms"},
			}},
			fault: killAndRestart(stack.WorkerPayments, 2*time.Second, 2*time.Second),
			check: func(_ context.Context, t *testing.T, _ *faults.Env, _ *faults.Load, r faults.Result) {
				if r.ActivityTimeouts == 0 {
					t.Errorf("no activity attempt timed out: the pool was not killed in the middle of its work")
				}
				wantOnQueue(t, r, workflows.TaskQueuePayments)
			},
		},
		{
			name:   "kill-saga-pool",
			orders: 40, span: 6 * time.Second,
			// Payment calls slower than usual but within the local attempt keep several
			// sagas in the middle of a local step when the pool dies.
			opts:  faults.Options{ComponentEnv: map[string]map[string]string{stack.Payment: {"PAYMENT_PROCESSOR_LATENCY": "400ms"}}},
			fault: killAndRestart(stack.WorkerSagas, 2*time.Second, 2*time.Second),
			// Verify replays every history against the current code and fails on any
			// non-determinism the restarted pool met.
			check: func(_ context.Context, t *testing.T, _ *faults.Env, _ *faults.Load, r faults.Result) {
				if r.WorkflowTaskTimeouts == 0 {
					t.Errorf("no saga workflow task timed out: the saga pool was not killed in the middle of its work")
				}
			},
		},
		{
			name:   "kill-temporal",
			orders: 40, span: 6 * time.Second,
			fault: killTemporal,
			check: func(_ context.Context, t *testing.T, _ *faults.Env, load *faults.Load, _ faults.Result) {
				retried := 0
				for _, o := range load.Placed() {
					if o.Attempts > 1 {
						retried++
					}
				}
				if retried == 0 {
					t.Errorf("no order start had to be retried: Temporal was not down while orders came in")
				}
				t.Logf("%d orders were placed again with the same key while Temporal was down", retried)
			},
		},
		{
			name:   "service-5xx-then-hang",
			orders: 40, span: 8 * time.Second,
			opts: faults.Options{
				Proxies: []string{stack.Payment, stack.Inventory},
				// The payment calls outlive the activity timeout (4s), so a hanging call is
				// ended by Temporal's start-to-close timeout, not by the client.
				ComponentEnv: map[string]map[string]string{stack.WorkerPayments: {"SERVICE_CALL_TIMEOUT": "10s"}},
			},
			fault: serviceErrorsThenHang,
			check: func(_ context.Context, t *testing.T, e *faults.Env, _ *faults.Load, r faults.Result) {
				st := e.Proxies[stack.Payment].Stats()
				if st.Injected[faults.Fail5xx] == 0 || st.Injected[faults.Hang] == 0 {
					t.Errorf("payment proxy injected %v: want 5xx answers and hangs", st.Injected)
				}
				if n := e.Proxies[stack.Inventory].Stats().Injected[faults.Fail5xx]; n == 0 {
					t.Errorf("inventory proxy injected no 500")
				}
				if r.ActivityTimeouts == 0 {
					t.Errorf("no activity attempt timed out while the payment service hung")
				}
				wantOnQueue(t, r, workflows.TaskQueuePayments)
				wantOnQueue(t, r, workflows.TaskQueueInventory)
			},
		},
		{
			name:   "commit-then-drop",
			orders: 40, span: 6 * time.Second,
			opts:  faults.Options{Proxies: []string{stack.Order, stack.Payment, stack.Inventory}},
			fault: commitThenDrop,
			check: func(_ context.Context, t *testing.T, e *faults.Env, load *faults.Load, r faults.Result) {
				accepted := len(load.Accepted())
				// Every order reserves and authorizes, then captures and commits, or voids
				// and releases: two calls with their own key on each service.
				for _, svc := range []string{stack.Inventory, stack.Payment} {
					if got := e.Proxies[svc].Stats().Injected[faults.CommitThenDrop]; got != 2*accepted {
						t.Errorf("%s: %d answers dropped, want %d", svc, got, 2*accepted)
					}
				}
				// Each order is created and moves at least twice more.
				if got := e.Proxies[stack.Order].Stats().Injected[faults.CommitThenDrop]; got < 3*accepted {
					t.Errorf("order: %d answers dropped, want at least %d", got, 3*accepted)
				}
			},
		},
		{
			name:   "slow-processor",
			orders: 20, span: 4 * time.Second,
			opts: faults.Options{ComponentEnv: map[string]map[string]string{
				// Every processor call outlasts the local attempt (300ms) and the payments
				// pool's call timeout (1s): each attempt gives up while the service is
				// still working on it, and the next arrives while that first one still runs.
				stack.Payment:        {"PAYMENT_PROCESSOR_LATENCY": "1500ms"},
				stack.WorkerPayments: {"SERVICE_CALL_TIMEOUT": "1s"},
				stack.API:            {"SAGA_LOCAL_ATTEMPT_TIMEOUT": "300ms"},
			}},
			fault: func(ctx context.Context, t *testing.T, e *faults.Env, load *faults.Load) time.Time {
				// The fault lasts the whole stream; it "heals" when the last order is placed.
				load.Wait()
				return time.Now()
			},
			check: func(_ context.Context, t *testing.T, _ *faults.Env, _ *faults.Load, r faults.Result) {
				if r.ActivityRetries == 0 {
					t.Errorf("no payment call was retried: the processor was not slow enough")
				}
				wantOnQueue(t, r, workflows.TaskQueuePayments)
			},
		},
		{
			name:   "restart-postgres",
			orders: 40, span: 6 * time.Second,
			opts:  faults.Options{PrivatePostgres: []string{stack.Payment}},
			fault: restartPostgres(stack.Payment),
			check: func(_ context.Context, t *testing.T, _ *faults.Env, _ *faults.Load, r faults.Result) {
				if r.ActivityRetries == 0 {
					t.Errorf("no activity was retried while the payment database was down")
				}
				wantOnQueue(t, r, workflows.TaskQueuePayments)
			},
		},
		{
			name:   "redis-down-then-flushed",
			orders: 30, span: 6 * time.Second,
			opts: faults.Options{Env: map[string]string{
				"RATE_LIMIT_PER_SECOND": "50",
				"RATE_LIMIT_BURST":      "50",
			}},
			fault: redisDownThenFlushed,
		},
		{
			name:   "compensation-keeps-failing",
			orders: 30, span: 5 * time.Second,
			mix:   faults.Mix{faults.Happy: 10, faults.Declined: 8, faults.NoFunds: 4, faults.HeldReject: 4, faults.HeldCancel: 4},
			opts:  faults.Options{Proxies: []string{stack.Payment}},
			fault: compensationKeepsFailing,
			quiet: 3 * time.Minute,
			check: func(ctx context.Context, t *testing.T, e *faults.Env, _ *faults.Load, _ faults.Result) {
				n, err := countWorkflows(ctx, e, "CompensationFailing=true")
				if err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					t.Errorf("%d sagas still marked CompensationFailing after the void came back", n)
				}
			},
		},
		{
			name: "overload",
			// 120 orders in 6 s from 7 customers: twice the 10 orders/s the API admits from
			// them all (rate limits count per customer: 1.4/s each).
			orders: 120, span: 6 * time.Second,
			mix: faults.Mix{faults.Happy: 100, faults.Declined: 10, faults.NoFunds: 10},
			opts: faults.Options{
				Env: map[string]string{"RATE_LIMIT_PER_SECOND": "1.4", "RATE_LIMIT_BURST": "2"},
				// Under load a saga start may take longer than the suite's short default.
				ComponentEnv: map[string]map[string]string{stack.API: {"SERVICE_CALL_TIMEOUT": "5s"}},
			},
			fault: func(ctx context.Context, t *testing.T, e *faults.Env, load *faults.Load) time.Time {
				load.Wait()
				return time.Now()
			},
			check: func(_ context.Context, t *testing.T, _ *faults.Env, load *faults.Load, r faults.Result) {
				codes := load.Codes()
				if codes[http.StatusTooManyRequests] == 0 {
					t.Errorf("no 429 at twice the admitted rate: %v", codes)
				}
				for code, n := range codes {
					// 409 is the answer to the copy of a request still in flight.
					if code != http.StatusAccepted && code != http.StatusTooManyRequests && code != http.StatusConflict {
						t.Errorf("%d answers %d: only 202, 429 (and 409 for a concurrent copy) expected under overload", n, code)
					}
				}
			},
		},
	}
}

// wantOnQueue checks that calls reached a service's own task queue: with local steps a
// call goes there only when its local attempt failed, so the fault must have pushed the
// service's work onto its own pool.
func wantOnQueue(t *testing.T, r faults.Result, queue string) {
	t.Helper()
	if r.QueuedCalls[queue] == 0 {
		t.Errorf("no call was scheduled on the %s queue (calls per queue: %v): the fault never reached that service's pool", queue, r.QueuedCalls)
	}
}

// killAndRestart kills a component with SIGKILL after `after`, and starts it again
// after `down`.
func killAndRestart(component string, after, down time.Duration) func(context.Context, *testing.T, *faults.Env, *faults.Load) time.Time {
	return func(ctx context.Context, t *testing.T, e *faults.Env, _ *faults.Load) time.Time {
		pause(ctx, after)
		pid := e.Stack.Proc(component).PID()
		e.Stack.Proc(component).Kill()
		t.Logf("killed %s (pid %d) with SIGKILL", component, pid)
		pause(ctx, down)
		if err := e.Stack.Restart(ctx, component); err != nil {
			t.Fatalf("restart %s: %v", component, err)
		}
		t.Logf("%s restarted (pid %d)", component, e.Stack.Proc(component).PID())
		return time.Now()
	}
}

// killTemporal kills the dev server with SIGKILL mid-stream and starts it again on the
// same port and state file. Clients meanwhile get 503 and place their orders again with
// the same key, so the API starts the saga again with the same workflow id.
func killTemporal(ctx context.Context, t *testing.T, e *faults.Env, _ *faults.Load) time.Time {
	pause(ctx, 2*time.Second)
	pid := e.Stack.Temporal().PID()
	e.Stack.KillTemporal()
	t.Logf("killed the Temporal server (pid %d) with SIGKILL", pid)
	pause(ctx, 3*time.Second)
	if err := e.Stack.RestartTemporal(ctx); err != nil {
		t.Fatalf("restart temporal: %v", err)
	}
	t.Logf("Temporal restarted on the same state file (pid %d)", e.Stack.Temporal().PID())
	return time.Now()
}

// serviceErrorsThenHang makes the payment service answer 503 for 4 s, then the inventory
// 500 for 3 s, then the payment service hang past the activity timeout for 6 s. The
// phases do not overlap, so each meets sagas at its step: while the inventory fails,
// orders pile up before their payment, and reach it while it hangs.
func serviceErrorsThenHang(ctx context.Context, t *testing.T, e *faults.Env, _ *faults.Load) time.Time {
	pay, inv := e.Proxies[stack.Payment], e.Proxies[stack.Inventory]
	pause(ctx, 1500*time.Millisecond)
	pay.SetRules(faults.Rule{Mode: faults.Fail5xx})
	t.Log("payment answers 503")
	pause(ctx, 4*time.Second)
	pay.Heal()
	inv.SetRules(faults.Rule{Mode: faults.Fail5xx, Status: http.StatusInternalServerError})
	t.Log("payment healed; inventory answers 500")
	pause(ctx, 3*time.Second)
	inv.Heal()
	pay.SetRules(faults.Rule{Mode: faults.Hang})
	t.Log("inventory healed; payment hangs")
	pause(ctx, 6*time.Second)
	pay.Heal()
	t.Log("payment healed")
	return time.Now()
}

// commitThenDrop drops the answer of the first call of every saga step to every service
// (create and move the order; reserve, commit and release the stock; authorize, capture
// and void the payment) after the service committed it, for the whole stream.
func commitThenDrop(ctx context.Context, t *testing.T, e *faults.Env, load *faults.Load) time.Time {
	for _, p := range e.Proxies {
		p.SetRules(faults.Rule{Mode: faults.CommitThenDrop, Method: http.MethodPost, OncePerKey: true})
	}
	// The rules stay: they apply once per key, so the retries get through without healing.
	load.Wait()
	return time.Now()
}

// restartPostgres crashes the private cluster holding one service's database mid-stream
// and starts it again.
func restartPostgres(service string) func(context.Context, *testing.T, *faults.Env, *faults.Load) time.Time {
	return func(ctx context.Context, t *testing.T, e *faults.Env, _ *faults.Load) time.Time {
		pg := e.Postgres[service]
		pause(ctx, 2*time.Second)
		if err := pg.Crash(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s's PostgreSQL stopped (immediate mode, as in a crash)", service)
		pause(ctx, 4*time.Second)
		if err := pg.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s's PostgreSQL started again", service)
		return time.Now()
	}
}

// redisDownThenFlushed kills Redis mid-stream, repeats keys while it is down, starts it
// again empty, and repeats every key once more before and after a FLUSHALL. Every repeat
// must get the same order and never a second saga; a key reused with another body must be
// refused either way. While Redis is down, rate limiting falls back to each API
// instance's own limiter: a burst still gets 429s, and nothing answers 5xx.
func redisDownThenFlushed(ctx context.Context, t *testing.T, e *faults.Env, load *faults.Load) time.Time {
	pause(ctx, 2*time.Second)
	e.Redis.Kill()
	t.Log("killed redis-server with SIGKILL")
	pause(ctx, 500*time.Millisecond)

	accepted := load.Accepted()
	if len(accepted) == 0 {
		t.Fatal("no order accepted before Redis went down")
	}
	repeatKeys(ctx, t, load, accepted, 2, true)
	// New orders, each sent three times at once, while nothing but Temporal can tell
	// that the copies are one order.
	fresh := load.Orders(faults.Mix{faults.Happy: 6, faults.Declined: 2}, 99)
	for _, o := range fresh {
		o.Copies = 3
	}
	load.Run(ctx, fresh, time.Second)
	// Another body from the same customer.
	other := accepted[0].Body
	other.PaymentToken = "tok_mastercard"
	if r, err := load.Post(ctx, "/orders", accepted[0].Key, other); err != nil || r.Status != http.StatusUnprocessableEntity {
		t.Errorf("key reused with another body while Redis is down: %d %v, want 422", r.Status, err)
	}
	limited, failed := 0, 0
	for range 150 {
		r, err := load.Get(ctx, "/products")
		switch {
		case err != nil || r.Status >= 500:
			failed++
		case r.Status == http.StatusTooManyRequests:
			limited++
		}
	}
	t.Logf("burst of 150 GET /products without Redis: %d answered 429, %d failed", limited, failed)
	if limited == 0 || failed > 0 {
		t.Errorf("without Redis a burst must still be limited (got %d × 429) and never fail (got %d)", limited, failed)
	}
	pause(ctx, 2*time.Second)

	if err := e.Redis.Start(ctx); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	t.Log("redis-server started again, empty")
	// The API skips Redis for a moment after a failure; let it notice Redis is back.
	pause(ctx, 3*time.Second)
	load.Wait()
	accepted = load.Accepted()
	repeatKeys(ctx, t, load, accepted, 1, true)
	if err := e.Redis.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	t.Log("FLUSHALL")
	repeatKeys(ctx, t, load, accepted, 2, true)
	if r, err := load.Post(ctx, "/orders", accepted[0].Key, other); err != nil || r.Status != http.StatusUnprocessableEntity {
		t.Errorf("key reused with another body after the flush: %d %v, want 422", r.Status, err)
	}
	return healed
}

// repeatKeys sends each accepted order again with its key and body, `copies` at once, and
// checks every answer names the same order.
func repeatKeys(ctx context.Context, t *testing.T, load *faults.Load, orders []faults.Order, copies int, wantReplayed bool) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for _, o := range orders {
		for range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := retryPost(ctx, load, o.Key, o.Body)
				mu.Lock()
				defer mu.Unlock()
				codes[r.Status]++
				if err != nil {
					t.Errorf("repeat of %s: %v", o.Key, err)
					return
				}
				got, err := r.Order()
				if err != nil || got.ID != o.ID {
					t.Errorf("repeat of %s answered order %q (%v), want %s", o.Key, got.ID, err, o.ID)
				}
				if wantReplayed && r.Header.Get("Idempotent-Replayed") != "true" {
					t.Errorf("repeat of %s answered %d without Idempotent-Replayed", o.Key, r.Status)
				}
			}()
		}
	}
	wg.Wait()
	t.Logf("repeated %d keys × %d: answers %v", len(orders), copies, codes)
}

// retryPost places an order again until it gets a final answer; 409 (the same key in
// flight) and 5xx are retried, as a client would.
func retryPost(ctx context.Context, load *faults.Load, key string, body api.PlaceOrderRequest) (faults.Response, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := load.Post(ctx, "/orders", key, body)
		if err == nil && (r.Status == http.StatusOK || r.Status == http.StatusAccepted) {
			return r, nil
		}
		if err == nil && r.Status != http.StatusConflict && r.Status != http.StatusTooManyRequests && r.Status < 500 {
			return r, fmt.Errorf("answered %d: %s", r.Status, r.Body)
		}
		if time.Now().After(deadline) {
			if err != nil {
				return r, fmt.Errorf("no final answer within 30s (last %d): %w", r.Status, err)
			}
			return r, fmt.Errorf("no final answer within 30s (last %d)", r.Status)
		}
		pause(ctx, 300*time.Millisecond)
	}
}

// compensationKeepsFailing makes every void answer 503 for minutes. The orders that must
// be undone show COMPENSATION_FAILED (order status and the CompensationFailing search
// attribute) while the saga keeps retrying, and finish once the void works again.
func compensationKeepsFailing(ctx context.Context, t *testing.T, e *faults.Env, load *faults.Load) time.Time {
	pay := e.Proxies[stack.Payment]
	pay.SetRules(faults.Rule{Mode: faults.Fail5xx, Step: workflows.StepVoidPayment})
	began := time.Now()
	t.Logf("every void answers 503 for %s", compensationOutage)
	load.Wait()
	pause(ctx, 30*time.Second)

	failing, err := countWorkflows(ctx, e, "CompensationFailing=true")
	if err != nil {
		t.Fatal(err)
	}
	shown, err := e.Orders.List(ctx, orderFilter(orderclient.StatusCompensationFailed))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after %s: %d sagas found with CompensationFailing=true, %d orders COMPENSATION_FAILED",
		time.Since(began).Round(time.Second), failing, len(shown.Items))
	if failing == 0 || len(shown.Items) == 0 {
		t.Errorf("a failing void must show: %d sagas with CompensationFailing=true, %d orders COMPENSATION_FAILED", failing, len(shown.Items))
	}
	if len(shown.Items) > 0 {
		id := shown.Items[0].ID
		r, err := load.Get(ctx, "/orders/"+id)
		if err != nil {
			t.Fatal(err)
		}
		o, err := r.Order()
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != orderclient.StatusCompensationFailed || o.Saga == nil || !failingStep(o.Saga.Compensations, workflows.StepVoidPayment) {
			t.Errorf("GET /orders/%s: status %s, saga %+v: want COMPENSATION_FAILED with void-payment failed", id, o.Status, o.Saga)
		}
	}

	pause(ctx, compensationOutage-time.Since(began))
	stats := pay.Stats()
	pay.Heal()
	t.Logf("void healed after %s; %d void calls refused", time.Since(began).Round(time.Second), stats.Injected[faults.Fail5xx])
	return time.Now()
}

func failingStep(steps []api.SagaStep, name string) bool {
	for _, s := range steps {
		if s.Name == name && s.Status == workflows.StepFailed && s.Attempts > 0 && s.Error != "" {
			return true
		}
	}
	return false
}

func countWorkflows(ctx context.Context, e *faults.Env, query string) (int, error) {
	return e.CountSagas(ctx, query)
}

func orderFilter(status orderclient.Status) orderclient.ListFilter {
	return orderclient.ListFilter{Status: status, Limit: 100}
}
