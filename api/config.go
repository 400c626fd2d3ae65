package api

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/redis/go-redis/v9"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
	"github.com/sagaflow/sagaflow/workflows"
)

// Config is the public API's configuration, read from the environment.
type Config struct {
	HTTPAddr string `envconfig:"API_HTTP_ADDR" default:":8080"`

	// Temporal: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the connection's security
	// (TEMPORAL_TLS*, TEMPORAL_API_KEY).
	temporalclient.Config

	RedisURL       string `envconfig:"REDIS_URL" default:"redis://127.0.0.1:6379/0"`
	RedisKeyPrefix string `envconfig:"REDIS_KEY_PREFIX" default:"sagaflow:"`

	OrderServiceURL     string `envconfig:"ORDER_SERVICE_URL" required:"true"`
	InventoryServiceURL string `envconfig:"INVENTORY_SERVICE_URL" required:"true"`

	SagaTaskQueue     string        `envconfig:"SAGA_TASK_QUEUE" default:"sagas"`
	ApprovalThreshold int64         `envconfig:"APPROVAL_THRESHOLD" default:"100000"`
	ApprovalTimeout   time.Duration `envconfig:"APPROVAL_TIMEOUT" default:"15m"`

	// SagaActivityTimeout bounds one attempt of a saga step; SagaRetryMaxInterval caps the
	// backoff between attempts (0 keeps the saga's defaults). Each saga keeps the values
	// it was started with.
	SagaActivityTimeout  time.Duration `envconfig:"SAGA_ACTIVITY_TIMEOUT" default:"15s"`
	SagaRetryMaxInterval time.Duration `envconfig:"SAGA_RETRY_MAX_INTERVAL" default:"0s"`
	// SagaLocalSteps makes the first attempt of each saga step a local activity of the
	// sagas pool, which then needs the three service URLs (see workflows/local.go);
	// SagaLocalAttemptTimeout bounds that attempt before the step goes to its service's
	// queue.
	SagaLocalSteps          bool          `envconfig:"SAGA_LOCAL_STEPS" default:"true"`
	SagaLocalAttemptTimeout time.Duration `envconfig:"SAGA_LOCAL_ATTEMPT_TIMEOUT" default:"2s"`

	IdempotencyTTL time.Duration `envconfig:"IDEMPOTENCY_TTL" default:"24h"`
	OrderWaitMax   time.Duration `envconfig:"ORDER_WAIT_MAX" default:"10s"`

	// RateLimitPerSecond is the sustained request rate per client; 0 disables limiting.
	RateLimitPerSecond float64 `envconfig:"RATE_LIMIT_PER_SECOND" default:"20"`
	// RateLimitBurst is how many requests a client may send at once.
	RateLimitBurst int `envconfig:"RATE_LIMIT_BURST" default:"40"`
	// RateLimitTrustForwardedFor identifies clients by the last X-Forwarded-For address
	// (the one our own load balancer appended) instead of the peer address. Enable it
	// only behind a load balancer that sets the header.
	RateLimitTrustForwardedFor bool `envconfig:"RATE_LIMIT_TRUST_FORWARDED_FOR" default:"false"`

	// ServiceCallTimeout bounds each call to a service, to Temporal and the saga query.
	ServiceCallTimeout time.Duration `envconfig:"SERVICE_CALL_TIMEOUT" default:"5s"`

	// Who may call: access tokens of the OIDC issuer (AUTH_ISSUER, AUTH_AUDIENCE, ...).
	auth.OIDCConfig
	// Insecure switches authentication off (SAGAFLOW_INSECURE=true, local use only): every
	// caller is anonymous, place-order names its customer in the body.
	Insecure bool `envconfig:"SAGAFLOW_INSECURE" default:"false"`
	// ServiceKey is the API's private service key (a JWK whose kid is api/<version>): it
	// signs the tokens of its calls to the order and inventory services. Optional only
	// while Insecure.
	ServiceKey string `envconfig:"API_SERVICE_KEY"`

	httpserver.ShutdownTiming
}

// DefaultConfig returns the defaults of every variable (the service URLs, the issuer and
// the service key stay empty).
func DefaultConfig() Config {
	return Config{
		HTTPAddr:                ":8080",
		Config:                  temporalclient.Config{Address: "127.0.0.1:7233", Namespace: "default"},
		RedisURL:                "redis://127.0.0.1:6379/0",
		RedisKeyPrefix:          "sagaflow:",
		SagaTaskQueue:           workflows.TaskQueueSagas,
		ApprovalThreshold:       100000,
		ApprovalTimeout:         15 * time.Minute,
		SagaActivityTimeout:     workflows.DefaultActivityTimeout,
		SagaLocalSteps:          true,
		SagaLocalAttemptTimeout: workflows.DefaultLocalAttemptTimeout,
		IdempotencyTTL:          24 * time.Hour,
		OrderWaitMax:            10 * time.Second,
		RateLimitPerSecond:      20,
		RateLimitBurst:          40,
		ServiceCallTimeout:      5 * time.Second,
		OIDCConfig: auth.OIDCConfig{
			Algorithms:     []string{"RS256", "PS256", "ES256", "EdDSA"},
			ClockSkew:      30 * time.Second,
			JWKSRefresh:    15 * time.Minute,
			JWKSMinRefresh: 10 * time.Second,
		},
		ShutdownTiming: httpserver.ShutdownTiming{DrainDelay: time.Second, Timeout: 20 * time.Second},
	}
}

// LoadConfig reads the configuration from the environment and validates it.
func LoadConfig() (Config, error) {
	var cfg Config
	if err := envconfig.Process("", &cfg); err != nil {
		return cfg, fmt.Errorf("api config: %w", err)
	}
	return cfg, cfg.Validate()
}

// Validate names the first variable whose value cannot work.
func (c Config) Validate() error {
	if strings.TrimSpace(c.HTTPAddr) == "" {
		return fmt.Errorf("API_HTTP_ADDR must not be empty")
	}
	if err := c.Config.Validate(); err != nil {
		return err
	}
	switch {
	case !validRedisURL(c.RedisURL):
		return fmt.Errorf("REDIS_URL must be a redis:// or rediss:// URL")
	case c.RedisKeyPrefix == "" || len(c.RedisKeyPrefix) > 64:
		return fmt.Errorf("REDIS_KEY_PREFIX must be 1 to 64 characters")
	case !validHTTPURL(c.OrderServiceURL):
		return fmt.Errorf("ORDER_SERVICE_URL must be an http:// or https:// URL")
	case !validHTTPURL(c.InventoryServiceURL):
		return fmt.Errorf("INVENTORY_SERVICE_URL must be an http:// or https:// URL")
	case strings.TrimSpace(c.SagaTaskQueue) == "":
		return fmt.Errorf("SAGA_TASK_QUEUE must not be empty")
	case c.ApprovalThreshold < 0:
		return fmt.Errorf("APPROVAL_THRESHOLD must not be negative, got %d", c.ApprovalThreshold)
	case c.ApprovalTimeout <= 0:
		return fmt.Errorf("APPROVAL_TIMEOUT must be positive, got %s", c.ApprovalTimeout)
	case c.SagaActivityTimeout < time.Second || c.SagaActivityTimeout > time.Hour:
		return fmt.Errorf("SAGA_ACTIVITY_TIMEOUT must be between 1s and 1h, got %s", c.SagaActivityTimeout)
	case c.SagaRetryMaxInterval != 0 && (c.SagaRetryMaxInterval < 100*time.Millisecond || c.SagaRetryMaxInterval > time.Hour):
		return fmt.Errorf("SAGA_RETRY_MAX_INTERVAL must be 0 (the saga's defaults) or between 100ms and 1h, got %s", c.SagaRetryMaxInterval)
	case c.SagaLocalAttemptTimeout < 10*time.Millisecond || c.SagaLocalAttemptTimeout > c.SagaActivityTimeout:
		return fmt.Errorf("SAGA_LOCAL_ATTEMPT_TIMEOUT must be between 10ms and SAGA_ACTIVITY_TIMEOUT (%s), got %s", c.SagaActivityTimeout, c.SagaLocalAttemptTimeout)
	case c.IdempotencyTTL < time.Minute:
		return fmt.Errorf("IDEMPOTENCY_TTL must be at least 1m, got %s", c.IdempotencyTTL)
	case c.OrderWaitMax < 0 || c.OrderWaitMax > 50*time.Second:
		// The HTTP server's write timeout is 60s; a longer wait would be cut off.
		return fmt.Errorf("ORDER_WAIT_MAX must be between 0 and 50s, got %s", c.OrderWaitMax)
	case c.RateLimitPerSecond < 0 || math.IsNaN(c.RateLimitPerSecond) || c.RateLimitPerSecond > 1e6:
		return fmt.Errorf("RATE_LIMIT_PER_SECOND must be between 0 and 1000000, got %v", c.RateLimitPerSecond)
	case c.RateLimitPerSecond > 0 && (c.RateLimitBurst < 1 || c.RateLimitBurst > 1e6):
		return fmt.Errorf("RATE_LIMIT_BURST must be between 1 and 1000000 when rate limiting is on, got %d", c.RateLimitBurst)
	case c.ServiceCallTimeout <= 0 || c.ServiceCallTimeout > time.Minute:
		return fmt.Errorf("SERVICE_CALL_TIMEOUT must be between 1ns and 1m, got %s", c.ServiceCallTimeout)
	case c.DrainDelay < 0:
		return fmt.Errorf("SHUTDOWN_DRAIN_DELAY must not be negative, got %s", c.DrainDelay)
	case c.Timeout <= 0:
		return fmt.Errorf("SHUTDOWN_TIMEOUT must be positive, got %s", c.Timeout)
	}
	return c.validateAuth()
}

// validateAuth: outside insecure mode the issuer must be usable and the service key must be
// the API's own. An insecure API still uses a service key it is given.
func (c Config) validateAuth() error {
	if !c.Insecure {
		if err := c.OIDCConfig.Validate(); err != nil {
			return err
		}
		if c.ServiceKey == "" {
			return fmt.Errorf("API_SERVICE_KEY must hold the API's private service key (set %s=true to run without authentication, locally only)", auth.InsecureVariable)
		}
	}
	if c.ServiceKey != "" {
		if _, err := c.signer(); err != nil {
			return err
		}
	}
	if !c.Insecure {
		return c.EncryptionRequired()
	}
	return nil
}

// signer reads the service key; its identity must be the API's.
func (c Config) signer() (*auth.Signer, error) {
	s, err := auth.NewSigner([]byte(c.ServiceKey))
	if err != nil {
		// The key's own text never goes into the message.
		return nil, fmt.Errorf("API_SERVICE_KEY is not a usable private service key: %w", err)
	}
	if s.Identity() != auth.IdentityAPI {
		return nil, fmt.Errorf("API_SERVICE_KEY belongs to %q; the API signs as %q", s.Identity(), auth.IdentityAPI)
	}
	return s, nil
}

func validHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func validRedisURL(s string) bool {
	_, err := redis.ParseURL(s)
	return err == nil
}
