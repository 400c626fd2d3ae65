package devstack

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
)

type demoProduct struct {
	sku   string
	name  string
	price int64
	stock int64
}

func demoCatalog() []demoProduct {
	return []demoProduct{
		{"SKU-ESPRESSO", "Espresso beans, 1 kg", 2450, 500},
		{"SKU-GRINDER", "Burr grinder", 18900, 40},
		{"SKU-KETTLE", "Gooseneck kettle", 7900, 60},
		{"SKU-MUG", "Stoneware mug", 1500, 1000},
		{"SKU-FILTERS", "Paper filters, 100 pack", 650, 2000},
		{"SKU-MACHINE", "Dual boiler espresso machine", 249000, 5},
	}
}

// SeedCatalog loads the demo catalog through the inventory service's API, as the admin
// identity (SAGAFLOW_ADMIN_KEY). The restock idempotency keys make a second run add no
// stock.
func SeedCatalog(ctx context.Context, inventoryURL string, admin auth.AdminConfig) (int, error) {
	httpClient, err := admin.Client(&http.Client{}, invclient.ServiceName)
	if err != nil {
		return 0, err
	}
	c := invclient.New(inventoryURL, httpClient, 10*time.Second)
	for _, p := range demoCatalog() {
		if _, err := c.UpsertProduct(ctx, p.sku, invclient.UpsertProductRequest{Name: p.name, UnitPrice: p.price, Currency: "USD"}); err != nil {
			return 0, fmt.Errorf("upsert %s: %w", p.sku, err)
		}
		if _, err := c.Restock(ctx, p.sku, "demo-catalog/"+p.sku, invclient.RestockRequest{Quantity: p.stock}); err != nil {
			return 0, fmt.Errorf("restock %s: %w", p.sku, err)
		}
	}
	return len(demoCatalog()), nil
}
