package idempotency

// The saga bounds MinRetention is built on, for horizon_test.go.
const (
	SagaMaxAttempt  = sagaMaxAttempt
	SagaMaxBackoff  = sagaMaxBackoff
	OutageAllowance = outageAllowance
)
