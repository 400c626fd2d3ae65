package inventory

import (
	"github.com/sagaflow/sagaflow/internal/svcrun"
	"github.com/sagaflow/sagaflow/services/inventory/client"
)

// Config is the inventory service's configuration: the variables every service has, under the
// INVENTORY_ prefix (see svcrun.Config).
type Config struct {
	svcrun.Config
}

// LoadConfig reads the configuration from the environment and validates it.
func LoadConfig() (Config, error) {
	var cfg Config
	err := svcrun.Load(client.ServiceName, ":8083", &cfg)
	return cfg, err
}
