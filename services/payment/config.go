package payment

import (
	"fmt"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/svcrun"
)

// Config is the payment service's configuration, read from the environment by LoadConfig.
type Config struct {
	HTTPAddr         string `envconfig:"PAYMENT_HTTP_ADDR" default:":8082"`
	DatabaseURL      string `envconfig:"PAYMENT_DATABASE_URL" required:"true"`
	DatabaseMaxConns int    `envconfig:"PAYMENT_DATABASE_MAX_CONNS" default:"20"`
	MigrateOnStart   bool   `envconfig:"PAYMENT_MIGRATE_ON_START" default:"true"`
	// Idempotency records are kept this long after their key's last use and swept every
	// interval in batches (the defaults are idempotency's Default* values).
	IdempotencyRetention     time.Duration `envconfig:"PAYMENT_IDEMPOTENCY_RETENTION" default:"720h"`
	IdempotencySweepInterval time.Duration `envconfig:"PAYMENT_IDEMPOTENCY_SWEEP_INTERVAL" default:"1h"`
	IdempotencySweepBatch    int           `envconfig:"PAYMENT_IDEMPOTENCY_SWEEP_BATCH" default:"1000"`
	httpserver.ShutdownTiming

	ProcessorLatency time.Duration `envconfig:"PAYMENT_PROCESSOR_LATENCY" default:"0s"`
}

// maxProcessorLatency bounds the test processor's delay: beyond it every caller times out.
const maxProcessorLatency = time.Minute

// LoadConfig reads the configuration from the environment and validates it.
func LoadConfig() (Config, error) {
	var cfg Config
	if err := envconfig.Process("", &cfg); err != nil {
		return cfg, fmt.Errorf("payment config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("payment config: %w", err)
	}
	return cfg, nil
}

// Validate names the first variable whose value cannot work.
func (c Config) Validate() error {
	if err := c.settings().Validate(); err != nil {
		return err
	}
	if c.ProcessorLatency < 0 || c.ProcessorLatency > maxProcessorLatency {
		return fmt.Errorf("PAYMENT_PROCESSOR_LATENCY must be between 0s and %s, got %s", maxProcessorLatency, c.ProcessorLatency)
	}
	return nil
}

// settings are the settings every service shares (see svcrun).
func (c Config) settings() svcrun.Settings {
	return svcrun.Settings{
		Service:          "payment",
		HTTPAddr:         c.HTTPAddr,
		DatabaseURL:      c.DatabaseURL,
		DatabaseMaxConns: c.DatabaseMaxConns,
		MigrateOnStart:   c.MigrateOnStart,
		Shutdown:         c.ShutdownTiming,
		Retention: idempotency.Retention{
			Keep:     c.IdempotencyRetention,
			Interval: c.IdempotencySweepInterval,
			Batch:    c.IdempotencySweepBatch,
		},
	}
}
