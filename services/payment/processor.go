package payment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sagaflow/sagaflow/internal/money"
	"github.com/sagaflow/sagaflow/services/payment/client"
)

// Processor is the card processor behind the payment service. Authorize places a hold
// on a card token and returns the processor's reference for it; the other calls act on
// that reference. Declines are reported as ErrCardDeclined or ErrInsufficientFunds and
// an unusable token as ErrUnknownToken; any other error is a technical failure.
type Processor interface {
	Authorize(ctx context.Context, token string, amount int64, currency string) (ref string, err error)
	Capture(ctx context.Context, ref string, amount int64, currency string) error
	Void(ctx context.Context, ref string, amount int64, currency string) error
	Refund(ctx context.Context, ref string, amount int64, currency string) error
}

// Processor refusals: final answers about the card, not failures of the call.
var (
	ErrCardDeclined      = errors.New("card declined")
	ErrInsufficientFunds = errors.New("insufficient funds")
	ErrUnknownToken      = errors.New("unknown test token")
)

// refPrefix starts every reference the test processor hands out.
const refPrefix = "ch_"

// TestProcessor is the processor's test mode: it moves no real money and answers by
// token (client.TokenVisa and client.TokenMastercard approve, client.TokenChargeDeclined
// and client.TokenInsufficientFunds decline, anything else is unknown). Latency delays
// every call, so slow-processor behaviour can be exercised.
type TestProcessor struct {
	Latency time.Duration
}

// NewTestProcessor returns the test-mode processor with the given per-call latency.
func NewTestProcessor(latency time.Duration) *TestProcessor {
	return &TestProcessor{Latency: latency}
}

// Authorize approves or declines by test token.
func (p *TestProcessor) Authorize(ctx context.Context, token string, amount int64, currency string) (string, error) {
	if err := p.call(ctx, amount, currency); err != nil {
		return "", err
	}
	switch token {
	case client.TokenVisa, client.TokenMastercard:
	case client.TokenChargeDeclined:
		return "", ErrCardDeclined
	case client.TokenInsufficientFunds:
		return "", ErrInsufficientFunds
	default:
		return "", ErrUnknownToken
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("test processor: reference: %w", err)
	}
	return refPrefix + hex.EncodeToString(b[:]), nil
}

// Capture takes amount of the hold ref.
func (p *TestProcessor) Capture(ctx context.Context, ref string, amount int64, currency string) error {
	return p.onRef(ctx, ref, amount, currency)
}

// Void releases the hold ref.
func (p *TestProcessor) Void(ctx context.Context, ref string, amount int64, currency string) error {
	return p.onRef(ctx, ref, amount, currency)
}

// Refund returns amount of the captured charge ref.
func (p *TestProcessor) Refund(ctx context.Context, ref string, amount int64, currency string) error {
	return p.onRef(ctx, ref, amount, currency)
}

func (p *TestProcessor) onRef(ctx context.Context, ref string, amount int64, currency string) error {
	if err := p.call(ctx, amount, currency); err != nil {
		return err
	}
	if !strings.HasPrefix(ref, refPrefix) {
		return fmt.Errorf("test processor: unknown reference %q", ref)
	}
	return nil
}

// call waits out the configured latency (or the caller's deadline) and checks the money
// arguments, as a real processor's API would.
func (p *TestProcessor) call(ctx context.Context, amount int64, currency string) error {
	if p.Latency > 0 {
		t := time.NewTimer(p.Latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("test processor: %w", ctx.Err())
		case <-t.C:
		}
	}
	if amount <= 0 {
		return fmt.Errorf("test processor: amount %d is not positive", amount)
	}
	if !money.IsCurrency(currency) {
		return fmt.Errorf("test processor: invalid currency %q", currency)
	}
	return nil
}
