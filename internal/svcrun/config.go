package svcrun

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/idempotency"
)

// Config is what every service reads from the environment, each under its own prefix:
// ORDER_HTTP_ADDR, PAYMENT_DATABASE_URL, INVENTORY_IDEMPOTENCY_RETENTION and so on.
// A service's own Config embeds it and adds its own variables.
//
// The fields are named by split_words, not envconfig tags, on purpose: envconfig falls
// back from a prefixed tag to the bare one, so a tagged DatabaseURL would read a stray
// DATABASE_URL into every service's pool. Only the tagged fields are shared by design, and
// the prefixed variable overrides the shared one for one service: SHUTDOWN_*
// (httpserver.ShutdownTiming), SERVICE_AUTH_TRUSTED_KEYS (one set of callers' keys for
// every service, e.g. ORDER_SERVICE_AUTH_TRUSTED_KEYS for the order service alone) and
// SAGAFLOW_INSECURE.
type Config struct {
	// Service names the service: its schema (schema.For) and, upper-cased, the prefix of
	// its variables. Set by Load.
	Service string `ignored:"true"`

	HTTPAddr         string `split_words:"true"` // default: Load's defaultAddr
	DatabaseURL      string `split_words:"true"`
	DatabaseMaxConns int    `split_words:"true" default:"20"`
	MigrateOnStart   bool   `split_words:"true" default:"true"`
	// Idempotency records are kept this long after their key's last use and swept every
	// interval in batches (the defaults are idempotency's Default* values).
	IdempotencyRetention     time.Duration `split_words:"true" default:"720h"`
	IdempotencySweepInterval time.Duration `split_words:"true" default:"1h"`
	IdempotencySweepBatch    int           `split_words:"true" default:"1000"`
	// TrustedKeys is the JWKS of the public keys of the callers the service accepts: a
	// caller's token must be signed by one of them (see docs/security.md).
	TrustedKeys string `envconfig:"SERVICE_AUTH_TRUSTED_KEYS"`
	// Insecure serves every operation to anyone, without tokens: local use only.
	Insecure bool `envconfig:"SAGAFLOW_INSECURE"`
	httpserver.ShutdownTiming
}

// shared lets Load reach the Config embedded in a service's own configuration.
func (c *Config) shared() *Config { return c }

// Load reads a service's configuration into spec, a pointer to the service's own Config
// (which embeds this one), from the variables under the service's prefix, fills in the
// service's default listen address, and validates the shared settings. The caller
// validates its own variables after it.
func Load(service, defaultAddr string, spec interface{ shared() *Config }) error {
	if err := envconfig.Process(strings.ToUpper(service), spec); err != nil {
		return fmt.Errorf("%s config: %w", service, err)
	}
	c := spec.shared()
	c.Service = service
	if c.HTTPAddr == "" {
		c.HTTPAddr = defaultAddr
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%s config: %w", service, err)
	}
	return nil
}

// Validate names the first variable whose value cannot work.
func (c Config) Validate() error {
	prefix := strings.ToUpper(c.Service)
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("%s_HTTP_ADDR %q is not host:port: %w", prefix, c.HTTPAddr, err)
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return fmt.Errorf("%s_DATABASE_URL must be a postgres:// URL", prefix)
	}
	if c.DatabaseMaxConns < 1 || c.DatabaseMaxConns > 1000 {
		return fmt.Errorf("%s_DATABASE_MAX_CONNS must be between 1 and 1000, got %d", prefix, c.DatabaseMaxConns)
	}
	if err := c.retention().Validate(prefix); err != nil {
		return err
	}
	if c.DrainDelay < 0 {
		return fmt.Errorf("SHUTDOWN_DRAIN_DELAY must not be negative, got %s", c.DrainDelay)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("SHUTDOWN_TIMEOUT must be positive, got %s", c.Timeout)
	}
	if !c.Insecure {
		if _, err := c.verifier(); err != nil {
			return err
		}
	}
	return nil
}

// verifier checks the callers' tokens against the trusted keys, with the service's name as
// the audience the tokens must carry.
func (c Config) verifier() (*auth.Verifier, error) {
	if strings.TrimSpace(c.TrustedKeys) == "" {
		return nil, fmt.Errorf("SERVICE_AUTH_TRUSTED_KEYS (or %s_SERVICE_AUTH_TRUSTED_KEYS) must hold the JWKS of the callers' public keys (set %s=true to run without authentication, locally only)",
			strings.ToUpper(c.Service), auth.InsecureVariable)
	}
	v, err := auth.NewServiceVerifier([]byte(c.TrustedKeys), c.Service)
	if err != nil {
		// The error names SERVICE_AUTH_TRUSTED_KEYS and says what is wrong with it.
		return nil, err
	}
	return v, nil
}

// Guard returns what checks every operation's callers: their service tokens against the
// trusted keys, or, in insecure mode, nothing at all (logged as a warning at every start).
func (c Config) Guard(logger *slog.Logger) (*auth.Guard, error) {
	if c.Insecure {
		auth.WarnInsecure(logger, c.Service)
		return auth.Unprotected(logger), nil
	}
	v, err := c.verifier()
	if err != nil {
		return nil, err
	}
	return auth.NewGuard(v, logger), nil
}

func (c Config) retention() idempotency.Retention {
	return idempotency.Retention{
		Keep:     c.IdempotencyRetention,
		Interval: c.IdempotencySweepInterval,
		Batch:    c.IdempotencySweepBatch,
	}
}
