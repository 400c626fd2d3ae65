package client

import (
	"slices"

	"github.com/danielgtaylor/huma/v2"
)

// Status is an order's status: the one definition the order service, the saga (its status
// query, OrderStatus search attribute and history payloads, which carry it as a plain JSON
// string) and the public API share. The API documents derive their enums from it (Schema);
// the orders table's CHECK constraint cannot, so a test compares it with Statuses.
type Status string

// Order statuses.
const (
	StatusPending            Status = "PENDING"
	StatusReserved           Status = "RESERVED"
	StatusAuthorized         Status = "AUTHORIZED"
	StatusAwaitingApproval   Status = "AWAITING_APPROVAL"
	StatusCaptured           Status = "CAPTURED"
	StatusCompensating       Status = "COMPENSATING"
	StatusCompensationFailed Status = "COMPENSATION_FAILED"
	StatusConfirmed          Status = "CONFIRMED"
	StatusCancelled          Status = "CANCELLED"
	StatusFailed             Status = "FAILED"
)

// Statuses returns every order status, in lifecycle order (the order of the enums).
func Statuses() []Status {
	return []Status{
		StatusPending, StatusReserved, StatusAuthorized, StatusAwaitingApproval, StatusCaptured,
		StatusCompensating, StatusCompensationFailed, StatusConfirmed, StatusCancelled, StatusFailed,
	}
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool { return slices.Contains(Statuses(), s) }

// IsTerminal reports whether an order in this status can never move again.
func (s Status) IsTerminal() bool {
	return s == StatusConfirmed || s == StatusCancelled || s == StatusFailed
}

// Schema makes every field of type Status an enum of Statuses in the OpenAPI documents and
// in Huma's request validation (huma.SchemaProvider).
func (Status) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeString, Enum: enumOf(Statuses())}
}

// enumOf lists statuses as schema enum values: plain strings, because Huma validates a
// decoded request value (a string) by equality against them.
func enumOf(statuses []Status) []any {
	out := make([]any, len(statuses))
	for i, s := range statuses {
		out[i] = string(s)
	}
	return out
}
