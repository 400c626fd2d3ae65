package payment_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/services/payment"
)

func TestLoadConfig(t *testing.T) {
	t.Setenv("PAYMENT_DATABASE_URL", "postgres://localhost/payment")
	t.Setenv("PAYMENT_PROCESSOR_LATENCY", "250ms")
	cfg, err := payment.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":8082" || cfg.DatabaseMaxConns != 20 || !cfg.MigrateOnStart || cfg.ProcessorLatency != 250*time.Millisecond {
		t.Fatalf("unexpected config %+v", cfg)
	}
	if cfg.DrainDelay != time.Second || cfg.Timeout != 20*time.Second {
		t.Fatalf("unexpected shutdown timing %+v", cfg.ShutdownTiming)
	}
}

func TestConfigValidateNamesTheVariable(t *testing.T) {
	valid := func() payment.Config {
		c := payment.Config{HTTPAddr: ":8082", DatabaseURL: "postgres://x/y", DatabaseMaxConns: 20}
		c.Timeout = time.Second
		return c
	}
	cases := []struct {
		variable string
		mutate   func(*payment.Config)
	}{
		{"PAYMENT_HTTP_ADDR", func(c *payment.Config) { c.HTTPAddr = "" }},
		{"PAYMENT_DATABASE_URL", func(c *payment.Config) { c.DatabaseURL = "" }},
		{"PAYMENT_DATABASE_MAX_CONNS", func(c *payment.Config) { c.DatabaseMaxConns = 0 }},
		{"PAYMENT_PROCESSOR_LATENCY", func(c *payment.Config) { c.ProcessorLatency = -time.Second }},
		{"PAYMENT_PROCESSOR_LATENCY", func(c *payment.Config) { c.ProcessorLatency = time.Hour }},
		{"SHUTDOWN_DRAIN_DELAY", func(c *payment.Config) { c.DrainDelay = -time.Second }},
		{"SHUTDOWN_TIMEOUT", func(c *payment.Config) { c.Timeout = 0 }},
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for _, tc := range cases {
		c := valid()
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.variable) {
			t.Fatalf("%s: got %v", tc.variable, err)
		}
	}
	t.Run("bad duration from the environment", func(t *testing.T) {
		t.Setenv("PAYMENT_DATABASE_URL", "postgres://localhost/payment")
		t.Setenv("PAYMENT_PROCESSOR_LATENCY", "soon")
		if _, err := payment.LoadConfig(); err == nil || !strings.Contains(err.Error(), "PAYMENT_PROCESSOR_LATENCY") {
			t.Fatalf("got %v", err)
		}
	})
}
