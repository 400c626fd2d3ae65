// Package activities calls the order, payment and inventory services for the saga. Each
// service has one struct built from that service's typed client only, so a worker pool
// needs nothing but the service it talks to. Every error leaves through Classify, which
// decides whether Temporal may retry.
package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/sagaflow/sagaflow/internal/requestid"
	"github.com/sagaflow/sagaflow/internal/svcclient"
)

// Activity names, as registered on the workers and scheduled by the saga.
const (
	OrdersCreate      = "orders.create"
	OrdersTransition  = "orders.transition"
	InventoryReserve  = "inventory.reserve"
	InventoryRelease  = "inventory.release"
	InventoryCommit   = "inventory.commit"
	PaymentsAuthorize = "payments.authorize"
	PaymentsCapture   = "payments.capture"
	PaymentsVoid      = "payments.void"
)

// Error types of failures that are not a service's problem code.
const (
	// ErrorTypeTransport is a call that got no answer (connection refused, timeout).
	ErrorTypeTransport = "transport"
	// ErrorTypeHTTPPrefix starts the type of an answer without a problem code ("http-503").
	ErrorTypeHTTPPrefix = "http-"
)

// Registry is the part of a worker (or test environment) activities register on.
type Registry interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// ErrorTypeNoClient is the failure of a call made by a pool that has no client for the
// service: a saga pool running local steps without that service's URL. It is retryable,
// so the saga hands the call to the service's own pool.
const ErrorTypeNoClient = "no-client"

func errNoClient(service string) error {
	return temporal.NewApplicationError("this worker pool has no client for the "+service+" service", ErrorTypeNoClient)
}

// Failure travels as the details of every activity error, so the saga can report the
// attempt that failed and name the offending values (for example the SKUs out of stock).
type Failure struct {
	Code     string   `json:"code"`
	Status   int      `json:"status,omitempty"`
	Subjects []string `json:"subjects,omitempty"`
	Attempt  int32    `json:"attempt"`
}

// Classify turns an error from a service call into the activity's error. A final answer
// from the service (a business refusal) is non-retryable and typed with its problem code;
// everything else (transport failures, 5xx, 408, 429, a duplicate still in flight) is
// retryable, so Temporal's retry policy handles it.
func Classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var attempt int32
	if activity.IsActivity(ctx) {
		attempt = activity.GetInfo(ctx).Attempt
	}
	var se *svcclient.Error
	if !errors.As(err, &se) {
		return temporal.NewApplicationErrorWithCause(err.Error(), ErrorTypeTransport, err,
			Failure{Code: ErrorTypeTransport, Attempt: attempt})
	}
	code := se.Code
	if code == "" {
		code = ErrorTypeHTTPPrefix + strconv.Itoa(se.Status)
	}
	details := Failure{Code: code, Status: se.Status, Subjects: subjects(se.Fields), Attempt: attempt}
	if svcclient.IsFinal(err) {
		return temporal.NewNonRetryableApplicationError(se.Detail, code, err, details)
	}
	return temporal.NewApplicationErrorWithCause(se.Detail, code, err, details)
}

// subjects lists the values a problem names (SKUs, statuses), falling back to the message
// when a value is not a string.
func subjects(fields []svcclient.FieldError) []string {
	var out []string
	for _, f := range fields {
		switch v := f.Value.(type) {
		case string:
			if v != "" {
				out = append(out, v)
				continue
			}
		case nil:
		default:
			out = append(out, fmt.Sprint(v))
			continue
		}
		if f.Message != "" {
			out = append(out, f.Message)
		}
	}
	return out
}

// logger returns the activity logger tagged with the order and the request id.
func logger(ctx context.Context, orderID string) log.Logger {
	l := log.With(activity.GetLogger(ctx), "order_id", orderID)
	if id := requestid.From(ctx); id != "" {
		l = log.With(l, "request_id", id)
	}
	return l
}

// finish logs the outcome of a call and classifies its error.
func finish(ctx context.Context, l log.Logger, what string, err error) error {
	if err == nil {
		l.Info(what + " done")
		return nil
	}
	out := Classify(ctx, err)
	var appErr *temporal.ApplicationError
	if errors.As(out, &appErr) && appErr.NonRetryable() {
		l.Warn(what+" refused", "error", err, "code", appErr.Type())
		return out
	}
	l.Warn(what+" failed; will be retried", "error", err)
	return out
}

func attempt(ctx context.Context) int32 {
	return activity.GetInfo(ctx).Attempt
}

// Attempts returns the attempt that produced the result.
func (r OrderResult) Attempts() int32 { return r.Attempt }

// Attempts returns the attempt that produced the result.
func (r ReserveResult) Attempts() int32 { return r.Attempt }

// Attempts returns the attempt that produced the result.
func (r StockResult) Attempts() int32 { return r.Attempt }

// Attempts returns the attempt that produced the result.
func (r PaymentResult) Attempts() int32 { return r.Attempt }
