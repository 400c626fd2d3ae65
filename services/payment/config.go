package payment

import (
	"fmt"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/sagaflow/sagaflow/internal/httpserver"
)

// Config is the payment service's configuration, read from the environment.
type Config struct {
	HTTPAddr         string        `envconfig:"PAYMENT_HTTP_ADDR" default:":8082"`
	DatabaseURL      string        `envconfig:"PAYMENT_DATABASE_URL" required:"true"`
	DatabaseMaxConns int           `envconfig:"PAYMENT_DATABASE_MAX_CONNS" default:"20"`
	MigrateOnStart   bool          `envconfig:"PAYMENT_MIGRATE_ON_START" default:"true"`
	ProcessorLatency time.Duration `envconfig:"PAYMENT_PROCESSOR_LATENCY" default:"0s"`
	httpserver.ShutdownTiming
}

// maxProcessorLatency bounds the test processor's delay: beyond it every caller times out.
const maxProcessorLatency = time.Minute

// LoadConfig reads the configuration from the environment and validates it.
func LoadConfig() (Config, error) {
	var cfg Config
	if err := envconfig.Process("", &cfg); err != nil {
		return cfg, fmt.Errorf("payment config: %w", err)
	}
	return cfg, cfg.Validate()
}

// Validate names the first variable whose value is out of range.
func (c Config) Validate() error {
	switch {
	case c.HTTPAddr == "":
		return fmt.Errorf("payment config: PAYMENT_HTTP_ADDR must not be empty")
	case c.DatabaseURL == "":
		return fmt.Errorf("payment config: PAYMENT_DATABASE_URL is required")
	case c.DatabaseMaxConns < 1 || c.DatabaseMaxConns > 1000:
		return fmt.Errorf("payment config: PAYMENT_DATABASE_MAX_CONNS must be between 1 and 1000, got %d", c.DatabaseMaxConns)
	case c.ProcessorLatency < 0 || c.ProcessorLatency > maxProcessorLatency:
		return fmt.Errorf("payment config: PAYMENT_PROCESSOR_LATENCY must be between 0s and %s, got %s", maxProcessorLatency, c.ProcessorLatency)
	case c.DrainDelay < 0:
		return fmt.Errorf("payment config: SHUTDOWN_DRAIN_DELAY must not be negative, got %s", c.DrainDelay)
	case c.Timeout <= 0:
		return fmt.Errorf("payment config: SHUTDOWN_TIMEOUT must be positive, got %s", c.Timeout)
	}
	return nil
}
