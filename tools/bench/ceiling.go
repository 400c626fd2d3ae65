package bench

import (
	"context"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// The ceiling is the yardstick: the simplest workflow with as many steps as the saga has
// services to call, five sequential activities that do nothing, run by a worker with the
// SDK's default options on the same Temporal server. Whatever it costs is Temporal's own
// cost; the saga pays that and its real work.
const (
	CeilingWorkflowName = "bench.Ceiling"
	CeilingActivityName = "bench.noop"
	CeilingSteps        = 5
)

// CeilingWorkflow runs five no-op activities one after another and returns when each
// finished (workflow time), so the bench can time every step.
func CeilingWorkflow(ctx workflow.Context) ([]time.Time, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	out := make([]time.Time, 0, CeilingSteps)
	for i := 0; i < CeilingSteps; i++ {
		if err := workflow.ExecuteActivity(ctx, CeilingActivityName, i).Get(ctx, nil); err != nil {
			return nil, err
		}
		out = append(out, workflow.Now(ctx))
	}
	return out, nil
}

// noop is the ceiling's activity.
func noop(context.Context, int) error { return nil }

// Ceiling runs the ceiling workflow's worker and starts workflows on it.
type Ceiling struct {
	c      client.Client
	queue  string
	worker worker.Worker
}

// StartCeiling registers the ceiling workflow and activity on a worker polling queue and
// starts it.
func StartCeiling(c client.Client, queue string) (*Ceiling, error) {
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(CeilingWorkflow, workflow.RegisterOptions{Name: CeilingWorkflowName})
	w.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: CeilingActivityName})
	if err := w.Start(); err != nil {
		return nil, err
	}
	return &Ceiling{c: c, queue: queue, worker: w}, nil
}

// Stop stops the worker.
func (c *Ceiling) Stop() { c.worker.Stop() }

// Op returns the operation that starts one ceiling workflow and waits for its result.
func (c *Ceiling) Op(run string) Op {
	return func(ctx context.Context, seq int, start time.Time) Outcome {
		id := "ceiling-" + run + "-" + strconv.Itoa(seq)
		out := Outcome{ID: id}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		wr, err := c.c.ExecuteWorkflow(wctx, client.StartWorkflowOptions{ID: id, TaskQueue: c.queue}, CeilingWorkflowName)
		if err != nil {
			return fail(out, "start", err)
		}
		out.Accepted = true
		var times []time.Time
		if err := wr.Get(wctx, &times); err != nil {
			return fail(out, "result", err)
		}
		out.Status = "COMPLETED"
		prev, prevName := start, "start"
		for i, t := range times {
			name := "activity-" + strconv.Itoa(i+1)
			out.Steps = append(out.Steps, Step{Name: prevName + "→" + name, Duration: t.Sub(prev)})
			prev, prevName = t, name
		}
		out.Steps = append(out.Steps, Step{Name: prevName + "→answer", Duration: time.Since(prev)})
		return out
	}
}
