package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"go.temporal.io/api/serviceerror"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/svcclient"
)

// Dependency names, used in logs.
const (
	depTemporal  = "temporal"
	depOrders    = "order-service"
	depInventory = "inventory-service"
)

// depError marks the failure of a call to a dependency, so fail can answer 503 and log
// which dependency failed.
type depError struct {
	dep string
	err error
}

func (e *depError) Error() string { return e.dep + ": " + e.err.Error() }
func (e *depError) Unwrap() error { return e.err }

func dependency(dep string, err error) error {
	if err == nil {
		return nil
	}
	return &depError{dep: dep, err: err}
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return true
	}
	var se *svcclient.Error
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}

// unavailableProblem is the answer when a dependency fails: retryable, without its text.
func unavailableProblem() error {
	return huma.ErrorWithHeaders(
		problem.New(http.StatusServiceUnavailable, problem.CodeUnavailable, "a backing service is unavailable; retry later"),
		http.Header{"Retry-After": []string{"1"}})
}

// fail is the one place errors become answers. Problems we built pass through; a
// service's final 4xx passes through with its code; dependency failures become 503;
// anything else is logged with the request id and hidden behind a generic 500.
func (s *Server) fail(ctx context.Context, err error) error {
	var withHeaders huma.HeadersError
	if errors.As(err, &withHeaders) {
		return err
	}
	if p, ok := problem.As(err); ok {
		if p.Status >= 500 {
			s.logger.ErrorContext(ctx, "request failed", "status", p.Status, "detail", p.Detail)
		}
		return p
	}
	dep := "unknown"
	var de *depError
	if errors.As(err, &de) {
		dep = de.dep
	}
	var se *svcclient.Error
	if errors.As(err, &se) && !se.Retryable() && se.Status >= 400 && se.Status < 500 {
		code := se.Code
		if code == "" {
			code = problem.CodeValidation
		}
		if se.Status == http.StatusNotFound {
			code = problem.CodeNotFound
		}
		details := make([]*huma.ErrorDetail, 0, len(se.Fields))
		for _, f := range se.Fields {
			details = append(details, &huma.ErrorDetail{Message: f.Message, Location: f.Location, Value: f.Value})
		}
		return problem.New(se.Status, code, se.Detail, details...)
	}
	if de != nil || errors.Is(err, context.DeadlineExceeded) {
		s.logger.WarnContext(ctx, "dependency unavailable", "dependency", dep, "error", err)
		return unavailableProblem()
	}
	s.logger.ErrorContext(ctx, "request failed", "error", err)
	return problem.Internal()
}
