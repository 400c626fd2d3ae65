package devstack

import (
	"maps"
	"strings"
	"testing"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testkeys"
	"github.com/sagaflow/sagaflow/tools/devauth"
)

// loadConfigs must accept the environment Run sets up and name what is missing, as each
// component's own subcommand would.
func TestLoadConfigs(t *testing.T) {
	keys := testkeys.New(t)
	workerKeys, err := keys.PrivateSet(auth.IdentitySagaWorker, auth.IdentityOrdersWorker, auth.IdentityPaymentsWorker, auth.IdentityInventoryWorker)
	if err != nil {
		t.Fatal(err)
	}
	payloadKey, err := payloadcodec.GenerateKey("dev")
	if err != nil {
		t.Fatal(err)
	}
	full := map[string]string{
		"ORDER_DATABASE_URL":     "postgres://u@h/order",
		"PAYMENT_DATABASE_URL":   "postgres://u@h/payment",
		"INVENTORY_DATABASE_URL": "postgres://u@h/inventory",
		"ORDER_HTTP_ADDR":        "127.0.0.1:18081",
		"PAYMENT_HTTP_ADDR":      "127.0.0.1:18082",
		"INVENTORY_HTTP_ADDR":    "127.0.0.1:18083",
		"API_HTTP_ADDR":          "127.0.0.1:18080",
		"ORDER_SERVICE_URL":      "http://127.0.0.1:18081",
		"PAYMENT_SERVICE_URL":    "http://127.0.0.1:18082",
		"INVENTORY_SERVICE_URL":  "http://127.0.0.1:18083",
	}
	maps.Copy(full, map[string]string{
		"SERVICE_AUTH_TRUSTED_KEYS": string(keys.Trusted),
		"API_SERVICE_KEY":           string(keys.Private[auth.IdentityAPI]),
		"WORKER_SERVICE_KEYS":       string(workerKeys),
		"SAGAFLOW_ADMIN_KEY":        string(keys.Private[auth.IdentityAdmin]),
		"AUTH_ISSUER":               devauth.LocalIssuerURL,
		"AUTH_AUDIENCE":             devauth.DefaultAudience,
		"TEMPORAL_PAYLOAD_KEYS":     payloadKey,
		"TEMPORAL_PAYLOAD_KEY_ID":   "dev",
	})
	without := func(key string) map[string]string {
		env := map[string]string{}
		for k, v := range full {
			if k != key {
				env[k] = v
			}
		}
		return env
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" means every config loads
	}{
		{name: "what Run sets", env: full},
		{name: "no payment database", env: without("PAYMENT_DATABASE_URL"), wantErr: "PAYMENT_DATABASE_URL"},
		{name: "no inventory service for the API and pools", env: without("INVENTORY_SERVICE_URL"), wantErr: "INVENTORY_SERVICE_URL"},
		{name: "no issuer", env: without("AUTH_ISSUER"), wantErr: "AUTH_ISSUER"},
		{name: "no payload keys", env: without("TEMPORAL_PAYLOAD_KEYS"), wantErr: "TEMPORAL_PAYLOAD_KEYS"},
		{name: "no keys the services trust", env: without("SERVICE_AUTH_TRUSTED_KEYS"), wantErr: "SERVICE_AUTH_TRUSTED_KEYS"},
		{name: "no keys for the worker pools", env: without("WORKER_SERVICE_KEYS"), wantErr: "WORKER_SERVICE_KEYS"},
		{name: "no key for the seed", env: without("SAGAFLOW_ADMIN_KEY"), wantErr: "SAGAFLOW_ADMIN_KEY"},
	}
	vars := []string{"SAGAFLOW_INSECURE", "ORDER_SERVICE_AUTH_TRUSTED_KEYS", "PAYMENT_SERVICE_AUTH_TRUSTED_KEYS", "INVENTORY_SERVICE_AUTH_TRUSTED_KEYS"}
	for k := range full {
		vars = append(vars, k)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.SetOnlyEnv(t, vars, tc.env)
			cfgs, err := loadConfigs()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfgs.order.HTTPAddr != full["ORDER_HTTP_ADDR"] || cfgs.payment.DatabaseURL != full["PAYMENT_DATABASE_URL"] ||
				cfgs.inventory.Service != "inventory" || cfgs.api.HTTPAddr != full["API_HTTP_ADDR"] {
				t.Fatalf("configs = %+v", cfgs)
			}
			// Each component got its own key under its own name from the one environment.
			if cfgs.order.TrustedKeys != string(keys.Trusted) || cfgs.workers.ServiceKeys != string(workerKeys) ||
				cfgs.admin.Key != string(keys.Private[auth.IdentityAdmin]) {
				t.Fatal("a component did not get its key")
			}
		})
	}
}
