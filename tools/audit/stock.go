package audit

import (
	"fmt"
	"math"

	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
)

// orderSKU keys one order's movements of one SKU.
type orderSKU struct{ orderID, sku string }

// orderMoves sums one order's movements of one SKU by kind.
type orderMoves struct{ reserved, released, committed int64 }

// levels are a product's stock levels.
type levels struct{ onHand, reserved int64 }

func (l levels) String() string { return fmt.Sprintf("on_hand %d, reserved %d", l.onHand, l.reserved) }

// checkStock checks invariant 1 per SKU and the agreement of each order's stock
// movements with its reservation.
func (c *checker) checkStock() {
	held := map[string]int64{}
	for _, r := range c.snap.reservations {
		if r.Status != invclient.ReservationReserved {
			continue
		}
		for _, l := range r.Lines {
			held[l.SKU] = saturatingAdd(held[l.SKU], l.Quantity)
		}
	}
	moves := map[orderSKU]*orderMoves{}
	for _, s := range c.snap.stock {
		c.checkSKU(s, held[s.product.SKU], moves)
	}
	c.checkReservationMoves(moves)
}

// checkSKU replays one product's ledger: every entry must record the running sums (the
// ledger replays), the sums never go negative or over-reserved and commits never exceed
// restocks (nothing sold twice), the product's levels equal the replay, and the reserved
// units equal held, what open reservations hold.
func (c *checker) checkSKU(s skuStock, held int64, moves map[orderSKU]*orderMoves) {
	sku := s.product.SKU
	have := levels{s.product.OnHand, s.product.Reserved}
	var run levels
	var restocked, committed int64
	matched := s.before == 0 && have == run
	brokenChain, badLevels := false, false
	for i, m := range s.movements {
		if m.SKU != sku {
			c.add(LedgerReplays, m.OrderID, sku, "movement #%d of %s is listed under %s", m.ID, m.SKU, sku)
			continue
		}
		next, ok := apply(run, m)
		if !ok {
			c.add(LedgerReplays, m.OrderID, sku, "movement #%d (%s %d) cannot be replayed: unknown kind, non-positive quantity or overflowing sums", m.ID, m.Kind, m.Quantity)
			return
		}
		run = next
		switch m.Kind {
		case invclient.MovementRestock:
			restocked = saturatingAdd(restocked, m.Quantity)
		case invclient.MovementCommit:
			committed = saturatingAdd(committed, m.Quantity)
		}
		if m.OrderID != "" {
			k := orderSKU{m.OrderID, sku}
			if moves[k] == nil {
				moves[k] = &orderMoves{}
			}
			addMove(moves[k], m)
		}
		if recorded := (levels{m.OnHandAfter, m.ReservedAfter}); recorded != run && !brokenChain {
			brokenChain = true
			c.add(LedgerReplays, "", sku, "movement #%d (%s %d%s) records %s but the ledger up to it sums to %s",
				m.ID, m.Kind, m.Quantity, forOrder(m.OrderID), recorded, run)
		}
		if (run.onHand < 0 || run.reserved < 0 || run.reserved > run.onHand) && !badLevels {
			badLevels = true
			c.add(StockConserved, "", sku, "after movement #%d (%s %d%s) the ledger sums to %s (%d restocked, %d committed): stock went negative or over-reserved",
				m.ID, m.Kind, m.Quantity, forOrder(m.OrderID), run, restocked, committed)
		}
		if i+1 >= s.before && have == run {
			matched = true
		}
	}
	if !matched {
		c.add(StockConserved, "", sku, "product shows %s but its ledger replays to %s", have, run)
	}
	if have.onHand < 0 || have.reserved < 0 || have.reserved > have.onHand {
		c.add(StockConserved, "", sku, "product shows impossible levels: %s", have)
	}
	if held != run.reserved {
		c.add(StockConserved, "", sku, "open reservations hold %d units but the ledger has %d reserved", held, run.reserved)
	}
}

// apply returns the levels after movement m, or false for an unknown kind or an overflow.
func apply(l levels, m invclient.StockMovement) (levels, bool) {
	var dOnHand, dReserved int64
	switch m.Kind {
	case invclient.MovementRestock:
		dOnHand = m.Quantity
	case invclient.MovementReserve:
		dReserved = m.Quantity
	case invclient.MovementRelease:
		dReserved = -m.Quantity
	case invclient.MovementCommit:
		dOnHand, dReserved = -m.Quantity, -m.Quantity
	default:
		return l, false
	}
	onHand, ok1 := addInt(l.onHand, dOnHand)
	reserved, ok2 := addInt(l.reserved, dReserved)
	return levels{onHand, reserved}, ok1 && ok2 && m.Quantity > 0
}

func addMove(o *orderMoves, m invclient.StockMovement) {
	switch m.Kind {
	case invclient.MovementReserve:
		o.reserved = saturatingAdd(o.reserved, m.Quantity)
	case invclient.MovementRelease:
		o.released = saturatingAdd(o.released, m.Quantity)
	case invclient.MovementCommit:
		o.committed = saturatingAdd(o.committed, m.Quantity)
	}
}

// checkReservationMoves checks that each order's movements of each SKU are exactly what
// its reservation's status implies: RESERVED = reserved once; RELEASED = reserved and
// released (nothing for a marker); COMMITTED = reserved and committed, each of the line's
// quantity. Movements of an order with no such reservation line were never owed.
func (c *checker) checkReservationMoves(moves map[orderSKU]*orderMoves) {
	audited := make(map[string]bool, len(c.snap.stock))
	for _, s := range c.snap.stock {
		audited[s.product.SKU] = true
	}
	lineOf := map[orderSKU]bool{}
	for _, r := range c.snap.reservations {
		for _, l := range r.Lines {
			k := orderSKU{r.OrderID, l.SKU}
			lineOf[k] = true
			if !audited[l.SKU] {
				continue
			}
			got := orderMoves{}
			if m := moves[k]; m != nil {
				got = *m
			}
			want := orderMoves{reserved: l.Quantity}
			switch r.Status {
			case invclient.ReservationReleased:
				want.released = l.Quantity
			case invclient.ReservationCommitted:
				want.committed = l.Quantity
			}
			if got != want {
				c.add(StockConserved, r.OrderID, l.SKU, "%s reservation of %d units, but the ledger shows %s",
					r.Status, l.Quantity, got)
			}
		}
	}
	for k, m := range moves {
		if !lineOf[k] {
			c.add(StockConserved, k.orderID, k.sku, "the ledger shows %s for an order with no reservation line of this SKU", *m)
		}
	}
}

func (m orderMoves) String() string {
	return fmt.Sprintf("reserved %d, released %d, committed %d", m.reserved, m.released, m.committed)
}

func forOrder(orderID string) string {
	if orderID == "" {
		return ""
	}
	return " for order " + orderID
}

// addInt adds two int64 values, reporting false when the sum overflows.
func addInt(a, b int64) (int64, bool) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	return a + b, true
}

// saturatingAdd adds non-negative amounts, sticking at MaxInt64: a sum that large is
// already wrong, and comparing it still reports the mismatch.
func saturatingAdd(a, b int64) int64 {
	if s, ok := addInt(a, b); ok {
		return s
	}
	return math.MaxInt64
}
