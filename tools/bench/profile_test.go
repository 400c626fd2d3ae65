package bench_test

import (
	"context"
	"os"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/test/system"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/tools/bench"
)

// TestProfile writes a CPU profile of every sagaflow component (services, worker pools,
// API, all in this process) while the generator places orders at BENCH_PROFILE_RATE per
// second (default 10) for BENCH_PROFILE_SECONDS (default 20), with local saga steps unless
// BENCH_PROFILE_QUEUED is set. It runs only when
// BENCH_PROFILE names the profile file:
//
//	BENCH_PROFILE=/tmp/cpu.out go test -run TestProfile ./tools/bench/
//	go tool pprof -top /tmp/cpu.out
func TestProfile(t *testing.T) {
	path := os.Getenv("BENCH_PROFILE")
	if path == "" {
		t.Skip("set BENCH_PROFILE to the profile file to write")
	}
	rate := envFloat(t, "BENCH_PROFILE_RATE", 10)
	seconds := envFloat(t, "BENCH_PROFILE_SECONDS", 20)
	ctx := context.Background()
	// The profile is of our code: the tests' contract validator would take a quarter of it.
	s := startSystem(t, os.Getenv("BENCH_PROFILE_QUEUED") == "", system.WithoutContract())
	orders := bench.NewOrders(s.apiURL, nil, "profile-"+testenv.Suffix(), nil)
	bench.Serial(ctx, 20, orders.Op(bench.ScenarioHappy, "warm"), nil)

	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		testenv.Close(t, f)
		t.Fatal(err)
	}
	cpu0 := processCPU(t)
	res := bench.Open(ctx, bench.Load{Rate: rate, Duration: time.Duration(seconds * float64(time.Second))}, orders.Op(bench.ScenarioHappy, "profile"))
	cpu := processCPU(t) - cpu0
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	st := bench.Summarize("saga", bench.ScenarioHappy, bench.ModeOpen, res)
	t.Logf("%.0f/s for %.0fs: completed %d, p50 %.1f ms, p99 %.1f ms, errors %v; CPU of every component %.2f ms per order",
		rate, seconds, st.Completed, st.Latency.P50, st.Latency.P99, st.Errors, float64(cpu)/float64(time.Millisecond)/float64(max(st.Completed, 1)))
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envFloat(t *testing.T, name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		t.Fatalf("%s must be a positive number, got %q", name, v)
	}
	return f
}
