package api

import (
	"time"

	orderclient "github.com/sagaflow/sagaflow/services/order/client"
)

// NewOrderLine is one requested line.
type NewOrderLine struct {
	SKU      string `json:"sku" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9_.-]*$" doc:"Stock keeping unit" example:"SKU-1001"`
	Quantity int64  `json:"quantity" minimum:"1" maximum:"10000" doc:"Units wanted" example:"2"`
}

// PlaceOrderRequest is a new order. Prices come from the catalog, never from the client.
type PlaceOrderRequest struct {
	CustomerID   string         `json:"customer_id,omitempty" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$" doc:"The ordering customer: the token's subject, which this may repeat but not change (required only while authentication is off)" example:"cust-42"`
	Lines        []NewOrderLine `json:"lines" minItems:"1" maxItems:"100" doc:"One line per SKU"`
	PaymentToken string         `json:"payment_token" minLength:"1" maxLength:"200" pattern:"^[!-~]+$" doc:"Tokenized payment method" example:"tok_visa"`
}

// Links point at related resources.
type Links struct {
	Self string `json:"self" doc:"This order's URL" example:"/orders/ord_abc"`
}

// OrderLine is an order line; prices are zero until the saga priced the order.
type OrderLine struct {
	SKU       string `json:"sku"`
	Name      string `json:"name,omitempty"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price" doc:"Minor units"`
	LineTotal int64  `json:"line_total" doc:"Minor units"`
}

// StatusChange is one status transition in an order's history.
type StatusChange struct {
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// SagaStep is one step or compensation of the order saga.
type SagaStep struct {
	Name     string `json:"name" example:"reserve-stock"`
	Status   string `json:"status" enum:"pending,running,completed,failed,skipped,compensated,resolved-by-operator"`
	Attempts int32  `json:"attempts"`
	Error    string `json:"error,omitempty"`
}

// SagaDecision is the approval answer given to a held order.
type SagaDecision struct {
	Kind   string `json:"kind,omitempty" example:"approve"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// SagaState is the live state of the order's saga.
type SagaState struct {
	Status        orderclient.Status `json:"status"`
	CurrentStep   string             `json:"current_step,omitempty"`
	Steps         []SagaStep         `json:"steps"`
	Compensations []SagaStep         `json:"compensations"`
	PastPivot     bool               `json:"past_pivot" doc:"True once the payment capture started: cancel is no longer possible"`
	Decision      *SagaDecision      `json:"decision,omitempty"`
}

// Order is an order as clients see it. An accepted (202) answer carries only id, status
// and links; the other fields appear once known.
type Order struct {
	ID            string             `json:"id" example:"ord_mfrggzdfmztwq2lknnwg23tp"`
	Status        orderclient.Status `json:"status"`
	CustomerID    string             `json:"customer_id,omitempty"`
	Lines         []OrderLine        `json:"lines,omitempty"`
	Total         int64              `json:"total,omitempty" doc:"Minor units; absent until the order is priced"`
	Currency      string             `json:"currency,omitempty" doc:"ISO 4217 code"`
	FailureReason string             `json:"failure_reason,omitempty"`
	History       []StatusChange     `json:"history,omitempty"`
	Saga          *SagaState         `json:"saga,omitempty"` // absent when the saga's state cannot be read
	CreatedAt     *time.Time         `json:"created_at,omitempty"`
	UpdatedAt     *time.Time         `json:"updated_at,omitempty"`
	Links         Links              `json:"links"`
}

// OrderPage is one page of orders, newest first.
type OrderPage struct {
	Items      []Order `json:"items"`
	NextCursor string  `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page"`
}

type placeOrderInput struct {
	IdempotencyKey string `header:"Idempotency-Key" required:"true" minLength:"1" maxLength:"255" pattern:"^[!-~]+$" doc:"Unique per order attempt; the order id is derived from it. Repeat it with the same body to retry safely."`
	Prefer         string `header:"Prefer" maxLength:"200" doc:"RFC 7240. wait=N waits up to N seconds for the order's final state; any N above the server's limit (however large) waits that limit. Other preferences are ignored."`
	Body           PlaceOrderRequest
}

type placeOrderOutput struct {
	Status            int
	Location          string `header:"Location" doc:"The order's URL"`
	Replayed          string `header:"Idempotent-Replayed" doc:"true when this is the stored answer to an earlier request with the same key"`
	PreferenceApplied string `header:"Preference-Applied"`
	Body              Order
}

type getOrderInput struct {
	OrderID string `path:"order_id" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9_-]*$"`
}

type orderOutput struct {
	Body Order
}

type listOrdersInput struct {
	CustomerID string             `query:"customer_id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$" doc:"Only this customer's orders (a customer may name only themselves)"`
	Status     orderclient.Status `query:"status" doc:"Only orders in this status"`
	Limit      int                `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor     string             `query:"cursor" maxLength:"512" doc:"next_cursor of the previous page"`
}

type orderPageOutput struct {
	Body OrderPage
}
