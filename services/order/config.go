package order

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/kelseyhightower/envconfig"

	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/schema"
)

// Config is the order service's configuration, read from the environment.
type Config struct {
	HTTPAddr         string `envconfig:"ORDER_HTTP_ADDR" default:":8081"`
	DatabaseURL      string `envconfig:"ORDER_DATABASE_URL" required:"true"`
	DatabaseMaxConns int    `envconfig:"ORDER_DATABASE_MAX_CONNS" default:"20"`
	MigrateOnStart   bool   `envconfig:"ORDER_MIGRATE_ON_START" default:"true"`
	httpserver.ShutdownTiming
}

// LoadConfig reads the configuration from the environment and validates it.
func LoadConfig() (Config, error) {
	var cfg Config
	if err := envconfig.Process("", &cfg); err != nil {
		return cfg, fmt.Errorf("order config: %w", err)
	}
	return cfg, cfg.Validate()
}

// Validate names the first variable whose value cannot work.
func (c Config) Validate() error {
	switch {
	case strings.TrimSpace(c.HTTPAddr) == "":
		return fmt.Errorf("ORDER_HTTP_ADDR must not be empty")
	case !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		return fmt.Errorf("ORDER_DATABASE_URL must be a postgres:// URL")
	case c.DatabaseMaxConns < 1 || c.DatabaseMaxConns > 1000:
		return fmt.Errorf("ORDER_DATABASE_MAX_CONNS must be between 1 and 1000, got %d", c.DatabaseMaxConns)
	case c.DrainDelay < 0:
		return fmt.Errorf("SHUTDOWN_DRAIN_DELAY must not be negative, got %s", c.DrainDelay)
	case c.Timeout <= 0:
		return fmt.Errorf("SHUTDOWN_TIMEOUT must be positive, got %s", c.Timeout)
	}
	return nil
}

// Run serves the order service until ctx is cancelled, then drains and closes the database.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	db, err := schema.Open(ctx, "order", cfg.DatabaseURL, cfg.DatabaseMaxConns, cfg.MigrateOnStart)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := NewService(db, logger)
	ready := httpserver.NewReadiness(map[string]httpserver.Check{"postgres": svc.ping})
	return httpserver.ListenAndServe(ctx, logger, cfg.HTTPAddr, NewHandler(svc, logger, ready), ready, cfg.ShutdownTiming)
}
