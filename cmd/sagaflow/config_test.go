package main

import (
	"bytes"
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/internal/svcrun"
	"github.com/sagaflow/sagaflow/services/inventory"
	"github.com/sagaflow/sagaflow/services/order"
	"github.com/sagaflow/sagaflow/services/payment"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testkeys"
)

// TestServiceConfigs checks what is each service's own in its configuration, the way
// `sagaflow service NAME` loads it: its prefix and default address, and the keys it trusts,
// shared by every service or its own (svcrun's TestLoad covers the variables every service
// shares; payment's own variables are tested there).
func TestServiceConfigs(t *testing.T) {
	keys := testkeys.New(t)
	trusted := string(keys.Trusted)
	adminOnly, err := auth.PublicSet(keys.Private[auth.IdentityAdmin])
	if err != nil {
		t.Fatal(err)
	}
	services := []struct {
		name, port string
		load       func() (svcrun.Config, error)
	}{
		{name: "order", port: ":8081", load: func() (svcrun.Config, error) { c, err := order.LoadConfig(); return c.Config, err }},
		{name: "payment", port: ":8082", load: func() (svcrun.Config, error) { c, err := payment.LoadConfig(); return c.Config, err }},
		{name: "inventory", port: ":8083", load: func() (svcrun.Config, error) { c, err := inventory.LoadConfig(); return c.Config, err }},
	}
	for _, svc := range services {
		p := strings.ToUpper(svc.name) + "_"
		other := map[string]string{"order": "PAYMENT_", "payment": "INVENTORY_", "inventory": "ORDER_"}[svc.name]
		dsn := "postgres://u@h/" + svc.name
		tests := []struct {
			name    string
			env     map[string]string
			wantErr string // the variable the error must name; "" means the config loads
			check   func(svcrun.Config) bool
		}{
			{name: "defaults", env: map[string]string{p + "DATABASE_URL": dsn}, check: func(c svcrun.Config) bool {
				return c.Service == svc.name && c.HTTPAddr == svc.port && c.DatabaseURL == dsn &&
					c.IdempotencyRetention == idempotency.DefaultRetention
			}},
			{name: "its own variables", env: map[string]string{p + "DATABASE_URL": dsn, p + "HTTP_ADDR": "127.0.0.1:1", p + "IDEMPOTENCY_RETENTION": "1000h"},
				check: func(c svcrun.Config) bool {
					return c.HTTPAddr == "127.0.0.1:1" && c.IdempotencyRetention == 1000*time.Hour
				}},
			{name: "missing database", env: map[string]string{}, wantErr: p + "DATABASE_URL"},
			{name: "a bare DATABASE_URL is not its database", env: map[string]string{"DATABASE_URL": dsn}, wantErr: p + "DATABASE_URL"},
			{name: "retention below the floor", env: map[string]string{p + "DATABASE_URL": dsn, p + "IDEMPOTENCY_RETENTION": "24h"}, wantErr: p + "IDEMPOTENCY_RETENTION"},
			{name: "the keys every service trusts", env: map[string]string{p + "DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": trusted},
				check: func(c svcrun.Config) bool { return c.TrustedKeys == trusted }},
			{name: "its own trusted keys win", env: map[string]string{p + "DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": trusted, p + "SERVICE_AUTH_TRUSTED_KEYS": string(adminOnly)},
				check: func(c svcrun.Config) bool { return c.TrustedKeys == string(adminOnly) }},
			{name: "no trusted keys", env: map[string]string{p + "DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": ""}, wantErr: p + "SERVICE_AUTH_TRUSTED_KEYS"},
			{name: "another service's trusted keys are not its", env: map[string]string{p + "DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": "", other + "SERVICE_AUTH_TRUSTED_KEYS": trusted},
				wantErr: p + "SERVICE_AUTH_TRUSTED_KEYS"},
		}
		vars := []string{p + "DATABASE_URL", p + "HTTP_ADDR", p + "IDEMPOTENCY_RETENTION", "DATABASE_URL",
			"SERVICE_AUTH_TRUSTED_KEYS", "ORDER_SERVICE_AUTH_TRUSTED_KEYS", "PAYMENT_SERVICE_AUTH_TRUSTED_KEYS", "INVENTORY_SERVICE_AUTH_TRUSTED_KEYS", "SAGAFLOW_INSECURE"}
		for _, tc := range tests {
			t.Run(svc.name+"/"+tc.name, func(t *testing.T) {
				env := map[string]string{"SERVICE_AUTH_TRUSTED_KEYS": trusted} // unless the case says otherwise
				maps.Copy(env, tc.env)
				testenv.SetOnlyEnv(t, vars, env)
				cfg, err := svc.load()
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("error = %v, want one naming %s", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !tc.check(cfg) {
					t.Fatalf("config = %+v", cfg)
				}
			})
		}
	}
}

// TestAPIConfig runs `sagaflow api` with each environment: outside insecure mode it needs
// the issuer and its own service key, and says which variable is wrong; in insecure mode it
// warns at start. Temporal is unreachable here, so an accepted configuration ends at the
// dial: it got that far.
func TestAPIConfig(t *testing.T) {
	newKey := func(identity string) string {
		k, err := auth.GenerateServiceKey(identity, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return string(k.Private)
	}
	apiKey, sagaKey := newKey(auth.IdentityAPI), newKey(auth.IdentitySagaWorker)
	payloadKey, err := payloadcodec.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{
		"ORDER_SERVICE_URL": "http://127.0.0.1:1", "INVENTORY_SERVICE_URL": "http://127.0.0.1:1", "TEMPORAL_ADDRESS": "127.0.0.1:1",
	}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	secure := map[string]string{"AUTH_ISSUER": "https://login.example.com/", "AUTH_AUDIENCE": "sagaflow-api",
		"AUTH_JWKS_URL": "http://127.0.0.1:1/jwks.json", "API_SERVICE_KEY": apiKey,
		"TEMPORAL_PAYLOAD_KEYS": payloadKey, "TEMPORAL_PAYLOAD_KEY_ID": "k1"}
	without := func(key string) map[string]string {
		env := with(secure)
		delete(env, key)
		return env
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" means the configuration is accepted
		warns   bool   // the insecure warning is logged
	}{
		{name: "issuer and service key", env: with(secure)},
		{name: "nothing about authentication", env: with(nil), wantErr: "AUTH_ISSUER"},
		{name: "no audience", env: without("AUTH_AUDIENCE"), wantErr: "AUTH_AUDIENCE"},
		{name: "no service key", env: without("API_SERVICE_KEY"), wantErr: "API_SERVICE_KEY"},
		{name: "no payload keys", env: without("TEMPORAL_PAYLOAD_KEYS"), wantErr: "TEMPORAL_PAYLOAD_KEYS"},
		{name: "another identity's service key", env: with(map[string]string{"AUTH_ISSUER": secure["AUTH_ISSUER"], "AUTH_AUDIENCE": "a", "API_SERVICE_KEY": sagaKey}), wantErr: "API_SERVICE_KEY"},
		{name: "an HMAC algorithm", env: with(map[string]string{"AUTH_ISSUER": secure["AUTH_ISSUER"], "AUTH_AUDIENCE": "a", "API_SERVICE_KEY": apiKey, "AUTH_ALGORITHMS": "HS256"}), wantErr: "AUTH_ALGORITHMS"},
		{name: "insecure", env: with(map[string]string{"SAGAFLOW_INSECURE": "true"}), warns: true},
		{name: "insecure with a bad service key", env: with(map[string]string{"SAGAFLOW_INSECURE": "true", "API_SERVICE_KEY": "{}"}), wantErr: "API_SERVICE_KEY"},
	}
	vars := []string{"ORDER_SERVICE_URL", "INVENTORY_SERVICE_URL", "TEMPORAL_ADDRESS", "AUTH_ISSUER", "AUTH_AUDIENCE",
		"AUTH_JWKS_URL", "AUTH_ALGORITHMS", "API_SERVICE_KEY", "SAGAFLOW_INSECURE", "TEMPORAL_PAYLOAD_KEYS", "TEMPORAL_PAYLOAD_KEY_ID"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.SetOnlyEnv(t, vars, tc.env)
			var stderr bytes.Buffer
			if code := run(context.Background(), []string{"api"}, &bytes.Buffer{}, &stderr); code != 1 {
				t.Fatalf("exit code %d, want 1 (a configuration error or the unreachable Temporal)\n%s", code, stderr.String())
			}
			log := stderr.String()
			reachedTemporal := strings.Contains(log, "connect to Temporal")
			if tc.wantErr != "" && (reachedTemporal || !strings.Contains(log, "configuration") || !strings.Contains(log, tc.wantErr)) {
				t.Fatalf("want a configuration error naming %s, got:\n%s", tc.wantErr, log)
			}
			if tc.wantErr == "" && !reachedTemporal {
				t.Fatalf("the configuration was refused:\n%s", log)
			}
			if warned := strings.Contains(log, "AUTHENTICATION IS OFF"); warned != tc.warns {
				t.Fatalf("insecure warning logged: %v, want %v\n%s", warned, tc.warns, log)
			}
			if strings.Contains(log, apiKey) || strings.Contains(log, sagaKey) {
				t.Fatal("the log shows a private key")
			}
		})
	}
}
