package api

import (
	"context"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/workflows"
)

// memoString reads a memo field with the converter the client wrote it with, in the
// saga's serialization context as the client encoded it. "" when absent or unreadable.
func (s *Server) memoString(desc *workflowservice.DescribeWorkflowExecutionResponse, field string) string {
	info := desc.GetWorkflowExecutionInfo()
	p := info.GetMemo().GetFields()[field]
	if p == nil {
		return ""
	}
	dc := converter.WithDataConverterSerializationContext(s.deps.DataConverter, converter.WorkflowSerializationContext{
		Namespace: s.cfg.Namespace, WorkflowID: info.GetExecution().GetWorkflowId(),
	})
	var v string
	if err := dc.FromPayload(p, &v); err != nil {
		s.logger.Warn("saga memo unreadable", "workflow_id", info.GetExecution().GetWorkflowId(), "field", field, "error", err)
		return ""
	}
	return v
}

func searchKeyword(desc *workflowservice.DescribeWorkflowExecutionResponse, name string) string {
	p := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[name]
	if p == nil {
		return ""
	}
	var v string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
		return ""
	}
	return v
}

// sagaQueryTimeout bounds the status query: a worker answers it in milliseconds, and
// when no worker is polling the server holds the query until the deadline, which a read
// should not wait out for long.
const sagaQueryTimeout = 2 * time.Second

// sagaInfo is what Temporal knows about an order's saga.
type sagaInfo struct {
	running    bool
	status     orderclient.Status    // the OrderStatus search attribute
	customerID string                // the memo's customer_id (the search attribute of older sagas)
	state      *workflows.SagaStatus // nil when the status query could not be answered
}

// describeSaga returns the saga of an order, or nil when there is none.
func (s *Server) describeSaga(ctx context.Context, id string) (*sagaInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ServiceCallTimeout)
	defer cancel()
	desc, err := s.deps.Temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id), "")
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, dependency(depTemporal, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	customer := s.memoString(desc, memoCustomer)
	if customer == "" {
		// Sagas started before the memo held the customer have it as a search attribute.
		customer = searchKeyword(desc, workflows.SearchCustomerID.GetName())
	}
	return &sagaInfo{
		running:    info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		status:     orderclient.Status(searchKeyword(desc, workflows.SearchOrderStatus.GetName())),
		customerID: customer,
	}, nil
}

// querySaga asks the saga for its live state.
func (s *Server) querySaga(ctx context.Context, id string) (*workflows.SagaStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, min(s.cfg.ServiceCallTimeout, sagaQueryTimeout))
	defer cancel()
	v, err := s.deps.Temporal.QueryWorkflow(ctx, workflows.WorkflowID(id), "", workflows.QueryStatus)
	if err != nil {
		return nil, dependency(depTemporal, err)
	}
	var st workflows.SagaStatus
	if err := v.Get(&st); err != nil {
		return nil, dependency(depTemporal, err)
	}
	return &st, nil
}

func orderFromService(o orderclient.Order) Order {
	view := Order{
		ID:            o.ID,
		Status:        o.Status,
		CustomerID:    o.CustomerID,
		Total:         o.Total,
		Currency:      o.Currency,
		FailureReason: o.FailureReason,
		Links:         Links{Self: orderLocation(o.ID)},
	}
	for _, l := range o.Lines {
		view.Lines = append(view.Lines, OrderLine{SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice, LineTotal: l.LineTotal})
	}
	for _, h := range o.History {
		view.History = append(view.History, StatusChange{From: h.From, To: h.To, Reason: h.Reason, At: h.At})
	}
	if !o.CreatedAt.IsZero() {
		view.CreatedAt = &o.CreatedAt
	}
	if !o.UpdatedAt.IsZero() {
		view.UpdatedAt = &o.UpdatedAt
	}
	return view
}

// orderFromSaga answers for an order the order service has not recorded yet.
func orderFromSaga(id string, saga *sagaInfo) Order {
	view := Order{ID: id, Status: orderclient.StatusPending, CustomerID: saga.customerID, Links: Links{Self: orderLocation(id)}}
	if saga.status != "" {
		view.Status = saga.status
	}
	if st := saga.state; st != nil {
		if st.Status != "" {
			view.Status = st.Status
		}
		view.Total = st.Total
		view.Currency = st.Currency
		view.FailureReason = st.FailureReason
		for _, l := range st.Lines {
			view.Lines = append(view.Lines, OrderLine{SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice, LineTotal: l.LineTotal})
		}
		view.Saga = sagaView(st)
	}
	return view
}

func sagaView(st *workflows.SagaStatus) *SagaState {
	v := &SagaState{
		Status:        st.Status,
		CurrentStep:   st.CurrentStep,
		Steps:         stepsView(st.Steps),
		Compensations: stepsView(st.Compensations),
		PastPivot:     st.PastPivot,
	}
	if st.Decision != nil {
		v.Decision = &SagaDecision{Kind: st.DecisionKind, By: st.Decision.By, Reason: st.Decision.Reason}
	}
	return v
}

func stepsView(steps []workflows.StepState) []SagaStep {
	out := make([]SagaStep, 0, len(steps))
	for _, s := range steps {
		out = append(out, SagaStep{Name: s.Name, Status: s.Status, Attempts: s.Attempts, Error: s.Error})
	}
	return out
}
