package system

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
)

// Writes is what the system holds, digested: every business table of each service, each
// service's idempotency records split into stored answers (digested) and stored refusals
// (counted), and the keys of the system's Redis space. Digests taken before and after a
// refused request must be equal: it wrote nothing.
type Writes map[string]string

// IdempotencyAnswers is the key of a Writes for the answers service ("order", "payment",
// "inventory") stored under idempotency keys.
func IdempotencyAnswers(service string) string { return service + ".idempotency answers" }

// IdempotencyRefusals is the key of a Writes for the number of refusals service stored
// under idempotency keys (a business refusal is a final answer a retry must get again).
func IdempotencyRefusals(service string) string { return service + ".idempotency refusals" }

// digestedTables lists, per service, the tables whose every row is digested;
// idempotency_keys is digested apart.
func digestedTables() map[string][]string {
	return map[string][]string{
		"order":     {"orders", "order_lines", "order_status_history"},
		"payment":   {"payments", "ledger"},
		"inventory": {"products", "reservations", "reservation_lines", "stock_movements"},
	}
}

func (s *System) database(service string) *sqlx.DB {
	switch service {
	case "order":
		return s.OrderDB
	case "payment":
		return s.PaymentDB
	}
	return s.InventoryDB
}

// Writes digests what the system holds now.
func (s *System) Writes(t testing.TB) Writes {
	t.Helper()
	ctx := context.Background()
	w := Writes{}
	for service, tables := range digestedTables() {
		db := s.database(service)
		for _, table := range tables {
			var digest string
			q := fmt.Sprintf(`SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM %s t`, table)
			if err := db.GetContext(ctx, &digest, q); err != nil {
				t.Fatalf("system: digest %s.%s: %v", service, table, err)
			}
			w[service+"."+table] = digest
		}
		var answers, refusals string
		if err := db.GetContext(ctx, &answers, `SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '')
			FROM idempotency_keys t WHERE status < 400`); err != nil {
			t.Fatalf("system: digest %s idempotency answers: %v", service, err)
		}
		if err := db.GetContext(ctx, &refusals, `SELECT count(*)::text FROM idempotency_keys WHERE status >= 400`); err != nil {
			t.Fatalf("system: count %s idempotency refusals: %v", service, err)
		}
		w[IdempotencyAnswers(service)] = answers
		w[IdempotencyRefusals(service)] = refusals
	}
	keys, err := s.Redis.Keys(ctx, s.RedisPrefix+"*").Result()
	if err != nil {
		t.Fatalf("system: Redis keys: %v", err)
	}
	slices.Sort(keys)
	w["api.redis"] = strings.Join(keys, " ")
	return w
}

// Diff names what differs between two digests, sorted.
func (w Writes) Diff(other Writes) []string {
	var out []string
	for k, v := range w {
		if other[k] != v {
			out = append(out, k)
		}
	}
	for k := range other {
		if _, ok := w[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
