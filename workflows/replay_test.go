package workflows_test

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/internal/correlation"
	"github.com/sagaflow/sagaflow/workflows"
)

// TestReplayRecordedHistories replays histories of real sagas (recorded by the end-to-end
// suite) against the current code: any change that would break running sagas fails here.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no recorded histories in testdata/histories")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
				ContextPropagators: []workflow.ContextPropagator{correlation.NewPropagator()},
			})
			if err != nil {
				t.Fatal(err)
			}
			replayer.RegisterWorkflowWithOptions(workflows.OrderSaga, workflow.RegisterOptions{Name: workflows.OrderSagaName})
			if err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
}
