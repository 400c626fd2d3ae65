package order

import (
	"github.com/sagaflow/sagaflow/internal/svcrun"
	"github.com/sagaflow/sagaflow/services/order/client"
)

// Config is the order service's configuration: the variables every service has, under the
// ORDER_ prefix (see svcrun.Config).
type Config struct {
	svcrun.Config
}

// LoadConfig reads the configuration from the environment and validates it.
func LoadConfig() (Config, error) {
	var cfg Config
	err := svcrun.Load(client.ServiceName, ":8081", &cfg)
	return cfg, err
}
