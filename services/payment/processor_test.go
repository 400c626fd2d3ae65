package payment_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/services/payment"
	"github.com/sagaflow/sagaflow/services/payment/client"
)

func TestTestProcessorTokens(t *testing.T) {
	p := payment.NewTestProcessor(0)
	ctx := context.Background()
	cases := []struct {
		token string
		want  error
	}{
		{client.TokenVisa, nil},
		{client.TokenMastercard, nil},
		{client.TokenChargeDeclined, payment.ErrCardDeclined},
		{client.TokenInsufficientFunds, payment.ErrInsufficientFunds},
		{"tok_amex", payment.ErrUnknownToken},
		{"", payment.ErrUnknownToken},
	}
	refs := map[string]bool{}
	for _, tc := range cases {
		ref, err := p.Authorize(ctx, tc.token, 100, "USD")
		if !errors.Is(err, tc.want) {
			t.Fatalf("%q: got %v, want %v", tc.token, err, tc.want)
		}
		if tc.want != nil {
			continue
		}
		if !strings.HasPrefix(ref, "ch_") || refs[ref] {
			t.Fatalf("%q: reference %q is not a fresh ch_ reference", tc.token, ref)
		}
		refs[ref] = true
		for name, call := range map[string]func(context.Context, string, int64, string) error{
			"capture": p.Capture, "void": p.Void, "refund": p.Refund,
		} {
			if err := call(ctx, ref, 100, "USD"); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	if err := p.Capture(ctx, "bogus", 100, "USD"); err == nil {
		t.Fatal("capture of an unknown reference succeeded")
	}
	if _, err := p.Authorize(ctx, client.TokenVisa, 0, "USD"); err == nil {
		t.Fatal("authorization of zero succeeded")
	}
}

func TestTestProcessorLatency(t *testing.T) {
	p := payment.NewTestProcessor(100 * time.Millisecond)
	start := time.Now()
	if _, err := p.Authorize(context.Background(), client.TokenVisa, 100, "USD"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("answered after %s, before the configured latency", d)
	}
	// The caller's deadline wins over the latency.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := p.Authorize(ctx, client.TokenVisa, 100, "USD"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
}
