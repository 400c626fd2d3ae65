// Package bench measures sagaflow end to end and compares it with Temporal's own ceiling.
//
// The load generator is open-loop: it sends operations at a fixed arrival rate for a fixed
// duration whatever the system's answers, and measures every operation's latency from its
// intended send time, so a system that falls behind cannot hide the wait behind a slower
// send rate (coordinated omission). An operation is one order placed through the public
// API and followed to its terminal state, or, for the ceiling, one workflow of five no-op
// activities started and awaited on the same Temporal server.
package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Op performs one operation and follows it to its end. seq numbers the operations of a run
// from 0; start is the intended send time, which step timings are measured from.
type Op func(ctx context.Context, seq int, start time.Time) Outcome

// Outcome is what one operation did.
type Outcome struct {
	// ID names what was created (an order id, a workflow id), when something was.
	ID string
	// Accepted is true once the system took responsibility for the operation: from then
	// on it must reach a terminal state.
	Accepted bool
	// Status is the terminal state reached ("CONFIRMED", "FAILED", ... or "COMPLETED"
	// for the ceiling), "" when none was seen.
	Status string
	// Err is the kind of error ("http-503", "transport", "unexpected-FAILED", ...), "" when
	// the operation ended as expected.
	Err string
	// Detail is a sample message for the error.
	Detail string
	// Steps are the durations of the operation's steps, in order.
	Steps []Step
}

// Step is one timed part of an operation.
type Step struct {
	Name     string
	Duration time.Duration
}

// Sample is one finished operation as the generator recorded it.
type Sample struct {
	Outcome
	Intended time.Time
	Latency  time.Duration // from the intended send time to the end
}

// Load describes one run of the generator.
type Load struct {
	// Rate is the arrival rate per second (open loop).
	Rate float64
	// Duration is how long operations are sent.
	Duration time.Duration
	// MaxInFlight stops sending when this many operations are unfinished: the system is
	// far behind and the rest of the run would only measure the queue. 0 means no bound.
	MaxInFlight int
	// Progress, when set, is called about once a second while the run lasts.
	Progress func(Progress)
}

// Progress is a live view of a run.
type Progress struct {
	Elapsed  time.Duration
	Sent     int
	Done     int
	InFlight int
	Errors   int
	// P99 is the 99th percentile latency of the operations finished so far.
	P99 time.Duration
}

// Result is every sample of one run.
type Result struct {
	Rate     float64
	Duration time.Duration
	Start    time.Time
	End      time.Time // when the last operation finished
	Samples  []Sample
	// Aborted is true when sending stopped early because MaxInFlight was reached.
	Aborted bool
	// Planned is how many operations the rate and duration called for.
	Planned int
}

// recorder collects samples from concurrent operations.
type recorder struct {
	mu      sync.Mutex
	samples []Sample
	errors  int
	lat     []time.Duration
}

func (r *recorder) add(s Sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.lat = append(r.lat, s.Latency)
	if s.Err != "" {
		r.errors++
	}
	r.mu.Unlock()
}

func (r *recorder) snapshot() (done, errors int, p99 time.Duration) {
	r.mu.Lock()
	lat := append([]time.Duration(nil), r.lat...)
	done, errors = len(r.samples), r.errors
	r.mu.Unlock()
	return done, errors, percentile(sortedDurations(lat), 0.99)
}

// Open runs op at load.Rate per second for load.Duration and waits for every operation
// to finish. Each operation's latency is measured from its intended send time.
func Open(ctx context.Context, load Load, op Op) Result {
	planned := int(load.Rate * load.Duration.Seconds())
	if planned < 1 {
		planned = 1
	}
	interval := time.Duration(float64(time.Second) / load.Rate)
	rec := &recorder{samples: make([]Sample, 0, planned)}
	var inFlight, sentN atomic.Int64
	var wg sync.WaitGroup
	res := Result{Rate: load.Rate, Duration: load.Duration, Planned: planned}

	stopProgress := startProgress(load.Progress, rec, &inFlight, &sentN)
	res.Start = time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; i < planned; i++ {
		intended := res.Start.Add(time.Duration(i) * interval)
		if d := time.Until(intended); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		if load.MaxInFlight > 0 && inFlight.Load() >= int64(load.MaxInFlight) {
			res.Aborted = true
			break
		}
		inFlight.Add(1)
		wg.Add(1)
		go func(seq int, intended time.Time) {
			defer wg.Done()
			out := op(ctx, seq, intended)
			rec.add(Sample{Outcome: out, Intended: intended, Latency: time.Since(intended)})
			inFlight.Add(-1)
		}(i, intended)
		sentN.Add(1)
	}
	wg.Wait()
	stopProgress()
	res.End = time.Now()
	res.Samples = rec.samples
	return res
}

// Serial runs op n times, one at a time: the latency of an otherwise idle system.
func Serial(ctx context.Context, n int, op Op, progress func(Progress)) Result {
	rec := &recorder{samples: make([]Sample, 0, n)}
	var inFlight, sentN atomic.Int64
	res := Result{Planned: n}
	stopProgress := startProgress(progress, rec, &inFlight, &sentN)
	res.Start = time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		start := time.Now()
		inFlight.Store(1)
		sentN.Add(1)
		out := op(ctx, i, start)
		rec.add(Sample{Outcome: out, Intended: start, Latency: time.Since(start)})
		inFlight.Store(0)
	}
	stopProgress()
	res.End = time.Now()
	res.Duration = res.End.Sub(res.Start)
	if s := res.Duration.Seconds(); s > 0 {
		res.Rate = float64(len(rec.samples)) / s
	}
	res.Samples = rec.samples
	return res
}

func startProgress(fn func(Progress), rec *recorder, inFlight, sent *atomic.Int64) (stop func()) {
	if fn == nil {
		return func() {}
	}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n, errs, p99 := rec.snapshot()
				fn(Progress{Elapsed: time.Since(start), Sent: int(sent.Load()), Done: n, InFlight: int(inFlight.Load()), Errors: errs, P99: p99})
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
