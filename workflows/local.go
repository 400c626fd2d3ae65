package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Local steps (OrderInput.LocalSteps).
//
// A regular activity costs a round trip through the Temporal server: the task is
// dispatched to the service's pool, its start and result are written to the history, and
// a workflow task follows. With local steps, the saga's worker makes the first attempt of
// each call itself, as a local activity, and records only its result: a saga whose calls
// succeed runs from start to end in one workflow task. The first failure of a step that
// is not a final business answer (a timeout, a 5xx, a refused connection, or a saga
// worker that has no client for that service) hands the step to its service's task
// queue, where it is retried with backoff by that service's own pool. So a struggling
// service backs up into its own pool, scaled on its own, and never holds the saga pool
// for more than one attempt of at most Timing.LocalAttemptTimeout.

// localAttempts is how many attempts a step makes locally before going to its queue.
const localAttempts = 1

// execLocal makes the local attempt of a call. done reports that the call is settled:
// it succeeded, was refused for good, or was cancelled. Otherwise the caller goes on to
// the call's task queue; attempts counts the local attempt either way.
func (s *saga) execLocal(ctx workflow.Context, c call, out attempter) (attempts int32, done bool, err error) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: s.in.Timing.localAttemptTimeout(),
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: localAttempts},
		Summary:             c.summary,
	})
	err = workflow.ExecuteLocalActivity(lctx, c.activity, c.input).Get(lctx, out)
	if err == nil || temporal.IsCanceledError(err) || isFinal(err) {
		return localAttempts, true, err
	}
	s.logger.Warn("local attempt failed; handing the step to its service's queue", "activity", c.activity, "queue", c.queue, "error", err)
	return localAttempts, false, nil
}

// isFinal reports a business refusal: an application error marked non-retryable, or one
// whose type is a business code.
func isFinal(err error) bool {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return false
	}
	if appErr.NonRetryable() {
		return true
	}
	for _, code := range businessCodes() {
		if appErr.Type() == code {
			return true
		}
	}
	return false
}
