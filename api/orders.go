package api

import (
	"context"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/auth"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
)

func (s *Server) registerOrders(api huma.API) {
	// Placing is for customers: the order is the token subject's.
	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: "place-order",
		Method:      http.MethodPost,
		Path:        "/orders",
		Summary:     "Place an order",
		Description: "Starts the order saga and answers 202 with the order's URL. The order id is derived from the Idempotency-Key " +
			"and the token's subject, so retrying with the same key and body never places a second order, and two customers' keys " +
			"never meet. With `Prefer: wait=N` the answer waits up to N seconds and is 200 with the order when it reached a final " +
			"state by then. The order is the token subject's: customer_id may be left out, and naming another customer is refused with 403.",
		Tags:          []string{tagOrders},
		DefaultStatus: http.StatusAccepted,
		// 100 lines fit in a few kilobytes; anything much larger is not an order.
		MaxBodyBytes: 64 << 10,
		Responses: map[string]*huma.Response{
			"200": {
				Description: "The order reached a final state within the requested wait",
				Content: map[string]*huma.MediaType{"application/json": {
					Schema: api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[Order](), true, "Order"),
				}},
			},
		},
		Errors: []int{http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity,
			http.StatusTooManyRequests, http.StatusServiceUnavailable},
	}, auth.Requirement{Scopes: []string{auth.ScopeOrdersWrite}}), s.placeOrder)
	// Both answers carry the order's URL and say whether they were replayed.
	for _, status := range []string{"200", "202"} {
		api.OpenAPI().Paths["/orders"].Post.Responses[status].Headers = placedHeaders()
	}
	// Reading: a customer their own orders, an operator (orders:read_all) every order.
	read := auth.Requirement{Scopes: []string{auth.ScopeOrdersRead, auth.ScopeOrdersReadAll}}
	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: "get-order",
		Method:      http.MethodGet,
		Path:        "/orders/{order_id}",
		Summary:     "Get an order with its lines, history and saga state",
		Description: "An order the saga refused before recording it (FAILED) is answered from the saga alone: it has no lines or " +
			"history and is not listed by GET /orders. saga is absent when the saga's live state cannot be read. " +
			"Another customer's order is answered 404, like one that does not exist, unless the token holds orders:read_all.",
		Tags:   []string{tagOrders},
		Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusTooManyRequests, http.StatusServiceUnavailable},
	}, read), s.getOrder)
	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: "list-orders",
		Method:      http.MethodGet,
		Path:        "/orders",
		Summary:     "List orders, newest first",
		Description: "A customer lists their own orders only: customer_id, if given, must be the token's subject (403 otherwise). " +
			"A token with orders:read_all lists every customer's orders and may filter by customer_id.",
		Tags:   []string{tagOrders},
		Errors: []int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusTooManyRequests, http.StatusServiceUnavailable},
	}, read), s.listOrders)
}

func orderLocation(id string) string { return "/orders/" + id }

// placedHeaders are the headers of place-order's answers.
func placedHeaders() map[string]*huma.Param {
	return map[string]*huma.Param{
		"Location": {
			Description: "The order's URL",
			Required:    true,
			Schema:      &huma.Schema{Type: huma.TypeString, Format: "uri-reference", Pattern: "^/orders/[A-Za-z0-9_-]+$"},
		},
		"Idempotent-Replayed": {
			Description: "Present (true) when this is the stored answer to an earlier request with the same key",
			Schema:      &huma.Schema{Type: huma.TypeString, Enum: []any{"true"}},
		},
		"Preference-Applied": {
			Description: "RFC 7240: the wait the answer applied, in seconds",
			Schema:      &huma.Schema{Type: huma.TypeString, Pattern: "^wait=[0-9]+$"},
		},
	}
}

func (s *Server) getOrder(ctx context.Context, in *getOrderInput) (*orderOutput, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	o, err := s.deps.Orders.Get(ctx, in.OrderID)
	recorded := err == nil
	if err != nil && !isNotFound(err) {
		return nil, s.fail(ctx, dependency(depOrders, err))
	}
	// Another customer's order is not there for this caller: nothing more is read of it.
	if recorded && !mayAccess(p, o.CustomerID, auth.ScopeOrdersReadAll) {
		return nil, orderNotFound(in.OrderID)
	}
	saga, err := s.describeSaga(ctx, in.OrderID)
	if err != nil {
		if !recorded {
			return nil, s.fail(ctx, err)
		}
		// The order service's record is still a correct answer without the saga's details.
		s.logger.WarnContext(ctx, "saga state unavailable", "order_id", in.OrderID, "error", err)
	}
	if !recorded && saga != nil && !mayAccess(p, saga.customerID, auth.ScopeOrdersReadAll) {
		return nil, orderNotFound(in.OrderID)
	}
	if saga != nil {
		saga.state, err = s.querySaga(ctx, in.OrderID)
		if err != nil {
			s.logger.WarnContext(ctx, "saga status query failed", "order_id", in.OrderID, "error", err)
		}
	}
	switch {
	case recorded:
		view := orderFromService(o)
		if saga != nil && saga.state != nil {
			view.Saga = sagaView(saga.state)
		}
		return &orderOutput{Body: view}, nil
	case saga != nil:
		return &orderOutput{Body: orderFromSaga(in.OrderID, saga)}, nil
	}
	return nil, orderNotFound(in.OrderID)
}

func (s *Server) listOrders(ctx context.Context, in *listOrdersInput) (*orderPageOutput, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	customer := in.CustomerID
	if !p.Has(auth.ScopeOrdersReadAll) {
		// Naming someone else is refused rather than answered empty, so a client's mistake
		// shows instead of looking like a customer without orders.
		if customer != "" && customer != p.Subject {
			return nil, auth.Forbidden("a customer lists only their own orders; customer_id may only name the token's subject")
		}
		customer = p.Subject
	}
	page, err := s.deps.Orders.List(ctx, orderclient.ListFilter{
		CustomerID: customer, Status: in.Status, Limit: in.Limit, Cursor: in.Cursor,
	})
	if err != nil {
		return nil, s.fail(ctx, dependency(depOrders, err))
	}
	out := OrderPage{Items: make([]Order, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, o := range page.Items {
		out.Items = append(out.Items, orderFromService(o))
	}
	return &orderPageOutput{Body: out}, nil
}
