package client

// Order statuses as the order service records them. The values equal the saga's
// statuses, so callers on either side can compare them directly.
const (
	StatusPending            = "PENDING"
	StatusReserved           = "RESERVED"
	StatusAuthorized         = "AUTHORIZED"
	StatusAwaitingApproval   = "AWAITING_APPROVAL"
	StatusCaptured           = "CAPTURED"
	StatusCompensating       = "COMPENSATING"
	StatusCompensationFailed = "COMPENSATION_FAILED"
	StatusConfirmed          = "CONFIRMED"
	StatusCancelled          = "CANCELLED"
	StatusFailed             = "FAILED"
)

// Statuses returns every order status, in lifecycle order.
func Statuses() []string {
	return []string{
		StatusPending, StatusReserved, StatusAuthorized, StatusAwaitingApproval, StatusCaptured,
		StatusCompensating, StatusCompensationFailed, StatusConfirmed, StatusCancelled, StatusFailed,
	}
}

// IsTerminal reports whether an order in this status can never move again.
func IsTerminal(status string) bool {
	return status == StatusConfirmed || status == StatusCancelled || status == StatusFailed
}
