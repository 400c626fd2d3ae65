package audit

import (
	"fmt"
	"slices"
	"strings"
	"time"

	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	paymentclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/workflows"
)

// isVoidMarker reports a payment row left by a void that came before any authorization:
// no money ever moved for it.
func isVoidMarker(p paymentclient.Payment) bool {
	return p.Status == paymentclient.PaymentVoided && p.ProcessorRef == "" && p.Amount == 0
}

// isReleaseMarker reports a reservation row left by a release that came before any
// reserve: no stock was ever held for it.
func isReleaseMarker(r invclient.Reservation) bool {
	return r.Status == invclient.ReservationReleased && len(r.Lines) == 0
}

// checkPayments checks invariant 4 and that every payment's ledger replays to the
// amounts and status the payment shows.
func (c *checker) checkPayments() {
	for _, p := range c.snap.payments {
		c.checkPayment(p)
	}
}

func (c *checker) checkPayment(p paymentclient.Payment) {
	count := map[string]int{}
	sum := map[string]int64{}
	var problems []string
	for _, e := range p.Ledger {
		switch e.Kind {
		case paymentclient.EntryAuthorize, paymentclient.EntryCapture, paymentclient.EntryVoid, paymentclient.EntryRefund:
		default:
			problems = append(problems, fmt.Sprintf("entry #%d has unknown kind %q", e.ID, e.Kind))
		}
		if e.Amount <= 0 {
			problems = append(problems, fmt.Sprintf("entry #%d (%s) moves %d", e.ID, e.Kind, e.Amount))
		}
		count[e.Kind]++
		sum[e.Kind] = saturatingAdd(sum[e.Kind], e.Amount)
	}
	if count[paymentclient.EntryAuthorize] > 1 || count[paymentclient.EntryCapture] > 1 {
		c.add(ChargedOnce, p.OrderID, "", "the ledger has %d AUTHORIZE and %d CAPTURE entries for one payment",
			count[paymentclient.EntryAuthorize], count[paymentclient.EntryCapture])
	}
	if isVoidMarker(p) {
		if len(p.Ledger) > 0 {
			c.add(LedgerReplays, p.OrderID, "", "a void marker (no authorization) has %d ledger entries", len(p.Ledger))
		}
		return
	}
	if got := sum[paymentclient.EntryAuthorize]; got != p.Amount {
		problems = append(problems, fmt.Sprintf("authorizations sum to %d but the payment amount is %d", got, p.Amount))
	}
	if got := sum[paymentclient.EntryCapture]; got != p.Captured {
		problems = append(problems, fmt.Sprintf("captures sum to %d but the payment shows %d captured", got, p.Captured))
	}
	if got := sum[paymentclient.EntryRefund]; got != p.Refunded {
		problems = append(problems, fmt.Sprintf("refunds sum to %d but the payment shows %d refunded", got, p.Refunded))
	}
	switch p.Status {
	case paymentclient.PaymentAuthorized, paymentclient.PaymentCaptured, paymentclient.PaymentRefunded:
		if count[paymentclient.EntryVoid] > 0 {
			problems = append(problems, fmt.Sprintf("a %s payment has %d VOID entries", p.Status, count[paymentclient.EntryVoid]))
		}
	case paymentclient.PaymentVoided:
		if got := sum[paymentclient.EntryVoid]; got != p.Amount {
			problems = append(problems, fmt.Sprintf("voids sum to %d but the voided authorization was %d", got, p.Amount))
		}
	default:
		problems = append(problems, fmt.Sprintf("unknown payment status %q", p.Status))
	}
	if len(problems) > 0 {
		c.add(LedgerReplays, p.OrderID, "", "%s", strings.Join(problems, "; "))
	}
}

// checkOrders counts orders, checks that old ones are terminal (invariant 3), and holds
// every terminal order's payment and reservation to its outcome (invariants 2 and 5).
func (c *checker) checkOrders() {
	for _, o := range c.snap.orders {
		c.report.OrdersByStatus[o.Status]++
		if !o.Status.IsTerminal() {
			if age := c.at.Sub(o.CreatedAt); age > c.bound {
				c.add(Terminal, o.ID, "", "still %s %s after it was created (in-flight bound %s)",
					o.Status, age.Round(time.Millisecond), c.bound)
			} else {
				c.report.InFlight++
			}
			continue
		}
		p, hasPayment := c.snap.payments[o.ID]
		r, hasReservation := c.snap.reservations[o.ID]
		if o.Status == orderclient.StatusConfirmed {
			c.checkConfirmed(o, p, hasPayment, r, hasReservation)
		} else {
			c.checkUndone(o, p, hasPayment, r, hasReservation)
		}
	}
}

// checkConfirmed: the total was captured and kept, the stock was committed, and both
// services recorded the order's lines, prices and total.
func (c *checker) checkConfirmed(o orderclient.Order, p paymentclient.Payment, hasPayment bool, r invclient.Reservation, hasReservation bool) {
	charged := hasPayment && !isVoidMarker(p)
	switch {
	case !charged && o.Total == 0:
		// Nothing to charge.
	case !charged:
		c.add(MoneyConserved, o.ID, "", "CONFIRMED with total %d %s but no payment was authorized", o.Total, o.Currency)
	default:
		if p.Status != paymentclient.PaymentCaptured || p.Captured != o.Total || p.Refunded != 0 {
			c.add(MoneyConserved, o.ID, "", "CONFIRMED with total %d %s but its payment is %s with %d captured and %d refunded",
				o.Total, o.Currency, p.Status, p.Captured, p.Refunded)
		}
		if p.Amount != o.Total || p.Currency != o.Currency {
			c.add(ServicesAgree, o.ID, "", "order total is %d %s but the payment is for %d %s",
				o.Total, o.Currency, p.Amount, p.Currency)
		}
	}
	if !hasReservation {
		c.add(ServicesAgree, o.ID, "", "CONFIRMED but inventory has no reservation for it")
		return
	}
	if r.Status != invclient.ReservationCommitted {
		c.add(ServicesAgree, o.ID, "", "CONFIRMED but its reservation is %s, not COMMITTED", r.Status)
	}
	c.compareLines(o, r)
}

// compareLines checks that the reservation holds exactly the order's lines, at the prices
// and currency the order was charged.
func (c *checker) compareLines(o orderclient.Order, r invclient.Reservation) {
	reserved := make(map[string]invclient.ReservedLine, len(r.Lines))
	for _, l := range r.Lines {
		reserved[l.SKU] = l
	}
	for _, l := range o.Lines {
		rl, ok := reserved[l.SKU]
		delete(reserved, l.SKU)
		switch {
		case !ok:
			c.add(ServicesAgree, o.ID, l.SKU, "order line %d × %d %s has no reservation line", l.Quantity, l.UnitPrice, o.Currency)
		case rl.Quantity != l.Quantity || rl.UnitPrice != l.UnitPrice || rl.Currency != o.Currency:
			c.add(ServicesAgree, o.ID, l.SKU, "order line %d × %d %s but reservation line %d × %d %s",
				l.Quantity, l.UnitPrice, o.Currency, rl.Quantity, rl.UnitPrice, rl.Currency)
		}
	}
	for sku, rl := range reserved {
		c.add(ServicesAgree, o.ID, sku, "reservation line %d × %d %s is not a line of the order", rl.Quantity, rl.UnitPrice, rl.Currency)
	}
}

// checkUndone: a cancelled or failed order kept no money, left no hold open and gave its
// stock back (or never had any). A hold or reservation left behind by a void or release
// an operator marked resolved is listed in Report.Resolved instead; captured money never is.
func (c *checker) checkUndone(o orderclient.Order, p paymentclient.Payment, hasPayment bool, r invclient.Reservation, hasReservation bool) {
	settled := workflows.ResolvedCompensations(o.FailureReason)
	if hasPayment && !isVoidMarker(p) {
		if net := p.Captured - p.Refunded; net != 0 {
			c.add(MoneyConserved, o.ID, "", "%s but %d %s stays captured (captured %d, refunded %d)",
				o.Status, net, p.Currency, p.Captured, p.Refunded)
		}
		if p.Status == paymentclient.PaymentAuthorized {
			if slices.Contains(settled, workflows.StepVoidPayment) {
				c.resolved(NoOpenHold, o.ID, "%s and its authorization of %d %s is still open here; %s",
					o.Status, p.Amount, p.Currency, o.FailureReason)
			} else {
				c.add(NoOpenHold, o.ID, "", "%s but its authorization of %d %s is still open", o.Status, p.Amount, p.Currency)
			}
		}
	}
	if hasReservation && r.Status != invclient.ReservationReleased {
		if r.Status == invclient.ReservationReserved && slices.Contains(settled, workflows.StepReleaseStock) {
			c.resolved(ServicesAgree, o.ID, "%s and its reservation is still RESERVED here; %s", o.Status, o.FailureReason)
		} else {
			c.add(ServicesAgree, o.ID, "", "%s but its reservation is %s, not RELEASED", o.Status, r.Status)
		}
	}
}

// checkOrphans finds reservations and payments of orders the order service does not know;
// only the markers a compensation leaves ahead of its action may exist without an order.
func (c *checker) checkOrphans() {
	for id, r := range c.snap.reservations {
		if !c.snap.orderIDs[id] && !isReleaseMarker(r) {
			c.add(ServicesAgree, id, "", "inventory holds a reservation (%s, %d line(s)) for an order the order service does not know",
				r.Status, len(r.Lines))
		}
	}
	for id, p := range c.snap.payments {
		if !c.snap.orderIDs[id] && !isVoidMarker(p) {
			c.add(ServicesAgree, id, "", "the payment service holds a payment (%s, %d %s) for an order the order service does not know",
				p.Status, p.Amount, p.Currency)
		}
	}
}
