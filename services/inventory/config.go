package inventory

import "github.com/sagaflow/sagaflow/internal/svcrun"

// Config is the inventory service's configuration: the variables every service has, under the
// INVENTORY_ prefix (see svcrun.Config).
type Config struct {
	svcrun.Config
}

// LoadConfig reads the configuration from the environment and validates it.
func LoadConfig() (Config, error) {
	var cfg Config
	err := svcrun.Load("inventory", ":8083", &cfg)
	return cfg, err
}
