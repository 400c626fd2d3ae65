// Package correlation carries the request id across Temporal: from the client call that
// starts or signals a workflow, through the workflow's headers and context, into every
// activity's context, so the services an activity calls log the same X-Request-Id.
package correlation

import (
	"context"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/internal/requestid"
)

// HeaderKey names the Temporal header that holds the request id.
const HeaderKey = "sagaflow-request-id"

type workflowKey struct{}

type propagator struct {
	dc converter.DataConverter
}

// NewPropagator returns the context propagator to install on every Temporal client and
// worker (client.Options.ContextPropagators).
func NewPropagator() workflow.ContextPropagator {
	return propagator{dc: converter.GetDefaultDataConverter()}
}

// Inject writes the request id of a client call's context into the headers.
func (p propagator) Inject(ctx context.Context, w workflow.HeaderWriter) error {
	return p.write(requestid.From(ctx), w)
}

// Extract reads the request id from the headers into an activity's context.
func (p propagator) Extract(ctx context.Context, r workflow.HeaderReader) (context.Context, error) {
	if id := p.read(r); id != "" {
		return requestid.With(ctx, id), nil
	}
	return ctx, nil
}

// InjectFromWorkflow writes the workflow context's request id into the headers of what the
// workflow schedules (activities, child workflows).
func (p propagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	return p.write(FromWorkflow(ctx), w)
}

// ExtractToWorkflow reads the request id from the workflow's start headers into its context.
func (p propagator) ExtractToWorkflow(ctx workflow.Context, r workflow.HeaderReader) (workflow.Context, error) {
	if id := p.read(r); id != "" {
		return WithWorkflow(ctx, id), nil
	}
	return ctx, nil
}

func (p propagator) write(id string, w workflow.HeaderWriter) error {
	if id == "" {
		return nil
	}
	payload, err := p.dc.ToPayload(id)
	if err != nil {
		return err
	}
	w.Set(HeaderKey, payload)
	return nil
}

// read returns the id in the headers, or "" when it is absent or not a safe id: headers can
// be written by any client, and the id ends up in log lines and HTTP headers.
func (p propagator) read(r workflow.HeaderReader) string {
	payload, ok := r.Get(HeaderKey)
	if !ok {
		return ""
	}
	var id string
	if err := p.dc.FromPayload(payload, &id); err != nil || !requestid.Valid(id) {
		return ""
	}
	return id
}

// FromWorkflow returns the request id a workflow context carries, or "".
func FromWorkflow(ctx workflow.Context) string {
	id, _ := ctx.Value(workflowKey{}).(string)
	return id
}

// WithWorkflow returns a workflow context carrying id; a workflow started without the
// header (for example from the CLI) can adopt an id from its input this way.
func WithWorkflow(ctx workflow.Context, id string) workflow.Context {
	return workflow.WithValue(ctx, workflowKey{}, id)
}
