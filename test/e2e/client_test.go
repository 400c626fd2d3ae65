package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sagaflow/sagaflow/api/openapi/publicclient"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/tools/devauth"
)

// testGeneratedClient proves the committed public OpenAPI document is usable by real
// clients: a client generated from it by oapi-codegen places an order and reads it back.
func (s *liveSystem) testGeneratedClient(t *testing.T) {
	t.Parallel()
	customer := "cust-generated"
	token := s.sys.Token(t, customer, devauth.CustomerScopes...)
	c, err := publicclient.NewClientWithResponses(s.apiURL, publicclient.WithRequestEditorFn(bearer(token)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lines := []publicclient.NewOrderLine{{Sku: "MUG", Quantity: 2}}
	wait := "wait=20"
	// The token says whose order it is: no customer_id.
	placed, err := c.PlaceOrderWithResponse(ctx,
		&publicclient.PlaceOrderParams{IdempotencyKey: "generated-" + testenv.Suffix(), Prefer: &wait},
		publicclient.PlaceOrderRequest{PaymentToken: "tok_mastercard", Lines: lines})
	if err != nil {
		t.Fatal(err)
	}
	if placed.StatusCode() != http.StatusOK || placed.JSON200 == nil {
		t.Fatalf("place: %d %s", placed.StatusCode(), placed.Body)
	}
	if placed.JSON200.Status != publicclient.OrderStatusCONFIRMED {
		t.Fatalf("placed order is %s", placed.JSON200.Status)
	}
	got, err := c.GetOrderWithResponse(ctx, placed.JSON200.Id)
	if err != nil {
		t.Fatal(err)
	}
	if got.JSON200 == nil || got.JSON200.Total == nil || *got.JSON200.Total != 2*1500 {
		t.Fatalf("read back: %d %s", got.StatusCode(), got.Body)
	}
	page, err := c.ListOrdersWithResponse(ctx, &publicclient.ListOrdersParams{CustomerId: &customer})
	if err != nil {
		t.Fatal(err)
	}
	if page.JSON200 == nil || len(page.JSON200.Items) != 1 || page.JSON200.Items[0].Id != placed.JSON200.Id {
		t.Fatalf("list by customer: %d %s", page.StatusCode(), page.Body)
	}
	missing, err := c.GetOrderWithResponse(ctx, "ord_doesnotexist")
	if err != nil {
		t.Fatal(err)
	}
	if missing.ApplicationproblemJSON404 == nil || missing.ApplicationproblemJSON404.Type != "/problems/not-found" {
		t.Fatalf("unknown order: %d %s, want a 404 not-found problem", missing.StatusCode(), missing.Body)
	}
	// The platform's refusals are declared, so the generated client types them too.
	refused, err := c.PlaceOrderWithBodyWithResponse(ctx, &publicclient.PlaceOrderParams{IdempotencyKey: "generated-415-" + testenv.Suffix()},
		"text/plain", strings.NewReader(`{"customer_id":"c"}`))
	if err != nil {
		t.Fatal(err)
	}
	if refused.ApplicationproblemJSON415 == nil || refused.ApplicationproblemJSON415.Type != "/problems/unsupported-media-type" {
		t.Fatalf("text/plain body: %d %s, want a typed 415 problem", refused.StatusCode(), refused.Body)
	}
	// Without a token, and with a customer's token on an operator's operation, the refusals
	// are typed too.
	anonymous, err := publicclient.NewClientWithResponses(s.apiURL)
	if err != nil {
		t.Fatal(err)
	}
	unauthorized, err := anonymous.GetOrderWithResponse(ctx, placed.JSON200.Id)
	if err != nil {
		t.Fatal(err)
	}
	if unauthorized.ApplicationproblemJSON401 == nil || unauthorized.ApplicationproblemJSON401.Type != "/problems/unauthorized" {
		t.Fatalf("no token: %d %s, want a typed 401 problem", unauthorized.StatusCode(), unauthorized.Body)
	}
	forbidden, err := c.ApproveOrderWithResponse(ctx, placed.JSON200.Id, &publicclient.ApproveOrderParams{}, publicclient.DecisionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if forbidden.ApplicationproblemJSON403 == nil || forbidden.ApplicationproblemJSON403.Type != "/problems/forbidden" {
		t.Fatalf("a customer approving: %d %s, want a typed 403 problem", forbidden.StatusCode(), forbidden.Body)
	}
}

// bearer adds the token to every request of a generated client.
func bearer(token string) publicclient.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}
