package workflows

import (
	"testing"
	"time"
)

func TestTimingCapsRetryIntervals(t *testing.T) {
	cases := []struct {
		name        string
		timing      Timing
		wantInitial time.Duration
		wantMax     time.Duration
	}{
		{"defaults", Timing{}, forwardInitialInterval, forwardMaxInterval},
		{"cap above the defaults", Timing{RetryMaxInterval: time.Minute}, forwardInitialInterval, forwardMaxInterval},
		{"cap between", Timing{RetryMaxInterval: time.Second}, forwardInitialInterval, time.Second},
		{"cap below the first wait", Timing{RetryMaxInterval: 100 * time.Millisecond}, 100 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := forwardRetry()
			got := tc.timing.apply(base)
			if got.InitialInterval != tc.wantInitial || got.MaximumInterval != tc.wantMax {
				t.Fatalf("intervals %s..%s, want %s..%s", got.InitialInterval, got.MaximumInterval, tc.wantInitial, tc.wantMax)
			}
			if got.MaximumAttempts != base.MaximumAttempts || len(got.NonRetryableErrorTypes) != len(base.NonRetryableErrorTypes) {
				t.Fatalf("the cap changed more than the intervals: %+v", got)
			}
			if base.MaximumInterval != forwardMaxInterval {
				t.Fatal("apply changed the policy it was given")
			}
		})
	}
}
