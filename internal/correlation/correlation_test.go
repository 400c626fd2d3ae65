package correlation_test

import (
	"context"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/internal/correlation"
	"github.com/sagaflow/sagaflow/internal/requestid"
)

type header struct{ fields map[string]*commonpb.Payload }

func (h header) Set(k string, p *commonpb.Payload) { h.fields[k] = p }
func (h header) Get(k string) (*commonpb.Payload, bool) {
	p, ok := h.fields[k]
	return p, ok
}
func (h header) ForEachKey(fn func(string, *commonpb.Payload) error) error {
	for k, p := range h.fields {
		if err := fn(k, p); err != nil {
			return err
		}
	}
	return nil
}

func TestInjectExtract(t *testing.T) {
	p := correlation.NewPropagator()
	cases := []struct {
		name string
		id   string
		want string
	}{
		{"carried", "req-42", "req-42"},
		{"absent", "", ""},
		{"unsafe id dropped", "bad id\nforged=1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := header{fields: map[string]*commonpb.Payload{}}
			if err := p.Inject(requestid.With(context.Background(), tc.id), h); err != nil {
				t.Fatal(err)
			}
			ctx, err := p.Extract(context.Background(), h)
			if err != nil {
				t.Fatal(err)
			}
			if got := requestid.From(ctx); got != tc.want {
				t.Errorf("extracted %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCarriedIntoWorkflowAndActivity starts a workflow with the header a client would send
// and checks the id reaches the workflow context and the activity context.
func TestCarriedIntoWorkflowAndActivity(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetContextPropagators([]workflow.ContextPropagator{correlation.NewPropagator()})

	h := header{fields: map[string]*commonpb.Payload{}}
	if err := correlation.NewPropagator().Inject(requestid.With(context.Background(), "req-7"), h); err != nil {
		t.Fatal(err)
	}
	env.SetHeader(&commonpb.Header{Fields: h.fields})

	env.RegisterActivityWithOptions(func(ctx context.Context) (string, error) {
		return requestid.From(ctx), nil
	}, activity.RegisterOptions{Name: "echo"})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) ([]string, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Second})
		var fromActivity string
		if err := workflow.ExecuteActivity(ctx, "echo").Get(ctx, &fromActivity); err != nil {
			return nil, err
		}
		return []string{correlation.FromWorkflow(ctx), fromActivity}, nil
	}, workflow.RegisterOptions{Name: "probe"})

	env.ExecuteWorkflow("probe")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "req-7" || got[1] != "req-7" {
		t.Errorf("workflow and activity saw %v, want req-7 in both", got)
	}
}
