// Package payment is the payment service: it authorizes, captures, voids and refunds the
// payment of an order through a card processor and keeps a ledger of every money movement.
//
// Every change runs in one transaction with its idempotency key (internal/idempotency), so
// a repeated call returns the first answer and money never moves twice. A void that arrives
// before its authorization leaves a marker that refuses the late authorization.
package payment

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/money"
	"github.com/sagaflow/sagaflow/services/payment/client"
)

// Operation ids; they also name the operations in the idempotency records.
const (
	opAuthorize = "authorize-payment"
	opCapture   = "capture-payment"
	opVoid      = "void-payment"
	opRefund    = "refund-payment"
	opGet       = "get-payment"
	opList      = "list-payments"
)

// List page sizes.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// Service holds the payment domain over its database and card processor.
type Service struct {
	db        *sqlx.DB
	logger    *slog.Logger
	processor Processor
}

// NewService returns the payment service. db may be nil when the service is only
// registered to describe its API (Spec); a nil logger discards.
func NewService(db *sqlx.DB, logger *slog.Logger, processor Processor) *Service {
	if logger == nil {
		logger = logging.Discard()
	}
	return &Service{db: db, logger: logger, processor: processor}
}

// Authorize places a hold for the order's amount on the card, once per order: a repeated
// authorization of the same amount returns the existing payment, whatever its key.
func (s *Service) Authorize(ctx context.Context, key string, req client.AuthorizeRequest) (client.Payment, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	if err := validateAuthorize(req); err != nil {
		return client.Payment{}, err
	}
	return idempotent(ctx, s.db, key, opAuthorize, req, func(tx *sqlx.Tx) (client.Payment, error) {
		row, ok, err := lockPayment(ctx, tx, req.OrderID)
		if err != nil {
			return client.Payment{}, err
		}
		if ok {
			switch {
			case row.Status == client.PaymentVoided:
				return client.Payment{}, errVoided
			case row.Amount != req.Amount || row.Currency.String != req.Currency:
				return client.Payment{}, errAmountMismatch
			}
			return s.reload(ctx, tx, req.OrderID)
		}
		// The processor is called while the key and the order are locked, so a concurrent
		// duplicate waits and then sees this authorization instead of placing another hold.
		ref, err := s.processor.Authorize(ctx, req.PaymentToken, req.Amount, req.Currency)
		if err != nil {
			return client.Payment{}, err
		}
		if err := insertAuthorized(ctx, tx, req.OrderID, req.Amount, req.Currency, ref); err != nil {
			s.releaseHold(ctx, ref, req)
			return client.Payment{}, err
		}
		return s.reload(ctx, tx, req.OrderID)
	})
}

// releaseHold voids a hold whose recording failed, so the card is not left blocked.
func (s *Service) releaseHold(ctx context.Context, ref string, req client.AuthorizeRequest) {
	if err := s.processor.Void(context.WithoutCancel(ctx), ref, req.Amount, req.Currency); err != nil {
		s.logger.ErrorContext(ctx, "void of unrecorded authorization failed",
			"order_id", req.OrderID, "processor_ref", ref, "error", err)
	}
}

// Capture takes the authorized amount. Capturing a captured payment changes nothing.
func (s *Service) Capture(ctx context.Context, key, orderID string) (client.Payment, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	return idempotent(ctx, s.db, key, opCapture, orderRequest{OrderID: orderID}, func(tx *sqlx.Tx) (client.Payment, error) {
		row, ok, err := lockPayment(ctx, tx, orderID)
		if err != nil {
			return client.Payment{}, err
		}
		if !ok {
			return client.Payment{}, errNotFound
		}
		switch row.Status {
		case client.PaymentVoided:
			return client.Payment{}, errVoided
		case client.PaymentAuthorized:
			if err := s.processor.Capture(ctx, row.ProcessorRef.String, row.Amount, row.Currency.String); err != nil {
				return client.Payment{}, err
			}
			if err := updateMoney(ctx, tx, orderID, client.PaymentCaptured, row.Amount, 0, client.EntryCapture, row.Amount); err != nil {
				return client.Payment{}, err
			}
		}
		return s.reload(ctx, tx, orderID)
	})
}

// Void releases an authorization. Voiding an order without payment leaves a marker that
// refuses its late authorization; voiding a voided payment changes nothing.
func (s *Service) Void(ctx context.Context, key, orderID string) (client.Payment, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	return idempotent(ctx, s.db, key, opVoid, orderRequest{OrderID: orderID}, func(tx *sqlx.Tx) (client.Payment, error) {
		row, ok, err := lockPayment(ctx, tx, orderID)
		if err != nil {
			return client.Payment{}, err
		}
		if !ok {
			if err := insertVoidMarker(ctx, tx, orderID); err != nil {
				return client.Payment{}, err
			}
			return s.reload(ctx, tx, orderID)
		}
		switch row.Status {
		case client.PaymentCaptured, client.PaymentRefunded:
			return client.Payment{}, errCaptured
		case client.PaymentAuthorized:
			if err := s.processor.Void(ctx, row.ProcessorRef.String, row.Amount, row.Currency.String); err != nil {
				return client.Payment{}, err
			}
			if err := updateMoney(ctx, tx, orderID, client.PaymentVoided, 0, 0, client.EntryVoid, row.Amount); err != nil {
				return client.Payment{}, err
			}
		}
		return s.reload(ctx, tx, orderID)
	})
}

// Refund returns part or all of the captured money; the payment is REFUNDED once
// everything captured has been returned.
func (s *Service) Refund(ctx context.Context, key, orderID string, req client.RefundRequest) (client.Payment, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	if req.Amount <= 0 {
		return client.Payment{}, &validationError{Location: "body.amount", Message: "amount must be positive"}
	}
	fingerprint := refundRequest{OrderID: orderID, Amount: req.Amount}
	return idempotent(ctx, s.db, key, opRefund, fingerprint, func(tx *sqlx.Tx) (client.Payment, error) {
		row, ok, err := lockPayment(ctx, tx, orderID)
		if err != nil {
			return client.Payment{}, err
		}
		if !ok {
			return client.Payment{}, errNotFound
		}
		switch row.Status {
		case client.PaymentVoided:
			return client.Payment{}, errVoided
		case client.PaymentAuthorized:
			return client.Payment{}, errNotCaptured
		}
		// captured >= refunded >= 0, so the subtraction cannot overflow where a sum could.
		if req.Amount > row.Captured-row.Refunded {
			return client.Payment{}, errRefundExceeds
		}
		if err := s.processor.Refund(ctx, row.ProcessorRef.String, req.Amount, row.Currency.String); err != nil {
			return client.Payment{}, err
		}
		refunded := row.Refunded + req.Amount
		status := client.PaymentCaptured
		if refunded == row.Captured {
			status = client.PaymentRefunded
		}
		if err := updateMoney(ctx, tx, orderID, status, row.Captured, refunded, client.EntryRefund, req.Amount); err != nil {
			return client.Payment{}, err
		}
		return s.reload(ctx, tx, orderID)
	})
}

// Get returns the order's payment with its ledger.
func (s *Service) Get(ctx context.Context, orderID string) (client.Payment, error) {
	p, ok, err := loadPayment(ctx, s.db, orderID)
	if err != nil {
		return p, err
	}
	if !ok {
		return p, errNotFound
	}
	return p, nil
}

// List returns a page of payments ordered by order id, starting after the order id
// after, optionally only those with status. Next is set when more payments follow.
func (s *Service) List(ctx context.Context, status, after string, limit int) (client.PaymentList, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	if limit > MaxListLimit {
		return client.PaymentList{}, &validationError{Location: "query.limit", Message: fmt.Sprintf("limit must be at most %d", MaxListLimit)}
	}
	items, err := listPayments(ctx, s.db, status, after, limit+1)
	if err != nil {
		return client.PaymentList{}, err
	}
	var out client.PaymentList
	if len(items) > limit {
		items = items[:limit]
		out.Next = items[limit-1].OrderID
	}
	out.Items = items
	return out, nil
}

func (s *Service) reload(ctx context.Context, tx *sqlx.Tx, orderID string) (client.Payment, error) {
	p, ok, err := loadPayment(ctx, tx, orderID)
	if err != nil {
		return p, err
	}
	if !ok {
		return p, fmt.Errorf("payment %s vanished inside its transaction", orderID)
	}
	return p, nil
}

// orderRequest and refundRequest are what capture/void and refund fingerprint: the
// order in the path and the body.
type orderRequest struct {
	OrderID string `json:"order_id"`
}

type refundRequest struct {
	OrderID string `json:"order_id"`
	Amount  int64  `json:"amount"`
}

// operationTimeout bounds one money operation once it started; it outlasts the slowest
// processor call the configuration allows.
const operationTimeout = maxProcessorLatency + 30*time.Second

// detach returns the context a money operation runs on: it keeps the request's values
// but not its cancellation, so the operation runs to its end even when the caller stops
// waiting. A processor call cannot be taken back halfway, and a finished operation lets
// the caller's retry (same key, waiting on the key's row lock meanwhile) get the recorded
// answer. Were it cancelled with its caller, every retry would start over, and a processor
// slower than the caller's timeout would never get a payment through.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), operationTimeout)
}

// idempotent runs step once per key (internal/idempotency). Refusals, the processor's
// included, become their problems inside the transaction, so they are recorded and
// replayed like any other answer.
func idempotent[T any](ctx context.Context, db *sqlx.DB, key, operation string, request any, step func(tx *sqlx.Tx) (T, error)) (T, error) {
	if key == "" || len(key) > idempotency.MaxKeyLength {
		var zero T
		return zero, &validationError{Location: "header.Idempotency-Key", Message: fmt.Sprintf("must be 1 to %d characters", idempotency.MaxKeyLength)}
	}
	return idempotency.Run(ctx, db, key, operation, request, func(tx *sqlx.Tx) (T, error) {
		out, err := step(tx)
		if p, ok := problemFor(err); ok {
			return out, p
		}
		return out, err
	})
}

func validateAuthorize(req client.AuthorizeRequest) error {
	switch {
	case req.OrderID == "" || len(req.OrderID) > 64:
		return &validationError{Location: "body.order_id", Message: "order_id must be 1 to 64 characters"}
	case req.Amount <= 0:
		return &validationError{Location: "body.amount", Message: "amount must be positive"}
	case !money.IsCurrency(req.Currency):
		return &validationError{Location: "body.currency", Message: "currency must be an ISO 4217 code"}
	case req.PaymentToken == "" || len(req.PaymentToken) > 128:
		return &validationError{Location: "body.payment_token", Message: "payment_token must be 1 to 128 characters"}
	}
	return nil
}
