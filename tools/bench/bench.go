package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/tools/audit"
	"github.com/sagaflow/sagaflow/tools/stack"
)

// Config says what to measure and where.
type Config struct {
	Binary           string // the sagaflow binary the stack runs
	TemporalBinary   string
	OutDir           string // results, chart and the stack's logs go here
	AdminDatabaseURL string
	RedisURL         string

	// Knee search: rates from StartRate, multiplied by Growth while p99 stays under the
	// bound with no errors, then Refine bisection steps between the last good and the
	// first bad rate. Each rate runs for StepDuration.
	StartRate    float64
	Growth       float64
	Refine       int
	MaxRate      float64
	StepDuration time.Duration
	// SerialOps is how many operations run one at a time for the idle latency.
	SerialOps int
	// ScenarioDuration is how long each scenario runs at ScenarioLoad × the saga's knee.
	ScenarioDuration time.Duration
	ScenarioLoad     float64
	// Scenarios to run after the happy path's knee (names from Scenarios()).
	Scenarios []string
	// LocalSteps runs the sagas with local steps (SAGA_LOCAL_STEPS, workflows/local.go).
	LocalSteps bool
	// SerialOnly stops after the one-at-a-time runs (quick profiling).
	SerialOnly bool
	// Env is added to every component's environment (for experiments).
	Env map[string]string
	// Command is the command line recorded in the report.
	Command string
	// Progress receives the live progress line and the phase log.
	Progress io.Writer
}

// DefaultConfig is what `make bench` runs.
func DefaultConfig() Config {
	return Config{
		OutDir:           ".bench",
		AdminDatabaseURL: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		RedisURL:         "redis://127.0.0.1:6379/0",
		StartRate:        2,
		Growth:           1.5,
		Refine:           2,
		MaxRate:          2000,
		StepDuration:     10 * time.Second,
		SerialOps:        200,
		ScenarioDuration: 15 * time.Second,
		ScenarioLoad:     0.7,
		Scenarios:        []string{ScenarioMix, ScenarioHotSKUs, ScenarioApproval},
		LocalSteps:       true,
		Progress:         os.Stderr,
	}
}

// Report is the bench's result, written as JSON.
type Report struct {
	StartedAt time.Time `json:"started_at"`
	Command   string    `json:"command"`
	Machine   Machine   `json:"machine"`
	// SagaLocalSteps says how the sagas ran: local steps (SAGA_LOCAL_STEPS=true) or every
	// step on its service's queue.
	SagaLocalSteps bool `json:"saga_local_steps"`

	SagaKneePerS    float64 `json:"saga_knee_per_s"`
	CeilingKneePerS float64 `json:"ceiling_knee_per_s"`
	ThroughputRatio float64 `json:"throughput_ratio"`
	// P50s are of one order (or workflow) at a time on an otherwise idle system.
	SagaP50Ms        float64 `json:"saga_p50_ms"`
	CeilingP50Ms     float64 `json:"ceiling_p50_ms"`
	P50Ratio         float64 `json:"p50_ratio"`
	P99MsAt70PctKnee float64 `json:"p99_ms_at_70pct_knee"`

	InvariantViolations int `json:"invariant_violations"`
	LostOrders          int `json:"lost_orders"`
	DuplicatedOrders    int `json:"duplicated_orders"`

	// PeakRSSMiBAtKnee is each process's largest resident set during the saga's knee step.
	PeakRSSMiBAtKnee map[string]float64 `json:"peak_rss_mib_at_knee"`
	// CPUAtKnee splits the CPU used during the saga's knee step by group, in cores.
	CPUAtKnee        map[string]float64 `json:"cpu_cores_at_knee"`
	CeilingCPUAtKnee map[string]float64 `json:"ceiling_cpu_cores_at_knee"`

	SagaSerial    Stats    `json:"saga_serial"`
	CeilingSerial Stats    `json:"ceiling_serial"`
	SagaSteps     []Stats  `json:"saga_knee_steps"`
	CeilingSteps  []Stats  `json:"ceiling_knee_steps"`
	SagaAt70Pct   *Stats   `json:"saga_at_70pct_knee,omitempty"`
	Scenarios     []Stats  `json:"scenarios"`
	Audits        []Audit  `json:"audits"`
	Notes         []string `json:"notes,omitempty"`
	DurationS     float64  `json:"duration_s"`
}

// Audit is one run of the invariant auditor plus the bench's own order reconciliation.
type Audit struct {
	After      string                     `json:"after"`
	OK         bool                       `json:"ok"`
	Orders     int                        `json:"orders"`
	ByStatus   map[orderclient.Status]int `json:"orders_by_status"`
	Violations []string                   `json:"violations,omitempty"`
	Reconciliation
}

// Machine describes where the bench ran.
type Machine struct {
	CPUs      int        `json:"cpus"`
	CPUModel  string     `json:"cpu_model"`
	MemoryMiB int64      `json:"memory_mib"`
	Kernel    string     `json:"kernel"`
	GoVersion string     `json:"go_version"`
	LoadAvg   [3]float64 `json:"loadavg_at_start"`
}

// Bench is one benchmark session over a running stack.
type Bench struct {
	cfg      Config
	stack    *stack.Stack
	temporal client.Client
	ceiling  *Ceiling
	orders   *Orders
	ledger   *Ledger
	auditor  *audit.Auditor
	orderSvc *orderclient.Client
	sampler  *Sampler
	run      string
	report   *Report
	progress *progressLine
}

// Run starts the whole system as separate processes, measures it and the ceiling, and
// writes results.json and latency.png into cfg.OutDir.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	started := time.Now()
	b := &Bench{
		cfg:      cfg,
		ledger:   NewLedger(),
		run:      strconv.FormatInt(started.UnixNano()%1_000_000_000, 36),
		report:   &Report{StartedAt: started.UTC(), Command: cfg.Command, Machine: machine(), SagaLocalSteps: cfg.LocalSteps},
		progress: newProgressLine(cfg.Progress),
	}
	b.logf("bench %s: %d CPUs, load %.2f %.2f %.2f", b.run, b.report.Machine.CPUs,
		b.report.Machine.LoadAvg[0], b.report.Machine.LoadAvg[1], b.report.Machine.LoadAvg[2])
	if err := b.start(ctx); err != nil {
		return nil, err
	}
	defer b.stop()

	if err := b.measure(ctx); err != nil {
		return b.report, err
	}
	b.report.DurationS = round(time.Since(started).Seconds(), 1)
	if err := b.write(); err != nil {
		return b.report, err
	}
	return b.report, nil
}

func (b *Bench) logf(format string, args ...any) { b.progress.log(fmt.Sprintf(format, args...)) }

func (b *Bench) start(ctx context.Context) error {
	env := map[string]string{
		"RATE_LIMIT_PER_SECOND": "0",
		"REDIS_KEY_PREFIX":      "sagaflow-bench-" + b.run + ":",
		"ORDER_WAIT_MAX":        "40s",
		"IDEMPOTENCY_TTL":       "10m",
		"SAGA_LOCAL_STEPS":      strconv.FormatBool(b.cfg.LocalSteps),
	}
	for k, v := range b.cfg.Env {
		env[k] = v
	}
	// Only the latest run's logs and Temporal state are kept.
	if old, err := filepath.Glob(filepath.Join(b.cfg.OutDir, "stack-*")); err == nil {
		for _, dir := range old {
			_ = os.RemoveAll(dir)
		}
	}
	b.logf("starting Temporal, the services, the worker pools and the API as separate processes")
	s, err := stack.Start(ctx, stack.Options{
		Binary:           b.cfg.Binary,
		TemporalBinary:   b.cfg.TemporalBinary,
		StateDir:         filepath.Join(b.cfg.OutDir, "stack-"+b.run),
		AdminDatabaseURL: b.cfg.AdminDatabaseURL,
		RedisURL:         b.cfg.RedisURL,
		Env:              env,
	})
	if err != nil {
		return err
	}
	b.stack = s
	// The catalog is kept and the results are read as operators' tools do.
	inv := invclient.New(s.InvURL, s.AdminHTTP(invclient.ServiceName), 30*time.Second)
	if err := LoadCatalog(ctx, inv); err != nil {
		return err
	}
	// The ceiling's worker and client connect exactly as our processes do.
	b.temporal, err = temporalclient.Dial(temporalclient.Config{Address: s.TempAddr, Namespace: "default", Config: s.PayloadKeys}, logging.Discard())
	if err != nil {
		return err
	}
	if b.ceiling, err = StartCeiling(b.temporal, "bench-ceiling"); err != nil {
		return err
	}
	b.orders = NewOrders(s.APIURL, b.temporal, "bench-"+b.run, s.Tokens)
	if err := b.orders.WarmTokens(); err != nil {
		return fmt.Errorf("mint the bench's access tokens: %w", err)
	}
	b.orderSvc = orderclient.New(s.OrderURL, s.AdminHTTP(orderclient.ServiceName), 30*time.Second)
	b.auditor = audit.New(b.orderSvc, payclient.New(s.PayURL, s.AdminHTTP(payclient.ServiceName), 30*time.Second), inv)
	b.sampler = NewSampler(b.processes)
	return nil
}

func (b *Bench) stop() {
	if b.ceiling != nil {
		b.ceiling.Stop()
	}
	if b.temporal != nil {
		b.temporal.Close()
	}
	if b.stack != nil {
		b.stack.Stop()
	}
}

// processes lists what the sampler watches: every component, the Temporal server, the
// bench itself (it hosts the ceiling's worker), PostgreSQL and Redis.
func (b *Bench) processes() []Process {
	var out []Process
	for name, pid := range b.stack.PIDs() {
		group := GroupOurs
		if name == "temporal" {
			group = GroupTemporal
		}
		out = append(out, Process{Name: name, Group: group, PID: pid})
	}
	out = append(out, Process{Name: "bench", Group: GroupBench, PID: os.Getpid()})
	out = append(out, ProcessesNamed("postgres", GroupPostgres)...)
	out = append(out, ProcessesNamed("redis-server", GroupRedis)...)
	return out
}

func (b *Bench) measure(ctx context.Context) error {
	r := b.report
	// Warm both paths (connections, caches, the JIT-free but lazy Go runtime) first.
	b.serial(ctx, "ceiling", ScenarioHappy, 20)
	b.serial(ctx, "saga", ScenarioHappy, 20)

	r.CeilingSerial = b.serial(ctx, "ceiling", ScenarioHappy, b.cfg.SerialOps)
	r.SagaSerial = b.serial(ctx, "saga", ScenarioHappy, b.cfg.SerialOps)
	r.CeilingP50Ms, r.SagaP50Ms = r.CeilingSerial.Latency.P50, r.SagaSerial.Latency.P50
	r.P50Ratio = ratio(r.SagaP50Ms, r.CeilingP50Ms)
	b.logf("one at a time: ceiling p50 %.1f ms, saga p50 %.1f ms (ratio %.2f)", r.CeilingP50Ms, r.SagaP50Ms, r.P50Ratio)
	if b.cfg.SerialOnly {
		return b.audit(ctx, "one at a time")
	}

	var ceilingKnee, sagaKnee *Stats
	knees := b.knees(ctx, ScenarioHappy, "ceiling", "saga")
	r.CeilingKneePerS, r.CeilingSteps, ceilingKnee = knees[0].rate, knees[0].steps, knees[0].best()
	r.SagaKneePerS, r.SagaSteps, sagaKnee = knees[1].rate, knees[1].steps, knees[1].best()
	r.ThroughputRatio = ratio(r.SagaKneePerS, r.CeilingKneePerS)
	b.logf("knee: ceiling %.1f/s, saga %.1f/s (ratio %.2f)", r.CeilingKneePerS, r.SagaKneePerS, r.ThroughputRatio)
	if sagaKnee != nil {
		r.PeakRSSMiBAtKnee, r.CPUAtKnee = map[string]float64{}, cpuByGroup(sagaKnee.Processes)
		for _, p := range sagaKnee.Processes {
			if p.Group == GroupOurs || p.Group == GroupTemporal || p.Group == GroupBench {
				r.PeakRSSMiBAtKnee[p.Name] = p.PeakRSSMiB
			}
		}
	}
	if ceilingKnee != nil {
		r.CeilingCPUAtKnee = cpuByGroup(ceilingKnee.Processes)
	}
	if err := b.audit(ctx, "saga knee search"); err != nil {
		return err
	}

	if r.SagaKneePerS > 0 {
		st := b.open(ctx, "saga", ScenarioHappy, round(0.7*r.SagaKneePerS, 1), b.cfg.ScenarioDuration)
		r.SagaAt70Pct = &st
		r.P99MsAt70PctKnee = st.Latency.P99
		load := r.SagaKneePerS * b.cfg.ScenarioLoad
		for _, sc := range b.cfg.Scenarios {
			r.Scenarios = append(r.Scenarios, b.scenario(ctx, sc, load)...)
		}
		if err := b.audit(ctx, "scenarios"); err != nil {
			return err
		}
	} else {
		r.Notes = append(r.Notes, "the saga sustained no rate; scenarios skipped")
	}
	return nil
}

// scenarioStepsDown is how many lower rates a scenario tries after falling behind.
const scenarioStepsDown = 2

// scenario runs one scenario at rate; a scenario that does more work per order than the
// happy path may not keep up there, so it then tries lower rates (×0.7 each) and the
// report shows every run: the rate it fell behind at and the rate it held.
func (b *Bench) scenario(ctx context.Context, name string, rate float64) []Stats {
	var runs []Stats
	for i := 0; i <= scenarioStepsDown && ctx.Err() == nil; i++ {
		st := b.open(ctx, "saga", name, round(rate, 1), b.cfg.ScenarioDuration)
		runs = append(runs, st)
		if st.Passed {
			break
		}
		rate *= 0.7
	}
	return runs
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return round(a/b, 3)
}

func cpuByGroup(ps []ProcessSummary) map[string]float64 {
	out := map[string]float64{}
	for _, p := range ps {
		out[p.Group] = round(out[p.Group]+p.CPUCores, 3)
	}
	return out
}

// op returns the operation of a target and scenario with a fresh run name.
func (b *Bench) op(target, scenario string, runName string) Op {
	if target == "ceiling" {
		return b.ceiling.Op(b.run + "-" + runName)
	}
	inner := b.orders.Op(scenario, runName)
	return func(ctx context.Context, seq int, start time.Time) Outcome {
		out := inner(ctx, seq, start)
		b.ledger.Record(out)
		return out
	}
}

func (b *Bench) serial(ctx context.Context, target, scenario string, n int) Stats {
	name := fmt.Sprintf("%s-serial-%d", target, time.Now().UnixNano()%1_000_000)
	b.sampler.Start()
	res := Serial(ctx, n, b.op(target, scenario, name), b.progressFor(target+" one at a time", n))
	procs := b.sampler.Stop()
	b.progress.done()
	st := Summarize(target, scenario, ModeSerial, res)
	st.setProcesses(procs, res.End.Sub(res.Start).Seconds())
	st.LoadAvg = LoadAvg()
	b.logf("%-8s %-9s one at a time: p50 %6.1f  p95 %6.1f  p99 %7.1f  max %7.1f ms  load %.2f  cpu ms/op %v",
		target, scenario, st.Latency.P50, st.Latency.P95, st.Latency.P99, st.Latency.Max, st.LoadAvg[0], st.CPUMsPerOp)
	return st
}

func (b *Bench) open(ctx context.Context, target, scenario string, rate float64, d time.Duration) Stats {
	name := fmt.Sprintf("%s-%s-%g-%d", target, scenario, rate, time.Now().UnixNano()%1_000_000)
	load := Load{
		Rate: rate, Duration: d,
		// In flight beyond 1.5 s of arrivals means a mean latency over 1.5 s: the rate
		// is lost already, and the rest of the step would only grow the queue.
		MaxInFlight: int(math.Ceil(rate*1.5)) + 20,
		Progress:    b.progressFor(fmt.Sprintf("%s %s %g/s", target, scenario, rate), int(rate*d.Seconds())),
	}
	b.sampler.Start()
	res := Open(ctx, load, b.op(target, scenario, name))
	procs := b.sampler.Stop()
	b.progress.done()
	st := Summarize(target, scenario, ModeOpen, res)
	st.setProcesses(procs, res.End.Sub(res.Start).Seconds())
	st.LoadAvg = LoadAvg()
	verdict := "ok"
	if !st.Passed {
		verdict = "over the bound"
		if len(st.Errors) > 0 {
			verdict = fmt.Sprintf("errors %v", st.Errors)
		}
		if st.Aborted {
			verdict += ", stopped early: backlog"
		}
	}
	b.logf("%-8s %-9s %7.1f/s: done %.1f/s  p50 %6.1f  p95 %6.1f  p99 %7.1f  max %7.1f ms  load %.2f  cpu ms/op total %.1f  %s",
		target, scenario, rate, st.CompletedPerS, st.Latency.P50, st.Latency.P95, st.Latency.P99, st.Latency.Max, st.LoadAvg[0], st.CPUMsPerOp["total"], verdict)
	// Let the last stragglers' follow-up work (timers, history) settle before the next step.
	time.Sleep(2 * time.Second)
	return st
}

// kneeSearch is the knee search of one target.
type kneeSearch struct {
	target       string
	steps        []Stats
	rate, failed float64 // highest passing and lowest failing rate so far
	bestStep     int
	done         bool
}

func (k *kneeSearch) best() *Stats {
	if k.rate == 0 {
		return nil
	}
	return &k.steps[k.bestStep]
}

// next is the rate to try after the steps so far, or 0 when the search is over: up by
// Growth while steps pass, then Refine bisections between the last passing and the first
// failing rate.
func (k *kneeSearch) next(cfg Config) float64 {
	switch {
	case k.done:
		return 0
	case len(k.steps) == 0:
		return cfg.StartRate
	case k.failed == 0:
		if r := round(k.rate*cfg.Growth, 1); r <= cfg.MaxRate {
			return r
		}
		return 0
	}
	bisections := len(k.steps) - 1 - k.grown()
	if k.rate == 0 || bisections >= cfg.Refine {
		return 0
	}
	mid := round(math.Sqrt(k.rate*k.failed), 1)
	if mid <= k.rate || mid >= k.failed {
		return 0
	}
	return mid
}

// grown counts the steps of the growth phase (up to and including the first failure).
func (k *kneeSearch) grown() int {
	for i, st := range k.steps {
		if !st.Passed {
			return i
		}
	}
	return len(k.steps)
}

func (k *kneeSearch) record(st Stats) {
	k.steps = append(k.steps, st)
	if st.Passed {
		if st.OfferedRate > k.rate {
			k.rate, k.bestStep = st.OfferedRate, len(k.steps)-1
		}
		return
	}
	if k.failed == 0 || st.OfferedRate < k.failed {
		k.failed = st.OfferedRate
	}
}

// knees finds the knee of each target: the highest rate whose p99 stays under the bound
// with no errors. The targets take turns, one step each, so that whatever else runs on
// the machine weighs on their searches alike.
func (b *Bench) knees(ctx context.Context, scenario string, targets ...string) []*kneeSearch {
	searches := make([]*kneeSearch, len(targets))
	for i, t := range targets {
		searches[i] = &kneeSearch{target: t}
	}
	for ctx.Err() == nil {
		progressed := false
		for _, k := range searches {
			rate := k.next(b.cfg)
			if rate == 0 {
				k.done = true
				continue
			}
			k.record(b.open(ctx, k.target, scenario, rate, b.cfg.StepDuration))
			progressed = true
		}
		if !progressed {
			break
		}
	}
	return searches
}

func (b *Bench) audit(ctx context.Context, after string) error {
	b.logf("auditing invariants and reconciling orders (after %s)", after)
	rep, err := b.auditor.Run(ctx, audit.Options{})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	rec, err := b.ledger.Reconcile(ctx, b.orderSvc)
	if err != nil {
		return err
	}
	a := Audit{After: after, OK: rep.OK() && rec.Lost == 0 && rec.Duplicated == 0 && rec.Disagree == 0,
		Orders: rep.Orders, ByStatus: rep.OrdersByStatus, Reconciliation: rec}
	for _, v := range rep.Violations {
		a.Violations = append(a.Violations, v.String())
	}
	b.report.Audits = append(b.report.Audits, a)
	b.report.InvariantViolations = len(rep.Violations)
	b.report.LostOrders = rec.Lost
	b.report.DuplicatedOrders = rec.Duplicated
	var sb strings.Builder
	_ = rep.WriteText(&sb)
	b.logf("%saccepted %d, found %d, lost %d, duplicated %d, disagreeing %d", sb.String(), rec.Accepted, rec.Found, rec.Lost, rec.Duplicated, rec.Disagree)
	return nil
}

func (b *Bench) write() error {
	raw, err := json.MarshalIndent(b.report, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.cfg.OutDir, "results.json"), raw, 0o644); err != nil {
		return err
	}
	if err := WriteChart(filepath.Join(b.cfg.OutDir, "latency.png"), b.report); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return os.WriteFile(filepath.Join(b.cfg.OutDir, "results.md"), []byte(Table(b.report)), 0o644)
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvg: LoadAvg()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPUModel = strings.TrimSpace(value)
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.MemoryMiB = parse(strings.TrimSuffix(strings.TrimSpace(v), " kB")) / 1024
			}
		}
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(raw))
	}
	return m
}
