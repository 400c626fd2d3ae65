package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/tools/bench"
	"github.com/sagaflow/sagaflow/tools/localinfra"
)

// runBench runs the whole system as separate processes of this binary and measures it
// against Temporal's own ceiling (see tools/bench).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := bench.DefaultConfig()
	if v := os.Getenv("DEV_POSTGRES_URL"); v != "" {
		cfg.AdminDatabaseURL = v
	}
	if v := os.Getenv("REDIS_URL"); v != "" {
		cfg.RedisURL = v
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.OutDir, "out", cfg.OutDir, "folder for results.json, latency.png, results.md and the processes' logs")
	fs.StringVar(&cfg.AdminDatabaseURL, "postgres", cfg.AdminDatabaseURL, "server-level PostgreSQL DSN; the bench creates and drops its own databases (DEV_POSTGRES_URL)")
	fs.StringVar(&cfg.RedisURL, "redis", cfg.RedisURL, "Redis URL; the bench uses its own key prefix (REDIS_URL)")
	fs.Float64Var(&cfg.StartRate, "start-rate", cfg.StartRate, "first rate of the knee search, per second")
	fs.Float64Var(&cfg.Growth, "growth", cfg.Growth, "factor between rates of the knee search")
	fs.IntVar(&cfg.Refine, "refine", cfg.Refine, "bisection steps after the first failing rate")
	fs.Float64Var(&cfg.MaxRate, "max-rate", cfg.MaxRate, "highest rate tried")
	fs.DurationVar(&cfg.StepDuration, "step", cfg.StepDuration, "duration of each rate of the knee search")
	fs.IntVar(&cfg.SerialOps, "serial", cfg.SerialOps, "operations run one at a time for the idle latency")
	fs.DurationVar(&cfg.ScenarioDuration, "scenario-duration", cfg.ScenarioDuration, "duration of each scenario run")
	fs.Float64Var(&cfg.ScenarioLoad, "scenario-load", cfg.ScenarioLoad, "scenario rate as a fraction of the happy path's knee")
	scenarios := fs.String("scenarios", strings.Join(cfg.Scenarios, ","), "scenarios after the happy path: mix, hot-skus, approval (empty for none)")
	fs.BoolVar(&cfg.LocalSteps, "local-steps", cfg.LocalSteps, "run sagas with local steps (SAGA_LOCAL_STEPS); false puts every step on its service's queue")
	fs.BoolVar(&cfg.SerialOnly, "serial-only", false, "stop after the one-at-a-time runs (quick profiling)")
	env := fs.String("env", "", "extra NAME=VALUE,... for every component (experiments)")
	insecure := fs.Bool("insecure", false, "run every component without authentication and payload encryption, to measure what they cost")
	if err := fs.Parse(args); err != nil {
		return &usageError{err.Error()}
	}
	cfg.Scenarios = nil
	for _, s := range strings.Split(*scenarios, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if s == bench.ScenarioHappy || !slices.Contains(bench.Scenarios(), s) {
			return &usageError{fmt.Sprintf("bench: unknown scenario %q (mix, hot-skus, approval)", s)}
		}
		cfg.Scenarios = append(cfg.Scenarios, s)
	}
	if *env != "" {
		cfg.Env = map[string]string{}
		for _, kv := range strings.Split(*env, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return &usageError{"bench: --env takes NAME=VALUE pairs"}
			}
			cfg.Env[k] = v
		}
	}
	if *insecure {
		if cfg.Env == nil {
			cfg.Env = map[string]string{}
		}
		// The stack's keys are emptied over, so nothing is signed, verified or encrypted.
		for k, v := range map[string]string{
			auth.InsecureVariable: "true", "TEMPORAL_PAYLOAD_KEYS": "", "TEMPORAL_PAYLOAD_KEY_ID": "",
			"API_SERVICE_KEY": "", "WORKER_SERVICE_KEYS": "", "SERVICE_AUTH_TRUSTED_KEYS": "",
			"AUTH_ISSUER": "", "AUTH_AUDIENCE": "", "AUTH_JWKS_URL": "",
		} {
			cfg.Env[k] = v
		}
	}
	if cfg.StartRate <= 0 || cfg.Growth <= 1 || cfg.StepDuration <= 0 || cfg.SerialOps < 1 || cfg.ScenarioLoad <= 0 {
		return &usageError{"bench: --start-rate, --step, --serial and --scenario-load must be positive and --growth above 1"}
	}
	var err error
	if cfg.Binary, err = os.Executable(); err != nil {
		return err
	}
	if cfg.TemporalBinary, err = localinfra.FindBinary(); err != nil {
		return err
	}
	cfg.Command = strings.TrimSpace("sagaflow bench " + strings.Join(args, " "))
	cfg.Progress = stderr
	report, err := bench.Run(ctx, cfg)
	if report != nil {
		if _, werr := fmt.Fprintf(stdout, "\n%s", bench.Table(report)); werr != nil {
			return errors.Join(err, werr)
		}
	}
	if err == nil {
		_, err = fmt.Fprintf(stdout, "\nwrote %s/results.json, %s/latency.png and %s/results.md\n", cfg.OutDir, cfg.OutDir, cfg.OutDir)
	}
	return err
}
