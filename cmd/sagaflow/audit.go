package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	paymentclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/tools/audit"
)

// Exit codes of `sagaflow audit`, so a reconciliation job can tell a broken invariant
// from a run that could not check anything.
const (
	auditExitOK         = 0
	auditExitViolations = 1
	auditExitUsage      = 2
	auditExitUnreadable = 3
)

// auditConfig is the audit's environment.
type auditConfig struct {
	OrderURL     string `envconfig:"ORDER_SERVICE_URL" required:"true"`
	PaymentURL   string `envconfig:"PAYMENT_SERVICE_URL" required:"true"`
	InventoryURL string `envconfig:"INVENTORY_SERVICE_URL" required:"true"`
	// InFlightBound: orders older than this must be terminal. The default is above the
	// API's default APPROVAL_TIMEOUT (15m), so an order held for approval until its timer
	// rejects it is not reported while it runs its compensations.
	InFlightBound time.Duration `envconfig:"AUDIT_IN_FLIGHT_BOUND" default:"30m"`
	CallTimeout   time.Duration `envconfig:"SERVICE_CALL_TIMEOUT" default:"10s"`
	// The audit reads as the admin identity (SAGAFLOW_ADMIN_KEY).
	Admin auth.AdminConfig
}

// Validate names the variable that is out of range.
func (c *auditConfig) Validate() error {
	for _, u := range []struct{ name, value string }{
		{"ORDER_SERVICE_URL", c.OrderURL},
		{"PAYMENT_SERVICE_URL", c.PaymentURL},
		{"INVENTORY_SERVICE_URL", c.InventoryURL},
	} {
		if u.value == "" {
			return fmt.Errorf("%s is required", u.name)
		}
		parsed, err := url.Parse(u.value)
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return fmt.Errorf("%s must be an http(s) URL, got %q", u.name, u.value)
		}
	}
	if c.InFlightBound < 0 {
		return fmt.Errorf("AUDIT_IN_FLIGHT_BOUND must not be negative, got %s", c.InFlightBound)
	}
	if c.CallTimeout <= 0 {
		return fmt.Errorf("SERVICE_CALL_TIMEOUT must be positive, got %s", c.CallTimeout)
	}
	return c.Admin.Validate()
}

// clients returns the services' clients, calling as admin over one transport.
func (c *auditConfig) clients() (*orderclient.Client, *paymentclient.Client, *invclient.Client, error) {
	base := svcclient.NewHTTPClient()
	orderHTTP, err := c.Admin.Client(base, orderclient.ServiceName)
	if err != nil {
		return nil, nil, nil, err
	}
	paymentHTTP, err := c.Admin.Client(base, paymentclient.ServiceName)
	if err != nil {
		return nil, nil, nil, err
	}
	inventoryHTTP, err := c.Admin.Client(base, invclient.ServiceName)
	if err != nil {
		return nil, nil, nil, err
	}
	return orderclient.New(c.OrderURL, orderHTTP, c.CallTimeout),
		paymentclient.New(c.PaymentURL, paymentHTTP, c.CallTimeout),
		invclient.New(c.InventoryURL, inventoryHTTP, c.CallTimeout), nil
}

// auditJSON is the --json document: the report plus its verdict.
type auditJSON struct {
	OK bool `json:"ok"`
	audit.Report
}

// runAudit reads every order, payment, reservation and stock movement through the
// services' APIs, prints the report and answers with the exit code. As in run, messages on
// stderr are best effort.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the report as one JSON document")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return auditExitOK
		}
		_, _ = fmt.Fprintf(stderr, "audit: %v\n\n%s", err, usage)
		return auditExitUsage
	}
	if fs.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "audit: unexpected arguments %v\n\n%s", fs.Args(), usage)
		return auditExitUsage
	}
	var cfg auditConfig
	if err := envconfig.Process("", &cfg); err != nil {
		_, _ = fmt.Fprintf(stderr, "audit: configuration: %v\n", err)
		return auditExitUsage
	}
	if err := cfg.Validate(); err != nil {
		_, _ = fmt.Fprintf(stderr, "audit: configuration: %v\n", err)
		return auditExitUsage
	}

	if cfg.Admin.Insecure {
		auth.WarnInsecure(logging.New(stderr, os.Getenv("LOG_LEVEL"), "audit"), "audit")
	}
	orders, payments, inventory, err := cfg.clients()
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "audit: configuration: %v\n", err)
		return auditExitUsage
	}
	auditor := audit.New(orders, payments, inventory)
	report, err := auditor.Run(ctx, audit.Options{InFlightBound: cfg.InFlightBound})
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "audit: could not read the services, nothing was checked: %v\n", err)
		return auditExitUnreadable
	}
	if *asJSON {
		if report.Violations == nil {
			report.Violations = []audit.Violation{}
		}
		if report.Resolved == nil {
			report.Resolved = []audit.Violation{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(auditJSON{OK: report.OK(), Report: report})
	} else {
		err = report.WriteText(stdout)
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "audit: write report: %v\n", err)
		return auditExitUnreadable
	}
	if !report.OK() {
		return auditExitViolations
	}
	return auditExitOK
}
