package inventory

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/schema"
)

// Config is the inventory service's configuration, read from the environment with
// envconfig.Process("", &cfg).
type Config struct {
	HTTPAddr         string `envconfig:"INVENTORY_HTTP_ADDR" default:":8083"`
	DatabaseURL      string `envconfig:"INVENTORY_DATABASE_URL" required:"true"`
	DatabaseMaxConns int    `envconfig:"INVENTORY_DATABASE_MAX_CONNS" default:"20"`
	MigrateOnStart   bool   `envconfig:"INVENTORY_MIGRATE_ON_START" default:"true"`
	httpserver.ShutdownTiming
}

// Validate names the first variable whose value cannot work.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("INVENTORY_HTTP_ADDR %q is not host:port: %w", c.HTTPAddr, err)
	}
	if c.DatabaseURL == "" {
		return fmt.Errorf("INVENTORY_DATABASE_URL is required")
	}
	if c.DatabaseMaxConns < 1 || c.DatabaseMaxConns > 1000 {
		return fmt.Errorf("INVENTORY_DATABASE_MAX_CONNS must be between 1 and 1000, got %d", c.DatabaseMaxConns)
	}
	if c.DrainDelay < 0 {
		return fmt.Errorf("SHUTDOWN_DRAIN_DELAY must not be negative, got %s", c.DrainDelay)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("SHUTDOWN_TIMEOUT must be positive, got %s", c.Timeout)
	}
	return nil
}

// Run serves the inventory service until ctx is cancelled, then drains gracefully and
// closes the database pool.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	db, err := schema.Open(ctx, "inventory", cfg.DatabaseURL, cfg.DatabaseMaxConns, cfg.MigrateOnStart)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := NewService(db, logger)
	ready := httpserver.NewReadiness(map[string]httpserver.Check{"postgres": svc.Ping})
	return httpserver.ListenAndServe(ctx, logger, cfg.HTTPAddr, NewHandler(svc, logger, ready), ready, cfg.ShutdownTiming)
}
