package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"

	"github.com/sagaflow/sagaflow/tools/devstack"
	"github.com/sagaflow/sagaflow/tools/localinfra"
)

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	logFile := fs.String("log-file", ".run/sagaflow.log", "where the components' JSON logs go (- for stderr)")
	if err := fs.Parse(args); err != nil {
		return &usageError{err.Error()}
	}
	bin, err := localinfra.FindBinary()
	if err != nil {
		return err
	}
	logs := stderr
	if *logFile != "-" {
		if err := os.MkdirAll(".run", 0o755); err != nil {
			return err
		}
		f, openErr := os.OpenFile(*logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if openErr != nil {
			return openErr
		}
		// The components' logs go through this file: a failed close may have lost some.
		defer func() { err = errors.Join(err, f.Close()) }()
		logs = f
	}
	return devstack.Run(ctx, devstack.Options{
		StateDir:       ".run",
		TemporalBinary: bin,
		PostgresURL:    envOr("DEV_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		RedisURL:       envOr("REDIS_URL", "redis://127.0.0.1:6379/0"),
		TemporalPort:   7233,
		TemporalUIPort: 8233,
		LogLevel:       os.Getenv("LOG_LEVEL"),
		Out:            stdout,
		Logs:           logs,
	})
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
