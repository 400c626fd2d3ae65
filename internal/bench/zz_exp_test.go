package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/internal/devserver"
)

type expIn struct {
	Acts, Queues int
	Local        bool
	Upserts      int
}

func expWorkflow(ctx workflow.Context, in expIn) error {
	key := temporal.NewSearchAttributeKeyKeyword("OrderStatus")
	for i := 0; i < in.Acts; i++ {
		if in.Local {
			lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
			if err := workflow.ExecuteLocalActivity(lctx, "exp.noop", i).Get(ctx, nil); err != nil {
				return err
			}
		} else {
			actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second, TaskQueue: fmt.Sprintf("expq-%d", i%in.Queues)})
			if err := workflow.ExecuteActivity(actx, "exp.noop", i).Get(ctx, nil); err != nil {
				return err
			}
		}
		if i < in.Upserts {
			_ = workflow.UpsertTypedSearchAttributes(ctx, key.ValueSet(fmt.Sprint("S", i)))
		}
	}
	return nil
}

func TestZZExperiment(t *testing.T) {
	if os.Getenv("EXP") == "" {
		t.Skip()
	}
	bin, _ := devserver.FindBinary()
	cfg := devserver.Config{Binary: bin, DynamicConfig: devserver.FastDispatch(), DBFile: filepath.Join(t.TempDir(), "t.db"),
		SearchAttributes: map[string]string{"OrderStatus": "Keyword"}}
	if os.Getenv("EXP_REFRESH") != "" {
		cfg.DynamicConfig["system.forceSearchAttributesCacheRefreshOnRead"] = "true"
	}
	ctx := context.Background()
	srv, err := devserver.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	copts := client.Options{HostPort: srv.HostPort, ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}}}
	if os.Getenv("EXP_GZIP") != "" {
		copts.ConnectionOptions = client.ConnectionOptions{}
	}
	c, err := client.Dial(copts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 4; i++ {
		w := worker.New(c, fmt.Sprintf("expq-%d", i), worker.Options{})
		if i == 0 {
			w.RegisterWorkflowWithOptions(expWorkflow, workflow.RegisterOptions{Name: "exp"})
		}
		w.RegisterActivityWithOptions(func(context.Context, int) error { return nil }, activity.RegisterOptions{Name: "exp.noop"})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
	}
	pid := srv.PID()
	for _, v := range []struct {
		name string
		in   expIn
	}{
		{"5 acts 1 queue", expIn{Acts: 5, Queues: 1}},
		{"5 acts 1 queue 5 upserts", expIn{Acts: 5, Queues: 1, Upserts: 5}},
		{"5 acts 1 queue", expIn{Acts: 5, Queues: 1}},
	} {
		n := 0
		op := func(ctx context.Context, seq int, start time.Time) Outcome {
			n++
			wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "expq-0", ID: fmt.Sprintf("%s-%d-%d", v.name, seq, time.Now().UnixNano())}, "exp", v.in)
			if err != nil {
				return Outcome{Err: "start"}
			}
			if err := wr.Get(ctx, nil); err != nil {
				return Outcome{Err: "get"}
			}
			return Outcome{Status: "ok"}
		}
		Serial(ctx, 10, op, nil)
		t0, self0 := cpuTicks(pid, false), cpuTicks(os.Getpid(), false)
		res := Open(ctx, Load{Rate: 5, Duration: 8 * time.Second}, op)
		t1, self1 := cpuTicks(pid, false), cpuTicks(os.Getpid(), false)
		st := Summarize("x", "x", ModeOpen, res)
		t.Logf("%-26s temporal %.1f ms/op, client+workers %.1f ms/op, p50 %.1f p99 %.1f errs %v load %.1f", v.name,
			float64(t1-t0)*10/float64(st.Completed), float64(self1-self0)*10/float64(st.Completed), st.Latency.P50, st.Latency.P99, st.Errors, LoadAvg()[0])
	}
}
