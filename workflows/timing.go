package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
)

// Timing tunes how the saga calls its activities. The API fills it from its configuration
// (SAGA_ACTIVITY_TIMEOUT, SAGA_RETRY_MAX_INTERVAL); it travels in the workflow input, so a
// saga keeps the timing it started with, whatever is deployed later. Zero fields keep the
// defaults.
type Timing struct {
	// ActivityTimeout bounds one attempt of an activity, start to close (default 15s). It
	// should exceed the workers' SERVICE_CALL_TIMEOUT, so a slow call fails with the
	// client's clear error first; an attempt still running at the timeout is retried.
	ActivityTimeout time.Duration `json:"activity_timeout,omitempty"`
	// RetryMaxInterval caps the backoff between two attempts of a step or of a
	// compensation batch (defaults: 10s forward, 30s within a compensation batch). The
	// pauses between failed compensation batches keep their own cap.
	RetryMaxInterval time.Duration `json:"retry_max_interval,omitempty"`
	// LocalAttemptTimeout bounds the local attempt of a call with local steps (default
	// 2s, never above ActivityTimeout). It is short on purpose: a service slower than
	// this hands its calls to its own pool instead of holding the saga pool.
	LocalAttemptTimeout time.Duration `json:"local_attempt_timeout,omitempty"`
}

// DefaultActivityTimeout bounds an activity attempt when the input names no timeout.
const DefaultActivityTimeout = activityTimeout

func (t Timing) activityTimeout() time.Duration {
	if t.ActivityTimeout > 0 {
		return t.ActivityTimeout
	}
	return activityTimeout
}

// DefaultLocalAttemptTimeout bounds a local attempt when the input names no timeout.
const DefaultLocalAttemptTimeout = 2 * time.Second

func (t Timing) localAttemptTimeout() time.Duration {
	d := t.LocalAttemptTimeout
	if d <= 0 {
		d = DefaultLocalAttemptTimeout
	}
	return min(d, t.activityTimeout())
}

// apply returns the policy with its intervals capped at RetryMaxInterval.
func (t Timing) apply(p *temporal.RetryPolicy) *temporal.RetryPolicy {
	if t.RetryMaxInterval <= 0 || p == nil {
		return p
	}
	out := *p
	out.InitialInterval = min(out.InitialInterval, t.RetryMaxInterval)
	if out.MaximumInterval == 0 || out.MaximumInterval > t.RetryMaxInterval {
		out.MaximumInterval = t.RetryMaxInterval
	}
	return &out
}
