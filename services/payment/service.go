// Package payment is the payment service: it authorizes, captures, voids and refunds the
// payment of an order through a card processor and keeps a ledger of every money movement.
//
// Every change runs in one transaction with its idempotency key (internal/idempotency), so
// a repeated call returns the first answer and money never moves twice. A void that arrives
// before its authorization leaves a marker that refuses the late authorization.
package payment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/problem"
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

// Domain refusals; problemFor turns them into problems.
var (
	errNotFound       = errors.New("payment not found")
	errVoided         = errors.New("payment voided")
	errCaptured       = errors.New("payment captured")
	errAmountMismatch = errors.New("payment exists with another amount or currency")
	errNotCaptured    = errors.New("payment not captured")
	errRefundExceeds  = errors.New("refund exceeds the refundable amount")
)

// invalidError is a request value the domain rejects.
type invalidError struct{ location, message string }

func (e *invalidError) Error() string { return e.location + ": " + e.message }

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// Service holds the payment domain over its database and card processor.
type Service struct {
	db        *sqlx.DB
	logger    *slog.Logger
	processor Processor
}

// NewService returns the payment service. db may be nil when the service is only
// registered to describe its API (Spec).
func NewService(db *sqlx.DB, logger *slog.Logger, processor Processor) *Service {
	return &Service{db: db, logger: logger, processor: processor}
}

// Authorize places a hold for the order's amount on the card, once per order: a repeated
// authorization of the same amount returns the existing payment, whatever its key.
func (s *Service) Authorize(ctx context.Context, key string, req client.AuthorizeRequest) (client.Payment, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	if err := validateAuthorize(req); err != nil {
		return client.Payment{}, problemFor(err)
	}
	return s.idempotent(ctx, key, opAuthorize, req, func(tx *sqlx.Tx) (client.Payment, error) {
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
	return s.idempotent(ctx, key, opCapture, orderRequest{OrderID: orderID}, func(tx *sqlx.Tx) (client.Payment, error) {
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
	return s.idempotent(ctx, key, opVoid, orderRequest{OrderID: orderID}, func(tx *sqlx.Tx) (client.Payment, error) {
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
		return client.Payment{}, problemFor(&invalidError{"body.amount", "amount must be positive"})
	}
	fingerprint := refundRequest{OrderID: orderID, Amount: req.Amount}
	return s.idempotent(ctx, key, opRefund, fingerprint, func(tx *sqlx.Tx) (client.Payment, error) {
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
		return p, problemFor(errNotFound)
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
		return client.PaymentList{}, problemFor(&invalidError{"query.limit", fmt.Sprintf("limit must be at most %d", MaxListLimit)})
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

// idempotent runs step once per key. Domain refusals become problems inside the
// transaction, so they are recorded and replayed like any other answer.
func (s *Service) idempotent(ctx context.Context, key, operation string, request any, step func(tx *sqlx.Tx) (client.Payment, error)) (client.Payment, error) {
	if key == "" || len(key) > idempotency.MaxKeyLength {
		return client.Payment{}, problemFor(&invalidError{"header.Idempotency-Key", fmt.Sprintf("must be 1 to %d characters", idempotency.MaxKeyLength)})
	}
	return idempotency.Run(ctx, s.db, key, operation, request, func(tx *sqlx.Tx) (client.Payment, error) {
		p, err := step(tx)
		if err != nil {
			if prob := problemFor(err); prob != nil {
				return client.Payment{}, prob
			}
			return client.Payment{}, err
		}
		return p, nil
	})
}

func validateAuthorize(req client.AuthorizeRequest) error {
	switch {
	case req.OrderID == "" || len(req.OrderID) > 64:
		return &invalidError{"body.order_id", "order_id must be 1 to 64 characters"}
	case req.Amount <= 0:
		return &invalidError{"body.amount", "amount must be positive"}
	case !currencyPattern.MatchString(req.Currency):
		return &invalidError{"body.currency", "currency must be an ISO 4217 code"}
	case req.PaymentToken == "" || len(req.PaymentToken) > 128:
		return &invalidError{"body.payment_token", "payment_token must be 1 to 128 characters"}
	}
	return nil
}

// problemFor maps the domain's and the processor's refusals to problems; nil means err is
// not a refusal but a failure.
func problemFor(err error) *huma.ErrorModel {
	var invalid *invalidError
	switch {
	case errors.As(err, &invalid):
		return problem.New(http.StatusUnprocessableEntity, problem.CodeValidation, "validation failed",
			&huma.ErrorDetail{Location: invalid.location, Message: invalid.message})
	case errors.Is(err, ErrCardDeclined):
		return problem.New(http.StatusPaymentRequired, problem.CodeCardDeclined, "the card was declined")
	case errors.Is(err, ErrInsufficientFunds):
		return problem.New(http.StatusPaymentRequired, problem.CodeInsufficientFunds, "the card has insufficient funds")
	case errors.Is(err, ErrUnknownToken):
		return problem.New(http.StatusUnprocessableEntity, problem.CodeValidation, "unknown test token",
			&huma.ErrorDetail{Location: "body.payment_token", Message: "unknown test token; use tok_visa, tok_mastercard, tok_chargeDeclined or tok_insufficientFunds"})
	case errors.Is(err, errNotFound):
		return problem.New(http.StatusNotFound, problem.CodeNotFound, "no payment exists for this order")
	case errors.Is(err, errVoided):
		return problem.New(http.StatusConflict, problem.CodePaymentVoided, "the payment of this order was voided")
	case errors.Is(err, errCaptured):
		return problem.New(http.StatusConflict, problem.CodePaymentCaptured, "the payment is captured and cannot be voided; refund it instead")
	case errors.Is(err, errAmountMismatch):
		return problem.New(http.StatusConflict, problem.CodeConflict, "the order already has a payment with another amount or currency")
	case errors.Is(err, errNotCaptured):
		return problem.New(http.StatusConflict, problem.CodeInvalidTransition, "the payment is not captured; void it instead")
	case errors.Is(err, errRefundExceeds):
		return problem.New(http.StatusUnprocessableEntity, problem.CodeValidation, "the refund exceeds the captured amount not yet refunded",
			&huma.ErrorDetail{Location: "body.amount", Message: "exceeds the refundable amount"})
	}
	return nil
}
