// Command sagaflow is the single binary of the system: each component is a subcommand,
// so every container and every local process runs the same build.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/kelseyhightower/envconfig"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/postgres"
	"github.com/sagaflow/sagaflow/schema"
	"github.com/sagaflow/sagaflow/services/inventory"
	"github.com/sagaflow/sagaflow/services/order"
	"github.com/sagaflow/sagaflow/services/payment"
	"github.com/sagaflow/sagaflow/tools/devstack"
	"github.com/sagaflow/sagaflow/workers"
)

const usage = `usage: sagaflow <command> [flags]

commands:
  dev                      run the whole system locally (Temporal dev server, PostgreSQL, Redis,
                           migrations, demo catalog, every service, every worker pool and the API)
  api                      run the public API
  service order|payment|inventory
                           run one service
  worker --pool NAME[,NAME]
                           run worker pools: sagas, orders, payments, inventory, or all
  migrate [--service NAME] [--status]
                           apply the SQL migrations of every (or one) service database, or
                           list each migration and whether it is applied
  migrate --service NAME --down
                           roll back that database's latest migration
  seed                     load the demo catalog through the inventory service (INVENTORY_SERVICE_URL,
                           SAGAFLOW_ADMIN_KEY)
  keys new --identity NAME print a new service key of NAME (api, saga-worker, orders-worker,
                           payments-worker, inventory-worker, admin): the private JWK, then
                           the public JWK the services trust (docs/security.md)
  keys local --identity NAME
                           print the private key ` + "`make run`" + ` gave NAME (keys under .run/auth)
  keys payload --id ID     print a new payload encryption key, a TEMPORAL_PAYLOAD_KEYS entry
  openapi [--out DIR]      write the OpenAPI documents of the API and every service
  token --customer ID | --operator NAME [--ttl D]
                           print an access token from the local development issuer of
                           ` + "`make run`" + ` (keys under .run/auth)
  healthcheck URL          exit 0 when URL answers 2xx (container health checks; images have no curl)
  bench [flags]            measure the whole system against Temporal's own ceiling (make bench)
  codec-server             serve the payload codec (decryption) to the Temporal Web UI and CLI
                           (CODEC_HTTP_ADDR, CODEC_CORS_ORIGINS, CODEC_PATH_SECRET, TEMPORAL_PAYLOAD_KEYS)
  audit [--json]           check the invariants across the order, payment and inventory services
                           (ORDER_/PAYMENT_/INVENTORY_SERVICE_URL, SAGAFLOW_ADMIN_KEY,
                           AUDIT_IN_FLIGHT_BOUND); exit 1 on a violation, 3 when a service
                           cannot be read

Every command reads its configuration from the environment; see README.md.
`

func main() {
	os.Exit(runWithSignals(os.Args[1:], os.Stdout, os.Stderr))
}

// runWithSignals runs the command until SIGINT or SIGTERM cancels it. It returns the exit
// code rather than exiting, so its deferred cleanup runs before main exits.
func runWithSignals(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdout, stderr)
}

// run runs one command and returns the process's exit code. Messages on stderr are best
// effort: when stderr itself fails there is nowhere left to report it, and the exit code
// still tells.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		_, _ = fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	logger := logging.New(stderr, os.Getenv("LOG_LEVEL"), args[0])
	var err error
	switch args[0] {
	case "dev":
		err = runDev(ctx, args[1:], stdout, stderr)
	case "api":
		err = runAPI(ctx, logger)
	case "service":
		err = runService(ctx, args[1:], stderr)
	case "worker":
		err = runWorker(ctx, args[1:], logger)
	case "migrate":
		err = runMigrate(ctx, args[1:], stdout, logger)
	case "seed":
		err = runSeed(ctx, logger)
	case "keys":
		err = runKeys(args[1:], stdout, stderr)
	case "openapi":
		err = runOpenAPI(args[1:], stdout)
	case "healthcheck":
		err = runHealthcheck(ctx, args[1:])
	case "token":
		err = runToken(args[1:], stdout)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], stdout, stderr)
	case "codec-server":
		err = runCodecServer(ctx, logger)
	default:
		_, _ = fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		var usageErr *usageError
		if errors.As(err, &usageErr) {
			_, _ = fmt.Fprintf(stderr, "%v\n\n%s", err, usage)
			return 2
		}
		logger.Error("exiting on error", "error", err.Error())
		return 1
	}
	return 0
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// loadConfig reads a component's configuration from the environment and validates it,
// so a bad variable stops the process at once with its name in the message.
func loadConfig(cfg interface{ Validate() error }) error {
	if err := envconfig.Process("", cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}

func runAPI(ctx context.Context, logger *slog.Logger) error {
	var cfg api.Config
	if err := loadConfig(&cfg); err != nil {
		return err
	}
	return api.Run(ctx, cfg, logger)
}

func runService(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) != 1 {
		return &usageError{"service: name one service: order, payment or inventory"}
	}
	logger := logging.New(stderr, os.Getenv("LOG_LEVEL"), args[0])
	switch args[0] {
	case "order":
		cfg, err := order.LoadConfig()
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		return order.Run(ctx, cfg, logger)
	case "payment":
		cfg, err := payment.LoadConfig()
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		return payment.Run(ctx, cfg, logger)
	case "inventory":
		cfg, err := inventory.LoadConfig()
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		return inventory.Run(ctx, cfg, logger)
	}
	return &usageError{fmt.Sprintf("service: unknown service %q", args[0])}
}

func runWorker(ctx context.Context, args []string, logger *slog.Logger) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	pools := fs.String("pool", os.Getenv("WORKER_POOL"), "comma-separated pools: sagas, orders, payments, inventory, all")
	if err := fs.Parse(args); err != nil {
		return &usageError{err.Error()}
	}
	if *pools == "" {
		return &usageError{"worker: --pool (or WORKER_POOL) is required"}
	}
	names := strings.Split(*pools, ",")
	var cfg workers.Config
	if err := envconfig.Process("", &cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if err := cfg.Validate(names); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return workers.Run(ctx, cfg, names, logger)
}

func runMigrate(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	only := fs.String("service", "", "migrate only this service's database")
	down := fs.Bool("down", false, "roll back the latest migration (needs --service)")
	status := fs.Bool("status", false, "list each migration and whether it is applied")
	if err := fs.Parse(args); err != nil {
		return &usageError{err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return &usageError{fmt.Sprintf("migrate: unexpected arguments %q", fs.Args())}
	case *only != "" && !slices.Contains(schema.Services(), *only):
		return &usageError{fmt.Sprintf("migrate: unknown service %q", *only)}
	case *down && *status:
		return &usageError{"migrate: --down and --status exclude each other"}
	case *down && *only == "":
		// A rollback drops tables: one named database at a time.
		return &usageError{"migrate: --down needs --service"}
	}
	for _, service := range schema.Services() {
		if *only != "" && *only != service {
			continue
		}
		variable := strings.ToUpper(service) + "_DATABASE_URL"
		dsn := os.Getenv(variable)
		if dsn == "" {
			return fmt.Errorf("configuration: %s is required", variable)
		}
		if err := migrate(ctx, dsn, service, *down, *status, stdout, logger); err != nil {
			return err
		}
	}
	return nil
}

func migrate(ctx context.Context, dsn, service string, down, status bool, stdout io.Writer, logger *slog.Logger) (err error) {
	db, err := schema.Open(ctx, service, dsn, 2, false)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	m, err := schema.NewMigrator(db, service)
	if err != nil {
		return fmt.Errorf("%s database: %w", service, err)
	}
	database := postgres.DatabaseName(dsn)
	switch {
	case status:
		st, err := m.Status(ctx)
		if err != nil {
			return fmt.Errorf("%s database: %w", service, err)
		}
		var out strings.Builder
		for _, s := range st {
			out.WriteString(service + "\t" + path.Base(s.Source.Path) + "\t" + string(s.State))
			if !s.AppliedAt.IsZero() {
				out.WriteString("\t" + s.AppliedAt.UTC().Format(time.RFC3339))
			}
			out.WriteString("\n")
		}
		_, err = io.WriteString(stdout, out.String())
		return err
	case down:
		name, err := m.Down(ctx)
		if err != nil {
			return fmt.Errorf("%s database: %w", service, err)
		}
		if name == "" {
			logger.Info("nothing to roll back", "service", service, "database", database)
			return nil
		}
		logger.Info("rolled back", "service", service, "database", database, "migration", name)
	default:
		applied, err := m.Up(ctx)
		if err != nil {
			return fmt.Errorf("%s database: %w", service, err)
		}
		logger.Info("migrated", "service", service, "database", database, "applied", applied)
	}
	return nil
}

func runSeed(ctx context.Context, logger *slog.Logger) error {
	url := os.Getenv("INVENTORY_SERVICE_URL")
	if url == "" {
		return errors.New("configuration: INVENTORY_SERVICE_URL is required")
	}
	var admin auth.AdminConfig
	if err := loadConfig(&admin); err != nil {
		return err
	}
	if admin.Insecure {
		auth.WarnInsecure(logger, "seed")
	}
	n, err := devstack.SeedCatalog(ctx, url, admin)
	if err != nil {
		return err
	}
	logger.Info("demo catalog loaded", "products", n)
	return nil
}

func runHealthcheck(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return &usageError{"healthcheck: give one URL, e.g. http://127.0.0.1:8080/readyz"}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return &usageError{"healthcheck: " + err.Error()}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close() // only the status is read
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %d", args[0], resp.StatusCode)
	}
	return nil
}

func runOpenAPI(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	out := fs.String("out", "api/openapi", "folder to write the documents to")
	if err := fs.Parse(args); err != nil {
		return &usageError{err.Error()}
	}
	docs, err := Documents()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for name, body := range docs {
		path := filepath.Join(*out, name)
		if err := os.WriteFile(path, body, 0o644); err != nil {
			return err
		}
		if _, err := fmt.Fprintln(stdout, "wrote", path); err != nil {
			return err
		}
	}
	return nil
}

// Documents renders every OpenAPI document by file name: the 3.1 document of each
// component, plus a 3.0 rendering of the public API for generators that need it.
func Documents() (map[string][]byte, error) {
	specs := map[string]*huma.OpenAPI{
		"public":    api.Spec(),
		"order":     order.Spec(),
		"payment":   payment.Spec(),
		"inventory": inventory.Spec(),
	}
	docs := map[string][]byte{}
	for name, spec := range specs {
		body, err := spec.YAML()
		if err != nil {
			return nil, fmt.Errorf("render %s spec: %w", name, err)
		}
		docs[name+".yaml"] = body
	}
	down, err := api.Spec().DowngradeYAML()
	if err != nil {
		return nil, fmt.Errorf("render public 3.0 spec: %w", err)
	}
	docs["public-3.0.yaml"] = down
	return docs, nil
}
