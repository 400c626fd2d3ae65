package activities_test

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/sagaflow/sagaflow/activities"
)

// TestNoClientIsRetryable: a pool without a service's client (a saga pool running local
// steps without that URL) fails every call of that service with a retryable error, so the
// saga hands the call to the service's own pool.
func TestNoClientIsRetryable(t *testing.T) {
	ctx := context.Background()
	orders, payments, inventory := activities.NewOrders(nil), activities.NewPayments(nil), activities.NewInventory(nil)
	calls := map[string]func() error{
		activities.OrdersCreate: func() error { _, err := orders.Create(ctx, activities.CreateOrderInput{}); return err },
		activities.OrdersTransition: func() error {
			_, err := orders.Transition(ctx, activities.TransitionInput{})
			return err
		},
		activities.PaymentsAuthorize: func() error {
			_, err := payments.Authorize(ctx, activities.AuthorizeInput{})
			return err
		},
		activities.PaymentsCapture: func() error { _, err := payments.Capture(ctx, activities.PaymentInput{}); return err },
		activities.PaymentsVoid:    func() error { _, err := payments.Void(ctx, activities.PaymentInput{}); return err },
		activities.InventoryReserve: func() error {
			_, err := inventory.Reserve(ctx, activities.ReserveInput{})
			return err
		},
		activities.InventoryRelease: func() error { _, err := inventory.Release(ctx, activities.StockInput{}); return err },
		activities.InventoryCommit:  func() error { _, err := inventory.Commit(ctx, activities.StockInput{}); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			var appErr *temporal.ApplicationError
			if err := call(); !errors.As(err, &appErr) || appErr.Type() != activities.ErrorTypeNoClient || appErr.NonRetryable() {
				t.Fatalf("error %v, want a retryable %s application error", err, activities.ErrorTypeNoClient)
			}
		})
	}
}
