package devstack

import (
	"strings"
	"testing"

	"github.com/sagaflow/sagaflow/test/testenv"
)

// loadConfigs must accept the environment Run sets up and name what is missing, as each
// component's own subcommand would.
func TestLoadConfigs(t *testing.T) {
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
		"SAGAFLOW_INSECURE":      "true",
	}
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
		{name: "neither an issuer nor insecure", env: without("SAGAFLOW_INSECURE"), wantErr: "AUTH_ISSUER"},
	}
	vars := make([]string, 0, len(full))
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
		})
	}
}
