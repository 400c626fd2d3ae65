package order

import (
	"fmt"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/svcrun"
)

// Config is the order service's configuration, read from the environment by LoadConfig.
type Config struct {
	HTTPAddr         string `envconfig:"ORDER_HTTP_ADDR" default:":8081"`
	DatabaseURL      string `envconfig:"ORDER_DATABASE_URL" required:"true"`
	DatabaseMaxConns int    `envconfig:"ORDER_DATABASE_MAX_CONNS" default:"20"`
	MigrateOnStart   bool   `envconfig:"ORDER_MIGRATE_ON_START" default:"true"`
	// Idempotency records are kept this long after their key's last use and swept every
	// interval in batches (the defaults are idempotency's Default* values).
	IdempotencyRetention     time.Duration `envconfig:"ORDER_IDEMPOTENCY_RETENTION" default:"720h"`
	IdempotencySweepInterval time.Duration `envconfig:"ORDER_IDEMPOTENCY_SWEEP_INTERVAL" default:"1h"`
	IdempotencySweepBatch    int           `envconfig:"ORDER_IDEMPOTENCY_SWEEP_BATCH" default:"1000"`
	httpserver.ShutdownTiming
}

// LoadConfig reads the configuration from the environment and validates it.
func LoadConfig() (Config, error) {
	var cfg Config
	if err := envconfig.Process("", &cfg); err != nil {
		return cfg, fmt.Errorf("order config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("order config: %w", err)
	}
	return cfg, nil
}

// Validate names the first variable whose value cannot work.
func (c Config) Validate() error {
	return c.settings().Validate()
}

// settings are the settings every service shares (see svcrun).
func (c Config) settings() svcrun.Settings {
	return svcrun.Settings{
		Service:          "order",
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
