package workers

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
)

// Pool names. Each pool is one kind of worker process; `all` runs every pool in one
// process for development.
const (
	PoolSagas     = "sagas"
	PoolOrders    = "orders"
	PoolPayments  = "payments"
	PoolInventory = "inventory"
	PoolAll       = "all"
)

// Pools lists the pools in start order.
func Pools() []string {
	return []string{PoolSagas, PoolOrders, PoolPayments, PoolInventory}
}

// PoolIdentity is the service identity a pool calls the services as: each pool signs its
// calls with its own key, so a service accepts from it only what that pool does.
func PoolIdentity(pool string) string {
	switch pool {
	case PoolSagas:
		return auth.IdentitySagaWorker
	case PoolOrders:
		return auth.IdentityOrdersWorker
	case PoolPayments:
		return auth.IdentityPaymentsWorker
	case PoolInventory:
		return auth.IdentityInventoryWorker
	}
	return ""
}

// Config is a worker process's configuration, read from the environment with
// envconfig.Process("", &cfg). A service URL is required only by the pool that calls it.
type Config struct {
	temporalclient.Config

	OrderServiceURL     string        `envconfig:"ORDER_SERVICE_URL"`
	PaymentServiceURL   string        `envconfig:"PAYMENT_SERVICE_URL"`
	InventoryServiceURL string        `envconfig:"INVENTORY_SERVICE_URL"`
	ServiceCallTimeout  time.Duration `envconfig:"SERVICE_CALL_TIMEOUT" default:"10s"`

	SagasMaxConcurrentWorkflowTasks  int `envconfig:"WORKER_SAGAS_MAX_CONCURRENT_WORKFLOW_TASKS" default:"200"`
	OrdersMaxConcurrentActivities    int `envconfig:"WORKER_ORDERS_MAX_CONCURRENT_ACTIVITIES" default:"100"`
	PaymentsMaxConcurrentActivities  int `envconfig:"WORKER_PAYMENTS_MAX_CONCURRENT_ACTIVITIES" default:"100"`
	InventoryMaxConcurrentActivities int `envconfig:"WORKER_INVENTORY_MAX_CONCURRENT_ACTIVITIES" default:"100"`

	// StopTimeout is how long in-flight activities may run on after a stop (SIGTERM).
	StopTimeout time.Duration `envconfig:"WORKER_STOP_TIMEOUT" default:"30s"`
	// HealthAddr, when set, serves /healthz and /readyz for container health checks.
	HealthAddr string `envconfig:"WORKER_HEALTH_ADDR"`

	// ServiceKeys holds the private key of each hosted pool's identity (PoolIdentity): one
	// JWK, or a JWKS of several for a process hosting several pools (`all` needs all four).
	ServiceKeys string `envconfig:"WORKER_SERVICE_KEYS"`
	// Insecure lets a pool run without its key, calling unsigned: local use only.
	Insecure bool `envconfig:"SAGAFLOW_INSECURE"`
}

// signers reads the pools' keys by identity; none when WORKER_SERVICE_KEYS is empty.
func (c Config) signers() (map[string]*auth.Signer, error) {
	if strings.TrimSpace(c.ServiceKeys) == "" {
		return map[string]*auth.Signer{}, nil
	}
	signers, err := auth.ParseSigners([]byte(c.ServiceKeys))
	if err != nil {
		return nil, fmt.Errorf("WORKER_SERVICE_KEYS: %w", err)
	}
	for id := range signers {
		// A worker holds no key it does not sign with: api's and admin's reach further.
		if !slices.ContainsFunc(Pools(), func(p string) bool { return PoolIdentity(p) == id }) {
			return nil, fmt.Errorf("WORKER_SERVICE_KEYS holds a key of %s; give a worker only its pools' keys (%s)", id, strings.Join(workerIdentities(), ", "))
		}
	}
	return signers, nil
}

func workerIdentities() []string {
	var out []string
	for _, p := range Pools() {
		out = append(out, PoolIdentity(p))
	}
	return out
}

// ParsePools turns pool names (repeated or comma-separated, `all` for every pool) into the
// distinct pools to run, in start order.
func ParsePools(names []string) ([]string, error) {
	want := map[string]bool{}
	for _, arg := range names {
		for _, name := range strings.Split(arg, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			switch name {
			case "":
			case PoolAll:
				for _, p := range Pools() {
					want[p] = true
				}
			case PoolSagas, PoolOrders, PoolPayments, PoolInventory:
				want[name] = true
			default:
				return nil, fmt.Errorf("unknown worker pool %q (pools: %s, %s)", name, strings.Join(Pools(), ", "), PoolAll)
			}
		}
	}
	var out []string
	for _, p := range Pools() {
		if want[p] {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no worker pool selected (pools: %s, %s)", strings.Join(Pools(), ", "), PoolAll)
	}
	return out, nil
}

// Validate checks the configuration for the selected pools (names as ParsePools takes
// them, `all` included) and names every bad variable.
func (c Config) Validate(pools []string) error {
	pools, err := ParsePools(pools)
	if err != nil {
		return err
	}
	errs := []error{c.Config.Validate()}
	if c.StopTimeout <= 0 {
		errs = append(errs, fmt.Errorf("WORKER_STOP_TIMEOUT must be positive, got %s", c.StopTimeout))
	}
	callsServices := false
	for _, pool := range pools {
		callsServices = callsServices || pool != PoolSagas
	}
	if !c.Insecure {
		// Histories must not hold tokens, customers or lines in clear.
		if err := c.EncryptionRequired(); err != nil {
			errs = append(errs, err)
		}
	}
	if signers, err := c.signers(); err != nil {
		errs = append(errs, err)
	} else if !c.Insecure {
		for _, pool := range pools {
			if id := PoolIdentity(pool); signers[id] == nil {
				errs = append(errs, fmt.Errorf("WORKER_SERVICE_KEYS holds no key for %s: the %s pool signs its calls with it (set %s=true to run without authentication, locally only)",
					id, pool, auth.InsecureVariable))
			}
		}
	}
	if callsServices && c.ServiceCallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("SERVICE_CALL_TIMEOUT must be positive, got %s", c.ServiceCallTimeout))
	}
	for _, pool := range pools {
		switch pool {
		case PoolSagas:
			errs = append(errs, positive("WORKER_SAGAS_MAX_CONCURRENT_WORKFLOW_TASKS", c.SagasMaxConcurrentWorkflowTasks))
		case PoolOrders:
			errs = append(errs, c.service(pool, "ORDER_SERVICE_URL", c.OrderServiceURL),
				positive("WORKER_ORDERS_MAX_CONCURRENT_ACTIVITIES", c.OrdersMaxConcurrentActivities))
		case PoolPayments:
			errs = append(errs, c.service(pool, "PAYMENT_SERVICE_URL", c.PaymentServiceURL),
				positive("WORKER_PAYMENTS_MAX_CONCURRENT_ACTIVITIES", c.PaymentsMaxConcurrentActivities))
		case PoolInventory:
			errs = append(errs, c.service(pool, "INVENTORY_SERVICE_URL", c.InventoryServiceURL),
				positive("WORKER_INVENTORY_MAX_CONCURRENT_ACTIVITIES", c.InventoryMaxConcurrentActivities))
		}
	}
	return errors.Join(errs...)
}

// service checks the URL of the service an activity pool calls.
func (c Config) service(pool, name, value string) error {
	if value == "" {
		return fmt.Errorf("%s is required for the %s pool", name, pool)
	}
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s must be an http(s) URL, got %q", name, value)
	}
	return nil
}

func positive(name string, v int) error {
	if v < 1 {
		return fmt.Errorf("%s must be at least 1, got %d", name, v)
	}
	return nil
}
