package money_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/sagaflow/sagaflow/internal/money"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
)

func TestMul(t *testing.T) {
	tests := []struct {
		name            string
		quantity, price int64
		want            int64
		err             error
	}{
		{name: "small", quantity: 3, price: 250, want: 750},
		{name: "zero quantity", quantity: 0, price: math.MaxInt64, want: 0},
		{name: "zero price", quantity: math.MaxInt64, price: 0, want: 0},
		{name: "max product", quantity: 1, price: math.MaxInt64, want: math.MaxInt64},
		{name: "max product, swapped", quantity: math.MaxInt64, price: 1, want: math.MaxInt64},
		{name: "largest even split", quantity: 2, price: math.MaxInt64 / 2, want: math.MaxInt64 - 1},
		{name: "one past the edge", quantity: 2, price: math.MaxInt64/2 + 1, err: money.ErrOverflow},
		{name: "2^31 squared fits", quantity: math.MaxInt32 + 1, price: math.MaxInt32 + 1, want: 1 << 62},
		{name: "both large", quantity: math.MaxInt64, price: math.MaxInt64, err: money.ErrOverflow},
		{name: "wraps to positive", quantity: 1 << 32, price: 1<<32 + 1, err: money.ErrOverflow},
		{name: "negative price", quantity: 1, price: -1, err: money.ErrNegative},
		{name: "negative quantity", quantity: -1, price: 1, err: money.ErrNegative},
		{name: "min int", quantity: math.MinInt64, price: -1, err: money.ErrNegative},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := money.Mul(tc.quantity, tc.price)
			if !errors.Is(err, tc.err) || (err == nil && got != tc.want) || (err != nil && got != 0) {
				t.Fatalf("Mul(%d, %d) = %d, %v; want %d, %v", tc.quantity, tc.price, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestAdd(t *testing.T) {
	tests := []struct {
		name string
		a, b int64
		want int64
		err  error
	}{
		{name: "small", a: 3, b: 250, want: 253},
		{name: "zeros", a: 0, b: 0, want: 0},
		{name: "max sum", a: math.MaxInt64 - 1, b: 1, want: math.MaxInt64},
		{name: "max plus zero", a: math.MaxInt64, b: 0, want: math.MaxInt64},
		{name: "one past the edge", a: math.MaxInt64, b: 1, err: money.ErrOverflow},
		{name: "halves", a: math.MaxInt64 / 2, b: math.MaxInt64/2 + 2, err: money.ErrOverflow},
		{name: "both max", a: math.MaxInt64, b: math.MaxInt64, err: money.ErrOverflow},
		{name: "negative", a: -1, b: 5, err: money.ErrNegative},
		{name: "negative second", a: 5, b: -1, err: money.ErrNegative},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := money.Add(tc.a, tc.b)
			if !errors.Is(err, tc.err) || (err == nil && got != tc.want) || (err != nil && got != 0) {
				t.Fatalf("Add(%d, %d) = %d, %v; want %d, %v", tc.a, tc.b, got, err, tc.want, tc.err)
			}
		})
	}
}

// TestIsCurrency also holds CurrencyPattern, which schemas and SQL use, to the same rule.
func TestIsCurrency(t *testing.T) {
	pattern := regexp.MustCompile(money.CurrencyPattern)
	tests := []struct {
		code string
		want bool
	}{
		{"EUR", true},
		{"USD", true},
		{"AAA", true},
		{"ZZZ", true},
		{"", false},
		{"EU", false},
		{"EURO", false},
		{"eur", false},
		{"Eur", false},
		{"E1R", false},
		{"EU ", false},
		{" EUR", false},
		{"EUR\n", false},
		{"ÉUR", false},
		{"@[`", false},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			if got := money.IsCurrency(tc.code); got != tc.want {
				t.Errorf("IsCurrency(%q) = %v, want %v", tc.code, got, tc.want)
			}
			if got := pattern.MatchString(tc.code); got != tc.want {
				t.Errorf("CurrencyPattern matches %q: %v, want %v", tc.code, got, tc.want)
			}
		})
	}
}

// TestCurrencyPatternIsTheOneInUse finds every copy of the currency rule that cannot call
// IsCurrency (request schemas' pattern tags, the migrations' CHECK constraints) and holds
// it to CurrencyPattern.
func TestCurrencyPatternIsTheOneInUse(t *testing.T) {
	tags := []struct {
		name string
		typ  reflect.Type
	}{
		{"order transition", reflect.TypeFor[orderclient.TransitionRequest]()},
		{"payment authorization", reflect.TypeFor[payclient.AuthorizeRequest]()},
		{"catalog entry", reflect.TypeFor[invclient.UpsertProductRequest]()},
	}
	for _, tc := range tags {
		f, ok := tc.typ.FieldByName("Currency")
		if got := f.Tag.Get("pattern"); !ok || got != money.CurrencyPattern {
			t.Errorf("%s: currency pattern tag %q, want %q", tc.name, got, money.CurrencyPattern)
		}
	}

	migrations, err := filepath.Glob(filepath.Join("..", "..", "schema", "*", "*.sql"))
	if err != nil || len(migrations) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	checks := regexp.MustCompile(`currency\s*~\s*'([^']*)'`)
	found := 0
	for _, m := range migrations {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range checks.FindAllStringSubmatch(string(b), -1) {
			found++
			if c[1] != money.CurrencyPattern {
				t.Errorf("%s: CHECK currency ~ '%s', want '%s'", m, c[1], money.CurrencyPattern)
			}
		}
	}
	// The order, payment and inventory databases each check their currencies.
	if found < 3 {
		t.Errorf("found %d currency CHECK constraints in %s, want at least 3", found, strings.Join(migrations, ", "))
	}
}
