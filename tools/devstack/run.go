// Package devstack runs the whole system on one machine for development: it finds or
// starts PostgreSQL, Redis and the Temporal dev server (through tools/localinfra), then
// runs every component.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
	"github.com/sagaflow/sagaflow/services/inventory"
	"github.com/sagaflow/sagaflow/services/order"
	"github.com/sagaflow/sagaflow/services/payment"
	"github.com/sagaflow/sagaflow/tools/devauth"
	"github.com/sagaflow/sagaflow/tools/localinfra"
	"github.com/sagaflow/sagaflow/workers"
	"github.com/sagaflow/sagaflow/workflows"
)

// Options configure a development run. Zero values take the defaults in Run.
type Options struct {
	StateDir       string // git-ignored folder for Temporal's state file, logs and a private cluster
	TemporalBinary string
	PostgresURL    string // server-level DSN tried first
	RedisURL       string // tried first
	TemporalPort   int
	TemporalUIPort int
	LogLevel       string
	Out            io.Writer // the banner and progress, best effort: a failed write is not reported
	Logs           io.Writer // the components' JSON logs
}

// process is an infrastructure server this run started and must stop.
type process struct {
	name string
	stop func() error
}

// Fixed local addresses, so the printed URLs and the README agree.
const (
	apiAddr       = "127.0.0.1:8080"
	orderAddr     = "127.0.0.1:8081"
	paymentAddr   = "127.0.0.1:8082"
	inventoryAddr = "127.0.0.1:8083"
	// Ports of the private PostgreSQL and Redis started when none answers at the
	// configured URLs: fixed, so a second run finds the same ones.
	privatePostgresPort = 55432
	privateRedisPort    = 56379
)

// Run starts everything and blocks until ctx is cancelled, then stops everything it started
// in reverse order.
func Run(ctx context.Context, opts Options) error {
	if opts.StateDir == "" {
		opts.StateDir = ".run"
	}
	stateDir, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return err
	}
	out := opts.Out
	var started []*process
	defer func() {
		for i := len(started) - 1; i >= 0; i-- {
			_, _ = fmt.Fprintf(out, "stopping %s\n", started[i].name)
			if err := started[i].stop(); err != nil {
				_, _ = fmt.Fprintf(out, "stop %s: %v\n", started[i].name, err)
			}
		}
	}()

	pgURL, pg, err := localinfra.EnsurePostgres(ctx, opts.PostgresURL, stateDir, localinfra.PostgresOptions{Port: privatePostgresPort}, out)
	if err != nil {
		return withHint(err, "DEV_POSTGRES_URL")
	}
	if pg != nil {
		started = append(started, &process{name: "PostgreSQL", stop: pg.Stop})
	}
	redisURL, rdb, err := localinfra.EnsureRedis(ctx, opts.RedisURL, stateDir, localinfra.RedisOptions{Port: privateRedisPort}, out)
	if err != nil {
		return withHint(err, "REDIS_URL")
	}
	if rdb != nil {
		started = append(started, &process{name: "Redis", stop: rdb.Stop})
	}
	dsns := map[string]string{}
	for _, service := range []string{"order", "payment", "inventory"} {
		dsn, err := localinfra.EnsureDatabase(ctx, pgURL, "sagaflow_"+service)
		if err != nil {
			return fmt.Errorf("%s database: %w", service, err)
		}
		dsns[service] = dsn
	}

	// The local issuer of access tokens (`sagaflow token` signs with its key) and the payload
	// keys, under the state folder so they outlive the run like the dev server's histories.
	authDir := filepath.Join(stateDir, devauth.StateSubdir)
	issuer, err := devauth.LoadIssuer(authDir, devauth.LocalIssuerURL, devauth.DefaultAudience)
	if err != nil {
		return fmt.Errorf("development issuer: %w", err)
	}
	stopIssuer, err := serveIssuer(ctx, issuer, logging.New(opts.Logs, opts.LogLevel, "issuer"))
	if err != nil {
		return err
	}
	started = append(started, &process{name: "development issuer", stop: stopIssuer})
	payload, err := payloadKeys(authDir)
	if err != nil {
		return fmt.Errorf("payload keys: %w", err)
	}
	if os.Getenv("TEMPORAL_PAYLOAD_KEYS") != "" {
		// The developer's own keyring wins, as every other variable does.
		payload = payloadcodec.Config{Keys: payloadcodec.Secret(os.Getenv("TEMPORAL_PAYLOAD_KEYS")), KeyID: os.Getenv("TEMPORAL_PAYLOAD_KEY_ID")}
	}
	codec, err := newCodecServer(ctx, payload, opts.TemporalUIPort, logging.New(opts.Logs, opts.LogLevel, "codec-server"))
	if err != nil {
		return fmt.Errorf("codec server: %w", err)
	}

	_, _ = fmt.Fprintln(out, "starting the Temporal dev server")
	temporalLog, err := os.Create(filepath.Join(stateDir, "temporal.log"))
	if err != nil {
		return err
	}
	defer func() {
		if err := temporalLog.Close(); err != nil {
			_, _ = fmt.Fprintf(out, "close %s: %v\n", temporalLog.Name(), err)
		}
	}()
	srv, err := localinfra.StartTemporal(ctx, localinfra.TemporalConfig{
		Binary:           opts.TemporalBinary,
		Port:             opts.TemporalPort,
		UIPort:           opts.TemporalUIPort,
		DBFile:           filepath.Join(stateDir, "temporal.db"),
		SearchAttributes: workflows.SearchAttributeTypes(),
		DynamicConfig:    localinfra.FastDispatch(),
		UICodecEndpoint:  codec.uiEndpoint(),
		Stdout:           temporalLog,
		Stderr:           temporalLog,
	})
	if err != nil {
		return err
	}
	started = append(started, &process{name: "Temporal dev server", stop: srv.Stop})

	// Every identity's key, kept in the state folder so a restart keeps them. The
	// components run in this one process from one environment, so each reads its key
	// under a name of its own.
	keys, err := devauth.LoadServiceKeys(authDir)
	if err != nil {
		return fmt.Errorf("service keys: %w", err)
	}
	workerKeys, err := keys.PrivateSet(auth.IdentitySagaWorker, auth.IdentityOrdersWorker, auth.IdentityPaymentsWorker, auth.IdentityInventoryWorker)
	if err != nil {
		return fmt.Errorf("service keys: %w", err)
	}

	// Components read the same variables as in production; the local defaults fill in
	// only what the environment leaves unset.
	defaults := map[string]string{
		"ORDER_DATABASE_URL":      dsns["order"],
		"PAYMENT_DATABASE_URL":    dsns["payment"],
		"INVENTORY_DATABASE_URL":  dsns["inventory"],
		"ORDER_HTTP_ADDR":         orderAddr,
		"PAYMENT_HTTP_ADDR":       paymentAddr,
		"INVENTORY_HTTP_ADDR":     inventoryAddr,
		"API_HTTP_ADDR":           apiAddr,
		"ORDER_SERVICE_URL":       "http://" + orderAddr,
		"PAYMENT_SERVICE_URL":     "http://" + paymentAddr,
		"INVENTORY_SERVICE_URL":   "http://" + inventoryAddr,
		"REDIS_URL":               redisURL,
		"TEMPORAL_ADDRESS":        srv.HostPort,
		"SHUTDOWN_DRAIN_DELAY":    "0s",
		"AUTH_ISSUER":             devauth.LocalIssuerURL,
		"AUTH_AUDIENCE":           devauth.DefaultAudience,
		"TEMPORAL_PAYLOAD_KEYS":   string(payload.Keys),
		"TEMPORAL_PAYLOAD_KEY_ID": payload.KeyID,
	}
	maps.Copy(defaults, map[string]string{
		"SERVICE_AUTH_TRUSTED_KEYS": string(keys.Trusted),
		"API_SERVICE_KEY":           string(keys.Private[auth.IdentityAPI]),
		"WORKER_SERVICE_KEYS":       string(workerKeys),
		auth.AdminKeyVariable:       string(keys.Private[auth.IdentityAdmin]),
	})
	for k, v := range defaults {
		if os.Getenv(k) == "" {
			if err := setenv(k, v); err != nil {
				return err
			}
		}
	}
	// These were resolved above (a private server may have replaced the configured one).
	if err := setenv("REDIS_URL", redisURL); err != nil {
		return err
	}
	if err := setenv("TEMPORAL_ADDRESS", srv.HostPort); err != nil {
		return err
	}
	// The dev server speaks plaintext: TLS settings or an API key meant for another server
	// would only break the connection.
	for _, k := range temporalclient.SecurityVariables() {
		if err := os.Unsetenv(k); err != nil {
			return fmt.Errorf("unset %s: %w", k, err)
		}
	}

	cfgs, err := loadConfigs()
	if err != nil {
		return err
	}
	orderCfg, paymentCfg, inventoryCfg, apiCfg, workerCfg := cfgs.order, cfgs.payment, cfgs.inventory, cfgs.api, cfgs.workers
	pools := []string{devPool}

	compCtx, stopComponents := context.WithCancel(context.WithoutCancel(ctx))
	defer stopComponents()
	logger := func(name string) *slog.Logger { return logging.New(opts.Logs, opts.LogLevel, name) }
	var wg sync.WaitGroup
	errc := make(chan error, 5)
	launch := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(compCtx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	launch("inventory", func(c context.Context) error { return inventory.Run(c, inventoryCfg, logger("inventory")) })
	launch("payment", func(c context.Context) error { return payment.Run(c, paymentCfg, logger("payment")) })
	launch("order", func(c context.Context) error { return order.Run(c, orderCfg, logger("order")) })
	launch("workers", func(c context.Context) error { return workers.Run(c, workerCfg, pools, logger("worker")) })
	launch("api", func(c context.Context) error { return api.Run(c, apiCfg, logger("api")) })
	launch("codec-server", func(c context.Context) error { return codec.run(c, logger("codec-server")) })
	stopAll := func() {
		_, _ = fmt.Fprintln(out, "stopping the API, the worker pools and the services")
		stopComponents()
		wg.Wait()
	}

	if err := waitReady(ctx, errc, "http://"+apiAddr+"/readyz", 60*time.Second); err != nil {
		stopAll()
		return err
	}
	if _, err := SeedCatalog(ctx, os.Getenv("INVENTORY_SERVICE_URL"), cfgs.admin); err != nil {
		stopAll()
		return fmt.Errorf("load demo catalog: %w", err)
	}
	printBanner(out, srv.UIURL, codec.uiEndpoint())

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stopAll()
	return err
}

// setenv sets a variable the components' configuration is read from.
func setenv(key, value string) error {
	if err := os.Setenv(key, value); err != nil {
		return fmt.Errorf("set %s: %w", key, err)
	}
	return nil
}

// withHint adds to a missing server program that the developer may point the run at a
// running server instead.
func withHint(err error, envVar string) error {
	var missing *localinfra.MissingToolError
	if errors.As(err, &missing) {
		return fmt.Errorf("%w, or set %s", err, envVar)
	}
	return err
}

func waitReady(ctx context.Context, errc <-chan error, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close() // only the status is read
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the API was not ready within %s (%s)", limit, url)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func printBanner(out io.Writer, uiURL, codecEndpoint string) {
	_, _ = fmt.Fprintf(out, `
sagaflow is running.

  API docs       http://%[1]s/docs        (OpenAPI: http://%[1]s/openapi.json)
  Temporal UI    %[2]s/namespaces/default/workflows   (payloads decoded through the codec server)
  services       order http://%[3]s  payment http://%[4]s  inventory http://%[5]s
  issuer         %[6]s   (local development issuer of access tokens)

Place an order as customer cust-42:

  TOKEN=$(./bin/sagaflow token --customer cust-42)
  curl -sS -X POST http://%[1]s/orders \
    -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -H "Idempotency-Key: $(date +%%s%%N)" \
    -H 'Prefer: wait=5' \
    -d '{"payment_token":"tok_visa","lines":[{"sku":"SKU-ESPRESSO","quantity":2}]}'

An operator's token (approve, reject, read every order): ./bin/sagaflow token --operator alice
The temporal CLI reads saga payloads with --codec-endpoint %[7]s

Press Ctrl-C to stop everything.
`, apiAddr, uiURL, orderAddr, paymentAddr, inventoryAddr, devauth.LocalIssuerURL, codecEndpoint)
}

// devPool is the worker pool `make run` hosts: every queue, in one process.
const devPool = "all"

// configs is every component's configuration, as `make run` hands them over, and the
// seed's (`sagaflow seed`).
type configs struct {
	order     order.Config
	payment   payment.Config
	inventory inventory.Config
	api       api.Config
	workers   workers.Config
	admin     auth.AdminConfig
}

// loadConfigs reads every component's configuration from the environment the way its own
// subcommand does (`sagaflow service NAME`, `api`, `worker`), so `make run` refuses what
// they would refuse.
func loadConfigs() (configs, error) {
	var c configs
	var err error
	if c.order, err = order.LoadConfig(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if c.payment, err = payment.LoadConfig(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if c.inventory, err = inventory.LoadConfig(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	for _, spec := range []any{&c.api, &c.workers, &c.admin} {
		if err := envconfig.Process("", spec); err != nil {
			return c, fmt.Errorf("configuration: %w", err)
		}
	}
	if err := c.api.Validate(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if err := c.workers.Validate([]string{devPool}); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if err := c.admin.Validate(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}
