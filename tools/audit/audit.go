// Package audit checks the system's invariants from the outside: it reads every order,
// payment, reservation, product and stock movement through the services' HTTP APIs and
// reports each place where the three services' records break one of the invariants in
// docs/invariants.md, numbered there as the checks here refer to them: (1) stock and
// (2) money conserved, (3) every order terminal in time, (4) nobody charged twice, and
// (5) the services agreeing on each order's outcome.
//
// The services are read one after another, not in one snapshot. Reads follow the saga's
// causal order (reservations and payments before the orders that caused them), and a
// finding is reported only when a second full pass confirms it, so a saga step landing
// between two reads is not mistaken for drift. The audit is exact on a quiet system, which
// is how tests and benchmarks use it: after their traffic has stopped.
package audit

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	paymentclient "github.com/sagaflow/sagaflow/services/payment/client"
)

// Invariant names, as reported in Violation.Invariant.
const (
	// StockConserved: product levels equal their ledger's replay, never go negative or
	// over-reserved, open reservations hold exactly the reserved units, each order's
	// movements match its reservation, and nothing is sold twice.
	StockConserved = "stock-conserved"
	// MoneyConserved: a confirmed order captured its total and refunded nothing; a
	// cancelled or failed one kept no money.
	MoneyConserved = "money-conserved"
	// Terminal: every order older than the in-flight bound is CONFIRMED, CANCELLED or FAILED.
	Terminal = "terminal"
	// ChargedOnce: a payment has at most one authorization and one capture.
	ChargedOnce = "charged-once"
	// ServicesAgree: the reservation and payment of a finished order match its outcome,
	// lines, prices and total, and no service holds records of an order nobody placed.
	ServicesAgree = "services-agree"
	// LedgerReplays: a ledger (a product's stock movements or a payment's money entries)
	// is consistent with itself and with the amounts its service reports.
	LedgerReplays = "ledger-replays"
	// NoOpenHold: a cancelled or failed order left no authorization open on the card.
	NoOpenHold = "no-open-hold"
)

// OperatorResolved labels the findings listed in Report.Resolved: a compensation (void or
// release) that never succeeded and that an operator marked resolved with the saga's
// resolve-compensation update or signal, stating it was settled outside the system. The
// saga records that at the very start of the order's terminal reason, where no client text
// can appear (workflows.ResolvedCompensations reads it). Such an order's leftover hold or
// reservation is expected, so it is not a violation; it is listed separately so a
// reconciliation run still shows it to whoever checks the processor or the stock.
const OperatorResolved = "operator-resolved"

// Violation is one broken rule, located by order and/or SKU.
type Violation struct {
	Invariant string `json:"invariant"`
	OrderID   string `json:"order_id,omitempty"`
	SKU       string `json:"sku,omitempty"`
	Detail    string `json:"detail"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s order=%s sku=%s: %s", v.Invariant, orDash(v.OrderID), orDash(v.SKU), v.Detail)
}

// key identifies a violation across passes; details may differ as numbers move.
type key struct{ invariant, orderID, sku string }

func (v Violation) key() key { return key{v.Invariant, v.OrderID, v.SKU} }

// Report is what one audit found.
type Report struct {
	// At is the audit's clock reading (Options.Now) that order ages were measured against.
	At time.Time `json:"at"`
	// Orders counts every order; OrdersByStatus splits them by status.
	Orders         int                        `json:"orders"`
	OrdersByStatus map[orderclient.Status]int `json:"orders_by_status"`
	// InFlight counts non-terminal orders still within the in-flight bound; their payment
	// and reservation are not held to an outcome yet.
	InFlight     int `json:"in_flight"`
	Payments     int `json:"payments"`
	Reservations int `json:"reservations"`
	Products     int `json:"products"`
	Movements    int `json:"stock_movements"`
	// Violations is sorted by invariant, order id, SKU.
	Violations []Violation `json:"violations"`
	// Resolved lists what would break NoOpenHold or ServicesAgree but an operator marked
	// resolved (see OperatorResolved); these do not make the report fail. Sorted like
	// Violations.
	Resolved []Violation `json:"operator_resolved"`
}

// OK reports whether the audit found nothing wrong.
func (r Report) OK() bool { return len(r.Violations) == 0 }

// WriteText prints a summary and one line per violation.
func (r Report) WriteText(w io.Writer) error {
	verdict := "OK"
	if !r.OK() {
		verdict = fmt.Sprintf("FAILED, %d violation(s)", len(r.Violations))
	}
	if n := len(r.Resolved); n > 0 {
		verdict += fmt.Sprintf(", %d operator-resolved", n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "audit at %s: %s\n", r.At.UTC().Format(time.RFC3339), verdict)
	fmt.Fprintf(&b, "orders: %d%s, in flight: %d\n", r.Orders, r.statusSummary(), r.InFlight)
	fmt.Fprintf(&b, "payments: %d, reservations: %d, products: %d, stock movements: %d\n",
		r.Payments, r.Reservations, r.Products, r.Movements)
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "violation %s\n", v)
	}
	for _, v := range r.Resolved {
		fmt.Fprintf(&b, "%s %s\n", OperatorResolved, v)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// statusSummary lists the order counts by status in lifecycle order, e.g. " (CONFIRMED 3, FAILED 1)".
func (r Report) statusSummary() string {
	statuses := orderclient.Statuses()
	for s := range r.OrdersByStatus {
		if !slices.Contains(statuses, s) {
			statuses = append(statuses, s)
		}
	}
	slices.Sort(statuses[len(orderclient.Statuses()):])
	var parts []string
	for _, s := range statuses {
		if n := r.OrdersByStatus[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// Options tune one audit.
type Options struct {
	// InFlightBound is how long an order may stay non-terminal: older orders must be
	// CONFIRMED, CANCELLED or FAILED. Zero means every order must already be terminal.
	InFlightBound time.Duration
	// Now is the clock order ages are measured with; nil means time.Now.
	Now func() time.Time
	// PageSize is how many items each list request asks for; 0 (or more than a service
	// allows) means the largest page each service serves.
	PageSize int
}

// Auditor reads the three services through their clients.
type Auditor struct {
	orders    *orderclient.Client
	payments  *paymentclient.Client
	inventory *invclient.Client
}

// New returns an auditor over the services behind these clients.
func New(orders *orderclient.Client, payments *paymentclient.Client, inventory *invclient.Client) *Auditor {
	return &Auditor{orders: orders, payments: payments, inventory: inventory}
}

// Run reads every service and checks the invariants. It returns an error only when a
// service could not be read completely; broken invariants are in the report.
func (a *Auditor) Run(ctx context.Context, opts Options) (Report, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	at := now()
	bound := max(opts.InFlightBound, 0)

	first, err := a.pass(ctx, at, bound, opts.PageSize)
	if err != nil || first.OK() {
		return first, err
	}
	// Confirm: only what a second complete read finds again is reported.
	second, err := a.pass(ctx, at, bound, opts.PageSize)
	if err != nil {
		return Report{}, err
	}
	seen := make(map[key]bool, len(first.Violations))
	for _, v := range first.Violations {
		seen[v.key()] = true
	}
	second.Violations = slices.DeleteFunc(second.Violations, func(v Violation) bool { return !seen[v.key()] })
	return second, nil
}

// pass reads everything once and checks it.
func (a *Auditor) pass(ctx context.Context, at time.Time, bound time.Duration, pageSize int) (Report, error) {
	snap, err := a.read(ctx, pageSize)
	if err != nil {
		return Report{}, err
	}
	c := &checker{snap: snap, at: at, bound: bound}
	c.report = Report{
		At:             at,
		Orders:         len(snap.orders),
		OrdersByStatus: map[orderclient.Status]int{},
		Payments:       len(snap.payments),
		Reservations:   len(snap.reservations),
		Products:       len(snap.stock),
	}
	for _, s := range snap.stock {
		c.report.Movements += len(s.movements)
	}
	c.checkStock()
	c.checkPayments()
	c.checkOrders()
	c.checkOrphans()
	byKey := func(x, y Violation) int {
		return strings.Compare(x.Invariant+"\x00"+x.OrderID+"\x00"+x.SKU+"\x00"+x.Detail,
			y.Invariant+"\x00"+y.OrderID+"\x00"+y.SKU+"\x00"+y.Detail)
	}
	slices.SortFunc(c.report.Violations, byKey)
	slices.SortFunc(c.report.Resolved, byKey)
	return c.report, nil
}

// checker holds one pass's data and collects its findings.
type checker struct {
	snap   *snapshot
	at     time.Time
	bound  time.Duration
	report Report
}

// resolved lists a finding an operator settled; see OperatorResolved.
func (c *checker) resolved(invariant, orderID, format string, args ...any) {
	c.report.Resolved = append(c.report.Resolved, Violation{
		Invariant: invariant, OrderID: orderID, Detail: fmt.Sprintf(format, args...),
	})
}

func (c *checker) add(invariant, orderID, sku, format string, args ...any) {
	c.report.Violations = append(c.report.Violations, Violation{
		Invariant: invariant, OrderID: orderID, SKU: sku, Detail: fmt.Sprintf(format, args...),
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
