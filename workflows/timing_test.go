package workflows_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/sagaflow/sagaflow/workflows"
)

// The saga calls every activity with the timing its input carries, and with the defaults
// when the input names none (sagas started before the knobs existed replay unchanged).
func TestSagaUsesTheTimingOfItsInput(t *testing.T) {
	cases := []struct {
		name        string
		timing      workflows.Timing
		wantTimeout time.Duration
	}{
		{"defaults", workflows.Timing{}, workflows.DefaultActivityTimeout},
		{"configured", workflows.Timing{ActivityTimeout: 3 * time.Second, RetryMaxInterval: 700 * time.Millisecond}, 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			var mu sync.Mutex
			seen := map[string]activity.Info{}
			w.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
				mu.Lock()
				defer mu.Unlock()
				seen[info.ActivityType.Name] = *info
			})
			in := input()
			in.Timing = tc.timing
			w.env.ExecuteWorkflow(workflows.OrderSagaName, in)
			if err := w.env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if len(seen) == 0 {
				t.Fatal("no activity started")
			}
			for name, info := range seen {
				if info.StartToCloseTimeout != tc.wantTimeout {
					t.Errorf("%s: start-to-close %s, want %s", name, info.StartToCloseTimeout, tc.wantTimeout)
				}
			}
		})
	}
}
