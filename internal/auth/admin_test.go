package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAdminConfig: an operators' tool calls as admin with SAGAFLOW_ADMIN_KEY, and without
// it only in insecure mode.
func TestAdminConfig(t *testing.T) {
	admin, err := GenerateServiceKey(IdentityAdmin, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	api, err := GenerateServiceKey(IdentityAPI, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := PublicSet(admin.Public, api.Public)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewServiceVerifier(trusted, "inventory")
	if err != nil {
		t.Fatal(err)
	}
	// The service's side: who called, by the bearer token it got.
	caller := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := bearerToken(r.Header.Get("Authorization"))
		p, err := v.Verify(r.Context(), raw)
		switch {
		case raw == "":
			caller <- "nobody"
		case err != nil:
			caller <- "refused"
		default:
			caller <- p.Subject
		}
	}))
	t.Cleanup(srv.Close)

	cases := []struct {
		name    string
		cfg     AdminConfig
		wantErr string // what the error must say; "" = the tool calls
		caller  string // who the service sees
	}{
		{name: "the admin key", cfg: AdminConfig{Key: string(admin.Private)}, caller: IdentityAdmin},
		{name: "the admin key in insecure mode still signs", cfg: AdminConfig{Key: string(admin.Private), Insecure: true}, caller: IdentityAdmin},
		{name: "insecure without a key", cfg: AdminConfig{Insecure: true}, caller: "nobody"},
		{name: "no key", cfg: AdminConfig{}, wantErr: AdminKeyVariable + " must hold the private key of the admin identity"},
		{name: "another identity's key", cfg: AdminConfig{Key: string(api.Private)}, wantErr: AdminKeyVariable + " holds a key of api"},
		{name: "the public key", cfg: AdminConfig{Key: string(admin.Public)}, wantErr: AdminKeyVariable},
		{name: "not a key", cfg: AdminConfig{Key: "hunter2"}, wantErr: AdminKeyVariable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			verr := tc.cfg.Validate()
			c, err := tc.cfg.Client(srv.Client(), "inventory")
			if tc.wantErr != "" {
				for _, e := range []error{verr, err} {
					if e == nil || !strings.Contains(e.Error(), tc.wantErr) {
						t.Fatalf("error = %v, want one saying %q", e, tc.wantErr)
					}
				}
				if strings.Contains(verr.Error(), "hunter2") {
					t.Fatalf("the error shows the value: %v", verr)
				}
				return
			}
			if verr != nil || err != nil {
				t.Fatalf("Validate = %v, Client = %v", verr, err)
			}
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close() // only the caller matters
			if got := <-caller; got != tc.caller {
				t.Fatalf("the service saw %s, want %s", got, tc.caller)
			}
		})
	}
}
