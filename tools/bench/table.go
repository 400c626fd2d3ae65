package bench

import (
	"fmt"
	"slices"
	"strings"
)

// Table renders the report as Markdown: the headline figures, the targets, every
// scenario, and the resources used at the knee.
func Table(r *Report) string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %d MiB, Linux %s, %s; load average at start %.2f / %.2f / %.2f.\n\n",
		m.CPUs, m.CPUModel, m.MemoryMiB, m.Kernel, m.GoVersion, m.LoadAvg[0], m.LoadAvg[1], m.LoadAvg[2])
	if r.Command != "" {
		fmt.Fprintf(&b, "Command: `%s`\n\n", r.Command)
	}
	mode := "every step on its service's task queue (SAGA_LOCAL_STEPS=false)"
	if r.SagaLocalSteps {
		mode = "local steps (SAGA_LOCAL_STEPS=true): each call's first attempt in the saga pool"
	}
	fmt.Fprintf(&b, "Sagas ran with %s.\n\n", mode)
	b.WriteString("| measure | sagaflow saga | ceiling: 5 no-op activities | ratio | target |\n| --- | ---: | ---: | ---: | --- |\n")
	fmt.Fprintf(&b, "| knee (highest rate with p99 < 1 s, no errors) | %.1f /s | %.1f /s | %.2f | ≥ 1.0 |\n", r.SagaKneePerS, r.CeilingKneePerS, r.ThroughputRatio)
	fmt.Fprintf(&b, "| p50, one at a time | %.1f ms | %.1f ms | %.2f | ≤ 1.5 |\n", r.SagaP50Ms, r.CeilingP50Ms, r.P50Ratio)
	fmt.Fprintf(&b, "| p99, one at a time | %.1f ms | %.1f ms | | |\n", r.SagaSerial.Latency.P99, r.CeilingSerial.Latency.P99)
	fmt.Fprintf(&b, "| p99 at 70 %% of the saga's knee | %.1f ms | | | ≤ 1000 ms |\n", r.P99MsAt70PctKnee)
	fmt.Fprintf(&b, "| invariant violations / lost / duplicated orders | %d / %d / %d | | | 0 / 0 / 0 |\n\n",
		r.InvariantViolations, r.LostOrders, r.DuplicatedOrders)

	b.WriteString("| run | offered /s | completed /s | p50 ms | p95 ms | p99 ms | max ms | errors | load |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n")
	row := func(name string, s Stats) {
		rate := fmt.Sprintf("%.1f", s.OfferedRate)
		if s.Mode == ModeSerial {
			rate = "1 at a time"
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %.2f |\n", name, rate, s.CompletedPerS,
			s.Latency.P50, s.Latency.P95, s.Latency.P99, s.Latency.Max, errorText(s.Errors, s.Aborted), s.LoadAvg[0])
	}
	row("ceiling", r.CeilingSerial)
	row("saga happy path", r.SagaSerial)
	for _, s := range r.CeilingSteps {
		row("ceiling knee search", s)
	}
	for _, s := range r.SagaSteps {
		row("saga knee search", s)
	}
	if r.SagaAt70Pct != nil {
		row("saga happy path at 70 % of knee", *r.SagaAt70Pct)
	}
	for _, s := range r.Scenarios {
		row("saga "+s.Scenario, s)
	}

	if len(r.SagaSerial.Steps) > 0 {
		b.WriteString("\nSaga steps, one at a time (from the order's status history):\n\n| step | p50 ms | p99 ms |\n| --- | ---: | ---: |\n")
		for _, s := range r.SagaSerial.Steps {
			fmt.Fprintf(&b, "| %s | %.1f | %.1f |\n", s.Name, s.P50, s.P99)
		}
	}
	if len(r.CPUAtKnee) > 0 {
		b.WriteString("\nCPU at the knee (cores; PostgreSQL and Redis are shared with anything else on the machine):\n\n| group | saga knee | ceiling knee |\n| --- | ---: | ---: |\n")
		var groups []string
		for g := range r.CPUAtKnee {
			groups = append(groups, g)
		}
		slices.Sort(groups)
		for _, g := range groups {
			fmt.Fprintf(&b, "| %s | %.2f | %.2f |\n", g, r.CPUAtKnee[g], r.CeilingCPUAtKnee[g])
		}
	}
	if len(r.PeakRSSMiBAtKnee) > 0 {
		b.WriteString("\nPeak RSS during the saga's knee step:\n\n| process | MiB |\n| --- | ---: |\n")
		var names []string
		for n := range r.PeakRSSMiBAtKnee {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintf(&b, "| %s | %.1f |\n", n, r.PeakRSSMiBAtKnee[n])
		}
	}
	return b.String()
}

func errorText(errs map[string]int, aborted bool) string {
	if len(errs) == 0 && !aborted {
		return "0"
	}
	var parts []string
	for k, v := range errs {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(parts)
	if aborted {
		parts = append(parts, "stopped: backlog")
	}
	return strings.Join(parts, ", ")
}
