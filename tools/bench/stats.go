package bench

import (
	"math"
	"slices"
	"time"
)

// Latencies summarises a set of durations in milliseconds.
type Latencies struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// StepLatencies is the latency of one named step of the operations.
type StepLatencies struct {
	Name string `json:"name"`
	Latencies
}

// Stats is the summary of one run.
type Stats struct {
	Target      string  `json:"target"`   // "saga" or "ceiling"
	Scenario    string  `json:"scenario"` // "happy", "mix", "hot-skus", "approval"
	Mode        string  `json:"mode"`     // "open" (fixed arrival rate) or "serial" (one at a time)
	OfferedRate float64 `json:"offered_per_s"`
	DurationS   float64 `json:"duration_s"`
	Planned     int     `json:"planned"`
	Sent        int     `json:"sent"`
	// Completed counts operations that reached the terminal state they were expected to.
	Completed     int     `json:"completed"`
	CompletedPerS float64 `json:"completed_per_s"`
	// Latency is from the intended send time to the terminal state, over every finished
	// operation (errors included: a slow failure is still slow).
	Latency  Latencies       `json:"latency"`
	Steps    []StepLatencies `json:"steps,omitempty"`
	Errors   map[string]int  `json:"errors"`
	Outcomes map[string]int  `json:"outcomes"`
	// ErrorSamples holds one message per error kind.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Aborted      bool              `json:"aborted,omitempty"`
	// Passed: every operation finished as expected and p99 stayed under the latency bound.
	Passed bool `json:"passed"`
	// Load and Processes describe the machine while the run lasted.
	LoadAvg   [3]float64       `json:"loadavg_after"`
	Processes []ProcessSummary `json:"processes,omitempty"`
	// CPUMsPerOp is the CPU time each process group spent per completed operation, in
	// milliseconds: what an operation costs, whatever else ran on the machine.
	CPUMsPerOp map[string]float64 `json:"cpu_ms_per_op,omitempty"`
}

// setProcesses records the processes' use during the run and the CPU cost per operation.
func (st *Stats) setProcesses(ps []ProcessSummary, wall float64) {
	st.Processes = ps
	if st.Completed == 0 || wall <= 0 {
		return
	}
	st.CPUMsPerOp = map[string]float64{}
	total := 0.0
	for _, p := range ps {
		v := p.CPUCores * wall * 1000 / float64(st.Completed)
		st.CPUMsPerOp[p.Group] = round(st.CPUMsPerOp[p.Group]+v, 2)
		total += v
	}
	st.CPUMsPerOp["total"] = round(total, 2)
}

// LatencyBound is the p99 a rate must stay under to count as sustained.
const LatencyBound = time.Second

// Summarize turns a run's samples into its statistics.
func Summarize(target, scenario, mode string, r Result) Stats {
	st := Stats{
		Target: target, Scenario: scenario, Mode: mode,
		OfferedRate: round(r.Rate, 2), DurationS: round(r.Duration.Seconds(), 2),
		Planned: r.Planned, Sent: len(r.Samples),
		Errors: map[string]int{}, Outcomes: map[string]int{}, ErrorSamples: map[string]string{},
		Aborted: r.Aborted,
	}
	lat := make([]time.Duration, 0, len(r.Samples))
	steps := map[string][]time.Duration{}
	var order []string
	for _, s := range r.Samples {
		lat = append(lat, s.Latency)
		if s.Status != "" {
			st.Outcomes[s.Status]++
		}
		if s.Err != "" {
			st.Errors[s.Err]++
			if _, ok := st.ErrorSamples[s.Err]; !ok {
				st.ErrorSamples[s.Err] = s.Detail
			}
			continue
		}
		st.Completed++
		for _, step := range s.Steps {
			if _, ok := steps[step.Name]; !ok {
				order = append(order, step.Name)
			}
			steps[step.Name] = append(steps[step.Name], step.Duration)
		}
	}
	st.Latency = summarize(lat)
	for _, name := range order {
		st.Steps = append(st.Steps, StepLatencies{Name: name, Latencies: summarize(steps[name])})
	}
	if span := r.End.Sub(r.Start); span > 0 {
		// A run that keeps up finishes about one latency after its last send; one that
		// falls behind takes longer, and its completion rate shows it.
		st.CompletedPerS = round(float64(st.Completed)/max(span.Seconds(), r.Duration.Seconds()), 2)
	}
	if mode == ModeSerial {
		st.OfferedRate = 0
	}
	st.Passed = len(st.Errors) == 0 && !r.Aborted && st.Sent == st.Planned && st.Latency.P99 < float64(LatencyBound.Milliseconds())
	if len(st.ErrorSamples) == 0 {
		st.ErrorSamples = nil
	}
	return st
}

// Run modes.
const (
	ModeOpen   = "open"
	ModeSerial = "serial"
)

func summarize(d []time.Duration) Latencies {
	if len(d) == 0 {
		return Latencies{}
	}
	s := sortedDurations(d)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return Latencies{
		Count: len(s),
		P50:   ms(percentile(s, 0.50)),
		P95:   ms(percentile(s, 0.95)),
		P99:   ms(percentile(s, 0.99)),
		Max:   ms(s[len(s)-1]),
		Mean:  ms(sum / time.Duration(len(s))),
	}
}

func sortedDurations(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 2) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
