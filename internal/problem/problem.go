// Package problem builds RFC 9457 problem details shared by every sagaflow API.
//
// Problems use Huma's own ErrorModel so the OpenAPI documents describe them exactly.
// The machine-readable kind of a problem travels in its type URI ("/problems/<code>"),
// which lets callers classify failures without parsing human text.
package problem

import (
	"errors"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// TypePrefix starts the type of every sagaflow problem: a relative URI reference
// (RFC 3986, section 4.2), resolved against the answering server, declared in the OpenAPI
// documents as format uri-reference with the pattern TypePattern.
const TypePrefix = "/problems/"

// TypePattern is the form of every problem type: TypePrefix and a code.
const TypePattern = "^/problems/[a-z][a-z0-9-]*$"

// Codes shared across service boundaries. Business codes are final: retrying the
// same request cannot change the answer.
const (
	CodeValidation        = "validation"
	CodeNotFound          = "not-found"
	CodeConflict          = "conflict"
	CodeIdempotencyReused = "idempotency-key-reused"
	CodeInFlight          = "request-in-flight"
	CodeRateLimited       = "rate-limited"
	CodeInternal          = "internal"
	CodeUnavailable       = "unavailable"

	CodeUnknownSKU       = "unknown-sku"
	CodeOutOfStock       = "out-of-stock"
	CodeMixedCurrency    = "mixed-currency"
	CodeAmountOverflow   = "amount-overflow"
	CodeAlreadyReleased  = "reservation-released"
	CodeAlreadyCommitted = "reservation-committed"

	CodeCardDeclined      = "card-declined"
	CodeInsufficientFunds = "insufficient-funds"
	CodePaymentVoided     = "payment-voided"
	CodePaymentCaptured   = "payment-captured"

	CodeInvalidTransition = "invalid-transition"

	CodeRequestTimeout = "request-timeout"

	// Authentication and authorization refusals (401, 403).
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"

	// Protocol refusals: how the request was sent, not what it asked for.
	CodeMethodNotAllowed     = "method-not-allowed"
	CodeNotAcceptable        = "not-acceptable"
	CodeBodyTooLarge         = "body-too-large"
	CodeUnsupportedMediaType = "unsupported-media-type"
)

// Codes lists every code a sagaflow problem can carry: the documents declare the type as
// one of them.
func Codes() []string {
	return []string{
		CodeValidation, CodeNotFound, CodeConflict, CodeIdempotencyReused, CodeInFlight, CodeRateLimited,
		CodeInternal, CodeUnavailable,
		CodeUnknownSKU, CodeOutOfStock, CodeMixedCurrency, CodeAmountOverflow, CodeAlreadyReleased, CodeAlreadyCommitted,
		CodeCardDeclined, CodeInsufficientFunds, CodePaymentVoided, CodePaymentCaptured,
		CodeInvalidTransition, CodeRequestTimeout, CodeUnauthorized, CodeForbidden,
		CodeMethodNotAllowed, CodeNotAcceptable, CodeBodyTooLarge, CodeUnsupportedMediaType,
	}
}

// CodeForStatus is the code of a problem that was raised without one (Huma's own refusals:
// a body that does not decode or fails the schema (400 and 422 are "validation"), is too
// large or of another media type).
func CodeForStatus(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusNotAcceptable:
		return CodeNotAcceptable
	case http.StatusRequestTimeout:
		return CodeRequestTimeout
	case http.StatusConflict:
		return CodeConflict
	case http.StatusRequestEntityTooLarge:
		return CodeBodyTooLarge
	case http.StatusUnsupportedMediaType:
		return CodeUnsupportedMediaType
	case http.StatusTooManyRequests:
		return CodeRateLimited
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	}
	if status >= 500 {
		return CodeInternal
	}
	return CodeValidation
}

// New returns a problem with the given status, code and human detail.
// Each ErrorDetail names one offending field or value (for example a SKU).
func New(status int, code, detail string, details ...*huma.ErrorDetail) *huma.ErrorModel {
	return &huma.ErrorModel{
		Type:   TypePrefix + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Errors: details,
	}
}

// Internal is the only problem a client sees for an unexpected failure: the cause
// stays in the server log, keyed by request id.
func Internal() *huma.ErrorModel {
	return New(http.StatusInternalServerError, CodeInternal, "an internal error occurred; the request id identifies it in the logs")
}

// Code returns the code of a problem ("" for a plain Huma error such as validation).
func Code(m *huma.ErrorModel) string {
	if m == nil {
		return ""
	}
	return strings.TrimPrefix(m.Type, TypePrefix)
}

// As returns the problem inside err, if any.
func As(err error) (*huma.ErrorModel, bool) {
	var m *huma.ErrorModel
	if errors.As(err, &m) {
		return m, true
	}
	return nil, false
}

// IsClientError reports whether err is a problem a caller caused (4xx): such answers
// are final and may be recorded as an idempotent result.
func IsClientError(err error) bool {
	m, ok := As(err)
	return ok && m.Status >= 400 && m.Status < 500
}
