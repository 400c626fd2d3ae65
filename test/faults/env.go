package faults

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	paymentclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/tools/localinfra"
	"github.com/sagaflow/sagaflow/tools/stack"
)

// Options describe one scenario's system.
type Options struct {
	Binary           string
	TemporalBinary   string
	AdminDatabaseURL string // the shared server; services not listed in PrivatePostgres use it
	StateDir         string
	// PrivatePostgres lists the services whose database lives on a private cluster the
	// scenario may crash and restart.
	PrivatePostgres []string
	// Proxies lists the services to put a fault-injecting proxy in front of.
	Proxies []string
	// Env is added to every component's environment; ComponentEnv to one component's.
	Env          map[string]string
	ComponentEnv map[string]map[string]string
}

// Env is a running system for one scenario: every component as its own process, a
// private redis-server, optional private PostgreSQL clusters and proxies, and clients
// that reach the services directly (never through a proxy), as admin: the suite keeps
// the catalog and reads everything for its checks, as operators' tools do.
type Env struct {
	Stack    *stack.Stack
	Redis    *localinfra.Redis
	Postgres map[string]*localinfra.Postgres
	Proxies  map[string]*Proxy
	Temporal client.Client

	Orders    *orderclient.Client
	Payments  *paymentclient.Client
	Inventory *invclient.Client
}

// Start brings a scenario's system up. Close stops everything it started.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	e := &Env{Postgres: map[string]*localinfra.Postgres{}, Proxies: map[string]*Proxy{}}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, err
	}
	if e.Redis, err = localinfra.StartRedis(ctx, opts.StateDir, localinfra.RedisOptions{}); err != nil {
		return nil, err
	}
	admins := map[string]string{}
	for _, svc := range opts.PrivatePostgres {
		pg, err := startPostgres(ctx)
		if err != nil {
			return nil, err
		}
		e.Postgres[svc] = pg
		admins[svc] = pg.URL
	}
	wrap := func(component, url string) (string, error) {
		if !slices.Contains(opts.Proxies, component) {
			return url, nil
		}
		p, err := NewProxy(url)
		if err != nil {
			return "", err
		}
		e.Proxies[component] = p
		return p.URL, nil
	}
	e.Stack, err = stack.Start(ctx, stack.Options{
		Binary:                  opts.Binary,
		TemporalBinary:          opts.TemporalBinary,
		StateDir:                opts.StateDir,
		AdminDatabaseURL:        opts.AdminDatabaseURL,
		ServiceAdminDatabaseURL: admins,
		RedisURL:                e.Redis.URL,
		Env:                     opts.Env,
		ComponentEnv:            opts.ComponentEnv,
		ServiceURLWrap:          wrap,
	})
	if err != nil {
		return nil, err
	}
	dc, err := e.Stack.PayloadKeys.DataConverter()
	if err != nil {
		return nil, err
	}
	e.Temporal, err = client.Dial(client.Options{
		HostPort: e.Stack.TempAddr,
		Logger:   tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		// The stack's payloads are encrypted; the suite reads them with the same keys.
		DataConverter: dc,
	})
	if err != nil {
		return nil, fmt.Errorf("dial temporal: %w", err)
	}
	e.Orders = orderclient.New(e.Stack.OrderURL, e.Stack.AdminHTTP(orderclient.ServiceName), 10*time.Second)
	e.Payments = paymentclient.New(e.Stack.PayURL, e.Stack.AdminHTTP(paymentclient.ServiceName), 10*time.Second)
	e.Inventory = invclient.New(e.Stack.InvURL, e.Stack.AdminHTTP(invclient.ServiceName), 10*time.Second)
	return e, nil
}

// startPostgres starts a throwaway cluster a scenario may crash. As root its tools run as
// the postgres user, which must own its folder: a temp folder of its own keeps that away
// from the test's folders (which that user cannot reach).
func startPostgres(ctx context.Context) (*localinfra.Postgres, error) {
	dir, err := os.MkdirTemp("", "sagaflow-faults-pg-")
	if err != nil {
		return nil, err
	}
	pg, err := localinfra.StartPostgres(ctx, dir, localinfra.PostgresOptions{
		NoSync:   true,
		Settings: map[string]string{"max_connections": "200"},
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return pg, nil
}

// Seed loads the suite's catalog.
func (e *Env) Seed(ctx context.Context) error {
	for _, p := range Catalog() {
		if _, err := e.Inventory.UpsertProduct(ctx, p.SKU, invclient.UpsertProductRequest{Name: p.Name, UnitPrice: p.Price, Currency: "USD"}); err != nil {
			return fmt.Errorf("upsert %s: %w", p.SKU, err)
		}
		if _, err := e.Inventory.Restock(ctx, p.SKU, "fault-suite/"+p.SKU, invclient.RestockRequest{Quantity: p.Stock}); err != nil {
			return fmt.Errorf("restock %s: %w", p.SKU, err)
		}
	}
	return nil
}

// Close stops every process and server the scenario started (by PID) and removes the
// private clusters.
func (e *Env) Close() {
	if e.Temporal != nil {
		e.Temporal.Close()
	}
	if e.Stack != nil {
		e.Stack.Stop()
	}
	for _, p := range e.Proxies {
		p.Close()
	}
	for _, pg := range e.Postgres {
		// Immediate mode: the cluster and its folder go away, nothing in it need be kept.
		_ = pg.Crash(context.Background())
		_ = os.RemoveAll(pg.Dir())
	}
	if e.Redis != nil {
		e.Redis.Kill()
	}
}

// Logs returns the paths of the components' log files, for a failing scenario's message.
func (e *Env) Logs() []string {
	var out []string
	for _, c := range stack.Components() {
		out = append(out, e.Stack.Proc(c).LogPath())
	}
	return append(out, filepath.Join(filepath.Dir(e.Stack.Proc(stack.API).LogPath()), "temporal.log"))
}
