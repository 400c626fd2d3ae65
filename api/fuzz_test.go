package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/logging"
	inventoryclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/test/badinput"
	"github.com/sagaflow/sagaflow/test/contract"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/tools/devauth"
	"github.com/sagaflow/sagaflow/workflows"
)

// FuzzPlaceOrderBody posts arbitrary bodies and Idempotency-Keys to the real place-order
// handler over real Redis and Temporal (nothing polls its saga queue, so accepted orders
// only start a saga), as customer cust-1: never a 5xx, every refusal a clean problem
// document, and every acceptance a well-formed order whose id is the one derived from the
// customer and the key.
func FuzzPlaceOrderBody(f *testing.F) {
	rdb, prefix := testenv.Redis(f)
	cfg := api.DefaultConfig()
	cfg.RedisKeyPrefix = prefix
	cfg.SagaTaskQueue = testtemporal.TaskQueue(f, workflows.TaskQueueSagas)
	cfg.RateLimitPerSecond = 0
	issuer := newTestAuth(f)
	issuer.configure(&cfg)
	token := issuer.token(f, harnessSubject, devauth.CustomerScopes...)
	unreachable := "http://127.0.0.1:1"
	srv := api.New(api.Deps{
		Temporal:  testtemporal.TemporalClient(f),
		Redis:     rdb,
		Orders:    orderclient.New(unreachable, nil, time.Second),
		Inventory: inventoryclient.New(unreachable, nil, time.Second),
	}, cfg, logging.Discard()).WithVerifier(issuer.verifier(f))
	apiHandler := api.NewHandler(srv, nil)
	checker := contract.MustFor(f, "public")
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		// Every exchange is held to the committed document.
		handler := checker.HandlerFunc(func(err error) { t.Fatalf("body %q key %q: %v", body, key, err) }, apiHandler)
		req := httptest.NewRequest(http.MethodPost, "/orders", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if err := badinput.Check(rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("body %q key %q: %v", body, key, err)
		}
		if rec.Code >= 300 {
			return
		}
		var o api.Order
		if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil {
			t.Fatalf("accepted (%d) body %q: answer %q does not decode: %v", rec.Code, body, rec.Body.Bytes(), err)
		}
		if o.ID != api.OrderIDForKey(harnessSubject, key) || o.Links.Self != "/orders/"+o.ID || rec.Header().Get("Location") != o.Links.Self {
			t.Fatalf("accepted body %q key %q: order %+v, Location %q", body, key, o, rec.Header().Get("Location"))
		}
	})
}
