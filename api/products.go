package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/auth"
)

// Product is one catalog entry as clients see it.
type Product struct {
	SKU       string `json:"sku" example:"SKU-1001"`
	Name      string `json:"name" example:"Espresso beans 1 kg"`
	UnitPrice int64  `json:"unit_price" doc:"Price of one unit in minor units" example:"1899"`
	Currency  string `json:"currency" doc:"ISO 4217 code" example:"USD"`
	Available int64  `json:"available" doc:"Units that can be ordered now"`
}

// ProductList is the catalog.
type ProductList struct {
	Items []Product `json:"items"`
}

type productsOutput struct {
	Body ProductList
}

func (s *Server) registerProducts(api huma.API) {
	// The catalog is for anyone signed in, whatever their token's scopes: it needs a valid
	// token (so reads count against a subject's rate limit) but no scope.
	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: "list-products",
		Method:      http.MethodGet,
		Path:        "/products",
		Summary:     "List the catalog with what is available",
		Tags:        []string{tagProducts},
		Errors:      []int{http.StatusTooManyRequests, http.StatusServiceUnavailable},
	}, auth.Requirement{}), s.listProducts)
}

func (s *Server) listProducts(ctx context.Context, _ *struct{}) (*productsOutput, error) {
	list, err := s.deps.Inventory.ListProducts(ctx)
	if err != nil {
		return nil, s.fail(ctx, dependency(depInventory, err))
	}
	out := ProductList{Items: make([]Product, 0, len(list.Items))}
	for _, p := range list.Items {
		out.Items = append(out.Items, Product{SKU: p.SKU, Name: p.Name, UnitPrice: p.UnitPrice, Currency: p.Currency, Available: max(p.Available, 0)})
	}
	return &productsOutput{Body: out}, nil
}
