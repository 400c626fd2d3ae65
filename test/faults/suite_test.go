package faults_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/test/faults"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/tools/localinfra"
	"github.com/sagaflow/sagaflow/tools/stack"
)

// enableVar turns the fault suite on: it starts whole systems of real processes and takes
// minutes, so `go test ./...` skips it and `make test-faults` runs it.
const enableVar = "SAGAFLOW_FAULT_SUITE"

// reportVar, when set, names a file the suite writes its results table to.
const reportVar = "SAGAFLOW_FAULT_REPORT"

// suite holds what the scenarios share: the built binary and the results table.
type suite struct {
	binary   string
	temporal string
	mu       sync.Mutex
	rows     []faults.Result
}

// baseEnv is every scenario's configuration: short call timeouts and capped backoff so
// faults resolve in seconds, held orders that wait long enough for their decision, and no
// rate limit unless a scenario sets one.
func baseEnv() map[string]string {
	return map[string]string{
		"SERVICE_CALL_TIMEOUT":    "2s",
		"SAGA_ACTIVITY_TIMEOUT":   "4s",
		"SAGA_RETRY_MAX_INTERVAL": "1s",
		"APPROVAL_THRESHOLD":      fmt.Sprint(faults.ApprovalThreshold),
		"APPROVAL_TIMEOUT":        "10m",
		"RATE_LIMIT_PER_SECOND":   "0",
		"WORKER_STOP_TIMEOUT":     "5s",
		"SHUTDOWN_TIMEOUT":        "5s",
		"REDIS_KEY_PREFIX":        "faults:",
	}
}

// TestFaultSuite runs every scenario on its own system of real processes and prints one
// row per scenario. Run one with `-run 'TestFaultSuite/<name>'`.
func TestFaultSuite(t *testing.T) {
	if os.Getenv(enableVar) == "" {
		t.Skipf("set %s=1 (or run `make test-faults`) to run the fault suite", enableVar)
	}
	root, err := stack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{}
	if s.binary, err = stack.Build(context.Background(), root, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if s.temporal, err = localinfra.FindBinary(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) { s.run(t, sc) })
	}
	var b strings.Builder
	fmt.Fprintf(&b, "fault suite: %d scenario(s) in %s\n%s\n", len(s.rows), time.Since(began).Round(time.Second), faults.RowHeader)
	for _, r := range s.rows {
		b.WriteString(r.Row() + "\n")
	}
	t.Log("\n" + b.String())
	if path := os.Getenv(reportVar); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Errorf("write report: %v", err)
		}
	}
}

// scenario is one fault: the system it needs, the stream of orders, and what happens
// while the stream runs.
type scenario struct {
	name string
	// orders and span: the stream (DefaultMix unless mix is set), spread over span.
	orders int
	mix    faults.Mix
	span   time.Duration
	opts   faults.Options
	// fault runs while the stream is under way; it injects the fault, heals it and
	// returns when it healed. The stream keeps running meanwhile.
	fault func(ctx context.Context, t *testing.T, env *faults.Env, load *faults.Load) time.Time
	// check, when set, runs after the common checks passed.
	check func(ctx context.Context, t *testing.T, env *faults.Env, load *faults.Load, r faults.Result)
	// quiet bounds the wait for quiescence after healing (default 2m).
	quiet time.Duration
}

func (s *suite) run(t *testing.T, sc scenario) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	opts := sc.opts
	opts.Binary, opts.TemporalBinary = s.binary, s.temporal
	opts.AdminDatabaseURL = testenv.AdminDatabaseURL()
	opts.StateDir = t.TempDir()
	env := baseEnv()
	maps.Copy(env, opts.Env)
	opts.Env = env
	started := time.Now()
	e, err := faults.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(e.Close)
	if err := e.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("system up in %s; PIDs %v", time.Since(started).Round(time.Millisecond), e.Stack.PIDs())
	defer func() {
		if t.Failed() {
			t.Logf("component logs: %s", strings.Join(e.Logs(), " "))
			keepLogs(t, opts.StateDir)
		}
	}()

	load := faults.NewLoad(e.Stack.APIURL, sc.name+"-"+testenv.Suffix(), e.Stack.Tokens)
	mix := sc.mix
	if mix == nil {
		mix = faults.DefaultMix(sc.orders)
	}
	load.Run(ctx, load.Orders(mix, uint64(len(sc.name))), sc.span)
	healed := sc.fault(ctx, t, e, load)
	load.Wait()
	for _, err := range load.Mismatches() {
		t.Errorf("%v", err)
	}
	quiet := sc.quiet
	if quiet == 0 {
		quiet = 2 * time.Minute
	}
	r, err := e.Verify(ctx, sc.name, load, healed, quiet)
	s.mu.Lock()
	s.rows = append(s.rows, r)
	s.mu.Unlock()
	t.Logf("%s\n%s\nPOST /orders answers: %v; %s\n%s", faults.RowHeader, r.Row(), load.Codes(), r.Evidence(), r.Audit)
	for _, p := range r.Problems {
		t.Errorf("%s", p)
	}
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if sc.check != nil && !t.Failed() {
		sc.check(ctx, t, e, load, r)
	}
}

// keepLogs copies a failed scenario's logs where they survive the test's temp dir.
func keepLogs(t *testing.T, dir string) {
	dst := filepath.Join(os.TempDir(), "sagaflow-faults-logs", t.Name())
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		if raw, err := os.ReadFile(f); err == nil {
			_ = os.WriteFile(filepath.Join(dst, filepath.Base(f)), raw, 0o644)
		}
	}
	t.Logf("logs kept in %s", dst)
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
