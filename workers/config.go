package workers

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

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
