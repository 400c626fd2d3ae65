package payment

import (
	"fmt"
	"time"

	"github.com/sagaflow/sagaflow/internal/svcrun"
	"github.com/sagaflow/sagaflow/services/payment/client"
)

// Config is the payment service's configuration: the variables every service has, under
// the PAYMENT_ prefix (see svcrun.Config), and the test processor's latency.
type Config struct {
	svcrun.Config
	ProcessorLatency time.Duration `split_words:"true" default:"0s"`
}

// maxProcessorLatency bounds the test processor's delay: beyond it every caller times out.
const maxProcessorLatency = time.Minute

// LoadConfig reads the configuration from the environment and validates it.
func LoadConfig() (Config, error) {
	var cfg Config
	if err := svcrun.Load(client.ServiceName, ":8082", &cfg); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("payment config: %w", err)
	}
	return cfg, nil
}

// Validate names the first variable whose value cannot work.
func (c Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.ProcessorLatency < 0 || c.ProcessorLatency > maxProcessorLatency {
		return fmt.Errorf("PAYMENT_PROCESSOR_LATENCY must be between 0s and %s, got %s", maxProcessorLatency, c.ProcessorLatency)
	}
	return nil
}
