package inventory

import (
	"context"
	"log/slog"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/svcrun"
	"github.com/sagaflow/sagaflow/services/inventory/client"
)

// apiInfo identifies the API in the OpenAPI document.
var apiInfo = svcrun.Info{
	Title:   "sagaflow inventory service",
	Version: "1.0.0",
	Description: "Product catalog with stock levels, and per-order stock reservations " +
		"(reserve all lines or none, release, commit). Every mutating POST takes an " +
		"Idempotency-Key header: a repeated key with the same request returns the recorded answer.",
}

const (
	tagProducts     = "products"
	tagReservations = "reservations"
)

type skuPath struct {
	SKU string `path:"sku" minLength:"1" maxLength:"64" doc:"Stock keeping unit"`
}

type orderPath struct {
	OrderID string `path:"order_id" minLength:"1" maxLength:"64" doc:"Order the reservation belongs to"`
}

type upsertProductInput struct {
	SKU  string `path:"sku" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$" doc:"Stock keeping unit"`
	Body client.UpsertProductRequest
}

type restockInput struct {
	SKU            string `path:"sku" minLength:"1" maxLength:"64" doc:"Stock keeping unit"`
	IdempotencyKey string `header:"Idempotency-Key" required:"true" minLength:"1" maxLength:"255" pattern:"^[!-~]+$" doc:"Printable ASCII without spaces. Unique per intended change; repeats return the recorded answer"`
	Body           client.RestockRequest
}

type listMovementsInput struct {
	SKU   string `path:"sku" minLength:"1" maxLength:"64" doc:"Stock keeping unit"`
	After int64  `query:"after" minimum:"0" doc:"Return entries with a greater id (the last id of the previous page)"`
	Limit int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type reserveInput struct {
	IdempotencyKey string `header:"Idempotency-Key" required:"true" minLength:"1" maxLength:"255" pattern:"^[!-~]+$" doc:"Printable ASCII without spaces. Unique per intended change; repeats return the recorded answer"`
	Body           client.ReserveRequest
}

type settleInput struct {
	OrderID        string `path:"order_id" minLength:"1" maxLength:"64" doc:"Order the reservation belongs to"`
	IdempotencyKey string `header:"Idempotency-Key" required:"true" minLength:"1" maxLength:"255" pattern:"^[!-~]+$" doc:"Printable ASCII without spaces. Unique per intended change; repeats return the recorded answer"`
}

type listReservationsInput struct {
	Status  string `query:"status" enum:"RESERVED,RELEASED,COMMITTED" doc:"Only reservations in this status"`
	OrderID string `query:"order_id" maxLength:"64" doc:"Only this order's reservation"`
	Limit   int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
	After   string `query:"after" maxLength:"64" doc:"Order id of the last reservation of the previous page (its 'next')"`
}

type productOutput struct {
	Body client.Product
}

type productWithStatusOutput struct {
	Status int
	Body   client.Product
}

type productListOutput struct {
	Body client.ProductList
}

type movementListOutput struct {
	Body client.StockMovementList
}

type reservationOutput struct {
	Body client.Reservation
}

type reservationWithStatusOutput struct {
	Status int
	Body   client.Reservation
}

type reservationListOutput struct {
	Body client.ReservationList
}

// handlers serve the operations over the service.
type handlers struct{ svc *Service }

// Register adds the inventory operations to api, each with the service identities it
// accepts (docs/security.md). It does not touch the database.
func (s *Service) Register(api huma.API) {
	h := &handlers{svc: s}
	// Prices and stock are set by operators' tools only (the seed, the catalog's upkeep).
	catalog := auth.Requirement{Callers: []string{auth.IdentityAdmin}}
	// The public API shows the catalog; operators' tools audit it.
	reader := auth.Requirement{Callers: []string{auth.IdentityAPI, auth.IdentityAdmin}}
	// Stock is held, given back and sold only as the saga's steps, made by the saga pool
	// (local steps) or the inventory pool.
	sagaStep := auth.Requirement{Callers: []string{auth.IdentitySagaWorker, auth.IdentityInventoryWorker}}
	// The ledger and the reservations are read by operators' tools (the audit).
	auditor := auth.Requirement{Callers: []string{auth.IdentityAdmin}}
	reservationSchema := api.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(client.Reservation{}), true, "Reservation")
	productSchema := api.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(client.Product{}), true, "Product")

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID:   opUpsertProduct,
		Method:        http.MethodPut,
		Path:          "/products/{sku}",
		Summary:       "Create or update a catalog entry",
		Description:   "Sets the name and price of a product. Stock levels change only through restocks and reservations. Returns 201 when the product is new.",
		Tags:          []string{tagProducts},
		DefaultStatus: http.StatusOK,
		Responses: map[string]*huma.Response{
			"201": {Description: "Product created", Content: map[string]*huma.MediaType{"application/json": {Schema: productSchema}}},
		},
		Errors: []int{http.StatusUnprocessableEntity},
	}, catalog), h.upsertProduct)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opListProducts,
		Method:      http.MethodGet,
		Path:        "/products",
		Summary:     "List the catalog with stock levels",
		Description: "Every product ordered by SKU.",
		Tags:        []string{tagProducts},
	}, reader), h.listProducts)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opGetProduct,
		Method:      http.MethodGet,
		Path:        "/products/{sku}",
		Summary:     "Get a product with its stock levels",
		Tags:        []string{tagProducts},
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, reader), h.getProduct)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opRestock,
		Method:      http.MethodPost,
		Path:        "/products/{sku}/restock",
		Summary:     "Add units to a product's stock",
		Description: "Adds the quantity to on hand stock once per Idempotency-Key and records it in the stock ledger.",
		Tags:        []string{tagProducts},
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, catalog), h.restock)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opListMovements,
		Method:      http.MethodGet,
		Path:        "/products/{sku}/movements",
		Summary:     "List a product's stock ledger",
		Description: "Every restock, reserve, release and commit of the product with the levels after it, oldest first. Page with `after` set to the last id seen.",
		Tags:        []string{tagProducts},
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, auditor), h.listMovements)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opReserve,
		Method:      http.MethodPost,
		Path:        "/reservations",
		Summary:     "Reserve stock for every line of an order, or none",
		Description: "Holds stock for all lines in one transaction, priced from the catalog. Lines with the same SKU are merged " +
			"(quantities summed). Unknown SKUs (unknown-sku) and short lines (out-of-stock) are each named in the problem's errors. " +
			"Returns 201 for a new reservation and 200 when the order already holds the same lines (RESERVED or COMMITTED). " +
			"An order whose reservation was released (including a release that arrived first) is refused with 409 reservation-released.",
		Tags:          []string{tagReservations},
		DefaultStatus: http.StatusCreated,
		Responses: map[string]*huma.Response{
			"200": {Description: "The order already holds this reservation", Content: map[string]*huma.MediaType{"application/json": {Schema: reservationSchema}}},
		},
		Errors: []int{http.StatusConflict, http.StatusUnprocessableEntity},
	}, sagaStep), h.reserve)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opRelease,
		Method:      http.MethodPost,
		Path:        "/reservations/{order_id}/release",
		Summary:     "Release an order's reserved stock",
		Description: "Gives reserved stock back. Releasing an order without a reservation records a RELEASED marker that refuses a later reserve. " +
			"Releasing again is a no-op; a committed reservation is refused with 409 reservation-committed.",
		Tags:   []string{tagReservations},
		Errors: []int{http.StatusConflict, http.StatusUnprocessableEntity},
	}, sagaStep), h.release)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opCommit,
		Method:      http.MethodPost,
		Path:        "/reservations/{order_id}/commit",
		Summary:     "Commit an order's reserved stock as sold",
		Description: "Removes the reserved units from stock. Committing again is a no-op; a released reservation is refused with 409 reservation-released.",
		Tags:        []string{tagReservations},
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, sagaStep), h.commit)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opGetReservation,
		Method:      http.MethodGet,
		Path:        "/reservations/{order_id}",
		Summary:     "Get an order's reservation",
		Tags:        []string{tagReservations},
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, auditor), h.getReservation)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opListReservations,
		Method:      http.MethodGet,
		Path:        "/reservations",
		Summary:     "List reservations",
		Description: "Newest first, optionally filtered by status or order, for operators and audits. " +
			"Page with `after` set to the previous page's `next`.",
		Tags:   []string{tagReservations},
		Errors: []int{http.StatusUnprocessableEntity},
	}, auditor), h.listReservations)
}

func (h *handlers) upsertProduct(ctx context.Context, in *upsertProductInput) (*productWithStatusOutput, error) {
	p, created, err := h.svc.UpsertProduct(ctx, in.SKU, in.Body)
	if err != nil {
		return nil, h.fail(ctx, opUpsertProduct, err)
	}
	return &productWithStatusOutput{Status: createdOrOK(created), Body: p}, nil
}

func (h *handlers) listProducts(ctx context.Context, _ *struct{}) (*productListOutput, error) {
	list, err := h.svc.ListProducts(ctx)
	if err != nil {
		return nil, h.fail(ctx, opListProducts, err)
	}
	return &productListOutput{Body: list}, nil
}

func (h *handlers) getProduct(ctx context.Context, in *skuPath) (*productOutput, error) {
	p, err := h.svc.GetProduct(ctx, in.SKU)
	if err != nil {
		return nil, h.fail(ctx, opGetProduct, err)
	}
	return &productOutput{Body: p}, nil
}

func (h *handlers) restock(ctx context.Context, in *restockInput) (*productOutput, error) {
	p, err := h.svc.Restock(ctx, in.SKU, in.IdempotencyKey, in.Body)
	if err != nil {
		return nil, h.fail(ctx, opRestock, err)
	}
	return &productOutput{Body: p}, nil
}

func (h *handlers) listMovements(ctx context.Context, in *listMovementsInput) (*movementListOutput, error) {
	list, err := h.svc.ListMovements(ctx, in.SKU, in.After, in.Limit)
	if err != nil {
		return nil, h.fail(ctx, opListMovements, err)
	}
	return &movementListOutput{Body: list}, nil
}

func (h *handlers) reserve(ctx context.Context, in *reserveInput) (*reservationWithStatusOutput, error) {
	r, created, err := h.svc.Reserve(ctx, in.IdempotencyKey, in.Body)
	if err != nil {
		return nil, h.fail(ctx, opReserve, err)
	}
	return &reservationWithStatusOutput{Status: createdOrOK(created), Body: r}, nil
}

func (h *handlers) release(ctx context.Context, in *settleInput) (*reservationOutput, error) {
	r, err := h.svc.Release(ctx, in.OrderID, in.IdempotencyKey)
	if err != nil {
		return nil, h.fail(ctx, opRelease, err)
	}
	return &reservationOutput{Body: r}, nil
}

func (h *handlers) commit(ctx context.Context, in *settleInput) (*reservationOutput, error) {
	r, err := h.svc.Commit(ctx, in.OrderID, in.IdempotencyKey)
	if err != nil {
		return nil, h.fail(ctx, opCommit, err)
	}
	return &reservationOutput{Body: r}, nil
}

func (h *handlers) getReservation(ctx context.Context, in *orderPath) (*reservationOutput, error) {
	r, err := h.svc.GetReservation(ctx, in.OrderID)
	if err != nil {
		return nil, h.fail(ctx, opGetReservation, err)
	}
	return &reservationOutput{Body: r}, nil
}

func (h *handlers) listReservations(ctx context.Context, in *listReservationsInput) (*reservationListOutput, error) {
	list, err := h.svc.ListReservations(ctx, client.ReservationFilter{Status: in.Status, OrderID: in.OrderID, Limit: in.Limit, After: in.After})
	if err != nil {
		return nil, h.fail(ctx, opListReservations, err)
	}
	return &reservationListOutput{Body: list}, nil
}

// createdOrOK is the status of an answer that may have created its resource.
func createdOrOK(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// fail is the one exit for handler errors: a refusal leaves as its problem (problemFor);
// anything else is logged with the request id and answered with a generic 500.
func (h *handlers) fail(ctx context.Context, op string, err error) error {
	if p, ok := problemFor(err); ok {
		return p
	}
	h.svc.logger.ErrorContext(ctx, "request failed", "operation", op, "error", err.Error())
	return problem.Internal()
}

// NewGuardedHandler returns the service's HTTP handler: the API, whose callers guard checks
// before anything else (svcrun.Handler), its OpenAPI document and docs, and /healthz and
// /readyz (a nil ready reports ready whenever the process answers).
func NewGuardedHandler(svc *Service, guard *auth.Guard, logger *slog.Logger, ready *httpserver.Readiness) http.Handler {
	return svcrun.Handler(apiInfo, guard, logger, ready, svc.Register)
}

// Spec returns the service's OpenAPI document.
func Spec() *huma.OpenAPI {
	return svcrun.Spec(apiInfo, NewService(nil, logging.Discard()).Register)
}
