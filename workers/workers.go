// Package workers runs the worker pools: `sagas` hosts the order saga workflow, and
// `orders`, `payments` and `inventory` host the activities that call one service each, on
// their own task queues, so each pool is deployed and scaled on its own.
package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/activities"
	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/workflows"
)

// Concurrency bounds what one process of each pool runs at once (0 = the SDK's default).
type Concurrency struct {
	SagaWorkflowTasks   int
	OrderActivities     int
	PaymentActivities   int
	InventoryActivities int
}

// Clients are the service clients one pool calls with.
type Clients struct {
	Orders    *orderclient.Client
	Payments  *payclient.Client
	Inventory *invclient.Client
}

// Options selects the pools to run and what they need. Only the clients of the selected
// activity pools are required. Each pool calls as its own identity (PoolIdentity), so each
// pool's clients sign with that pool's key.
type Options struct {
	Pools []string
	// Queues names the task queues; empty fields mean the production queues.
	Queues workflows.TaskQueues
	// Local are the sagas pool's clients for its local steps; without one, a step's local
	// attempt fails at once and the call goes to its service's pool.
	Local Clients
	// Orders, Payments and Inventory are the clients of the orders, payments and
	// inventory pools.
	Orders      *orderclient.Client
	Payments    *payclient.Client
	Inventory   *invclient.Client
	Concurrency Concurrency
	// StopTimeout is how long in-flight activities may run on after Stop.
	StopTimeout time.Duration
	// OnFatalError is called when a pool stops by itself (for example, the namespace is gone).
	OnFatalError func(pool string, err error)
}

// Group is a set of started or startable worker pools.
type Group struct {
	pools   []string
	workers []worker.Worker
}

// New builds the selected pools on c. Nothing polls until Start.
func New(c client.Client, opts Options) (*Group, error) {
	pools, err := ParsePools(opts.Pools)
	if err != nil {
		return nil, err
	}
	queues := opts.Queues.WithDefaults()
	g := &Group{}
	for _, pool := range pools {
		wopts := worker.Options{WorkerStopTimeout: opts.StopTimeout}
		if opts.OnFatalError != nil {
			wopts.OnFatalError = func(err error) { opts.OnFatalError(pool, err) }
		}
		var w worker.Worker
		switch pool {
		case PoolSagas:
			wopts.MaxConcurrentWorkflowTaskExecutionSize = opts.Concurrency.SagaWorkflowTasks
			// Workflows only: no activity poller on the saga queue.
			wopts.LocalActivityWorkerOnly = true
			w = worker.New(c, queues.Sagas, wopts)
			w.RegisterWorkflowWithOptions(workflows.OrderSaga, workflow.RegisterOptions{Name: workflows.OrderSagaName})
			// Sagas with local steps make each call's first attempt here. Every activity
			// is registered, with or without its client, so a saga's history never
			// depends on this pool's configuration: without a client the attempt fails
			// at once and the call goes to its service's pool.
			activities.NewOrders(opts.Local.Orders).Register(w)
			activities.NewPayments(opts.Local.Payments).Register(w)
			activities.NewInventory(opts.Local.Inventory).Register(w)
		case PoolOrders:
			if opts.Orders == nil {
				return nil, errors.New("the orders pool needs an order service client")
			}
			w = activityWorker(c, queues.Orders, wopts, opts.Concurrency.OrderActivities)
			activities.NewOrders(opts.Orders).Register(w)
		case PoolPayments:
			if opts.Payments == nil {
				return nil, errors.New("the payments pool needs a payment service client")
			}
			w = activityWorker(c, queues.Payments, wopts, opts.Concurrency.PaymentActivities)
			activities.NewPayments(opts.Payments).Register(w)
		case PoolInventory:
			if opts.Inventory == nil {
				return nil, errors.New("the inventory pool needs an inventory service client")
			}
			w = activityWorker(c, queues.Inventory, wopts, opts.Concurrency.InventoryActivities)
			activities.NewInventory(opts.Inventory).Register(w)
		}
		g.pools = append(g.pools, pool)
		g.workers = append(g.workers, w)
	}
	return g, nil
}

// missingLocalClients names the service URLs a sagas pool lacks for local steps.
func missingLocalClients(pools []string, cfg Config) []string {
	if !slices.Contains(pools, PoolSagas) {
		return nil
	}
	var missing []string
	for name, url := range map[string]string{
		"ORDER_SERVICE_URL": cfg.OrderServiceURL, "PAYMENT_SERVICE_URL": cfg.PaymentServiceURL,
		"INVENTORY_SERVICE_URL": cfg.InventoryServiceURL,
	} {
		if url == "" {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	return missing
}

func activityWorker(c client.Client, queue string, opts worker.Options, concurrency int) worker.Worker {
	opts.MaxConcurrentActivityExecutionSize = concurrency
	opts.DisableWorkflowWorker = true
	return worker.New(c, queue, opts)
}

// Pools returns the pools of the group, in start order.
func (g *Group) Pools() []string { return append([]string(nil), g.pools...) }

// Start starts polling on every pool; if one fails to start, the ones started are stopped.
func (g *Group) Start() error {
	for i, w := range g.workers {
		if err := w.Start(); err != nil {
			for _, started := range g.workers[:i] {
				started.Stop()
			}
			return fmt.Errorf("start %s pool: %w", g.pools[i], err)
		}
	}
	return nil
}

// Stop stops polling on every pool at once and waits for in-flight tasks, each pool up to
// its stop timeout.
func (g *Group) Stop() {
	var wg sync.WaitGroup
	for _, w := range g.workers {
		wg.Go(w.Stop)
	}
	wg.Wait()
}

// Run runs the selected pools until ctx is cancelled, then stops them gracefully: readiness
// fails first, polling stops, and in-flight activities get cfg.StopTimeout to finish. It
// waits for Temporal to become reachable at start, so containers may start in any order,
// but returns at once when the connection's security settings fail.
func Run(ctx context.Context, cfg Config, pools []string, logger *slog.Logger) error {
	pools, err := ParsePools(pools)
	if err != nil {
		return err
	}
	if err := cfg.Validate(pools); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}

	var (
		temporal atomic.Pointer[client.Client]
		started  atomic.Bool
	)
	ready := httpserver.NewReadiness(map[string]httpserver.Check{
		"temporal": func(ctx context.Context) error {
			c := temporal.Load()
			if c == nil {
				return errors.New("not connected")
			}
			_, err := (*c).CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		},
		"workers": func(context.Context) error {
			if !started.Load() {
				return errors.New("not started")
			}
			return nil
		},
	})
	healthCtx, stopHealth := context.WithCancel(context.Background())
	defer stopHealth()
	healthDone := make(chan error, 1)
	if cfg.HealthAddr != "" {
		ln, err := net.Listen("tcp", cfg.HealthAddr)
		if err != nil {
			return fmt.Errorf("listen on WORKER_HEALTH_ADDR %s: %w", cfg.HealthAddr, err)
		}
		router := httpserver.NewRouter(logger)
		httpserver.MountHealth(router, ready)
		go func() {
			healthDone <- httpserver.Serve(healthCtx, logger, httpserver.NewServer(router, logger), ln, ready,
				httpserver.ShutdownTiming{Timeout: 5 * time.Second})
		}()
	} else {
		healthDone <- nil
	}
	// failStart stops the health endpoint after a failed start and reports its error too.
	failStart := func(err error) error {
		stopHealth()
		return errors.Join(err, <-healthDone)
	}

	c, err := dial(ctx, cfg, logger)
	if err != nil {
		return failStart(err)
	}
	defer c.Close()
	temporal.Store(&c)

	fatal := make(chan error, len(pools))
	signers, err := cfg.signers()
	if err != nil {
		return failStart(err)
	}
	if cfg.Insecure {
		auth.WarnInsecure(logger, "worker")
	}
	// One transport for every pool, so the pools share connections; each pool's clients
	// sign with its own key (without one, in insecure mode only, they call unsigned).
	httpClient := svcclient.NewHTTPClient()
	signed := func(pool, service string) *http.Client {
		if s := signers[PoolIdentity(pool)]; s != nil {
			return s.Client(httpClient, service)
		}
		return httpClient
	}
	opts := Options{
		Pools: pools,
		Concurrency: Concurrency{
			SagaWorkflowTasks:   cfg.SagasMaxConcurrentWorkflowTasks,
			OrderActivities:     cfg.OrdersMaxConcurrentActivities,
			PaymentActivities:   cfg.PaymentsMaxConcurrentActivities,
			InventoryActivities: cfg.InventoryMaxConcurrentActivities,
		},
		StopTimeout: cfg.StopTimeout,
		OnFatalError: func(pool string, err error) {
			fatal <- fmt.Errorf("%s pool stopped: %w", pool, err)
		},
	}
	for _, pool := range pools {
		c := Clients{}
		if cfg.OrderServiceURL != "" && (pool == PoolSagas || pool == PoolOrders) {
			c.Orders = orderclient.New(cfg.OrderServiceURL, signed(pool, orderclient.ServiceName), cfg.ServiceCallTimeout)
		}
		if cfg.PaymentServiceURL != "" && (pool == PoolSagas || pool == PoolPayments) {
			c.Payments = payclient.New(cfg.PaymentServiceURL, signed(pool, payclient.ServiceName), cfg.ServiceCallTimeout)
		}
		if cfg.InventoryServiceURL != "" && (pool == PoolSagas || pool == PoolInventory) {
			c.Inventory = invclient.New(cfg.InventoryServiceURL, signed(pool, invclient.ServiceName), cfg.ServiceCallTimeout)
		}
		switch pool {
		case PoolSagas:
			opts.Local = c
		case PoolOrders:
			opts.Orders = c.Orders
		case PoolPayments:
			opts.Payments = c.Payments
		case PoolInventory:
			opts.Inventory = c.Inventory
		}
	}
	if missing := missingLocalClients(pools, cfg); len(missing) > 0 {
		logger.Warn("the sagas pool has no URL for some services: their calls skip local steps and run on their own queues",
			"missing", missing)
	}
	group, err := New(c, opts)
	if err == nil {
		err = group.Start()
	}
	if err != nil {
		return failStart(err)
	}
	started.Store(true)
	logger.Info("worker pools started", "pools", pools, "namespace", cfg.Namespace)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-fatal:
		logger.Error("worker pool failed", "error", runErr)
	}
	logger.Info("stopping worker pools", "stop_timeout", cfg.StopTimeout.String())
	ready.Drain()
	group.Stop()
	logger.Info("worker pools stopped")
	stopHealth()
	if err := <-healthDone; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// dial connects to Temporal, retrying with capped backoff until it answers or ctx ends. A
// failure of the connection's security (a TLS file, the handshake, the credentials) ends
// it at once: retrying would only hide a setting that must change.
func dial(ctx context.Context, cfg Config, logger *slog.Logger) (client.Client, error) {
	wait := 500 * time.Millisecond
	for {
		c, err := temporalclient.Dial(cfg.Config, logger)
		if err == nil {
			return c, nil
		}
		if errors.Is(err, temporalclient.ErrSecurity) {
			return nil, err
		}
		logger.Warn("Temporal is not reachable yet; retrying", "address", cfg.Address, "error", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped before Temporal was reachable: %w", err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}
