// Package testkeys gives tests a service key for every identity (tools/devauth): the guard
// a service under test checks its callers with, and HTTP clients that call a service as any
// identity, so tests run the services' real authorization.
package testkeys

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/tools/devauth"
)

// Keys are one private key per identity and the public set the services trust.
type Keys struct {
	devauth.ServiceKeys
	signers map[string]*auth.Signer
}

// New makes a key for every identity.
func New(t testing.TB) *Keys {
	t.Helper()
	keys, err := devauth.NewServiceKeys()
	if err != nil {
		t.Fatal(err)
	}
	k := &Keys{ServiceKeys: keys, signers: map[string]*auth.Signer{}}
	for id, raw := range keys.Private {
		if k.signers[id], err = auth.NewSigner(raw); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// Guard is what the service named service checks its callers with: tokens addressed to it
// and signed by any identity's key; each operation then accepts the identities it names.
func (k *Keys) Guard(t testing.TB, service string, logger *slog.Logger) *auth.Guard {
	t.Helper()
	v, err := auth.NewServiceVerifier(k.Trusted, service)
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewGuard(v, logger)
}

// Signer signs as identity.
func (k *Keys) Signer(identity string) *auth.Signer {
	s, ok := k.signers[identity]
	if !ok {
		panic("testkeys: no key for identity " + identity)
	}
	return s
}

// Client is base calling the service named service as identity; a nil base is a new
// svcclient.NewHTTPClient. Clients of one base share its connections.
func (k *Keys) Client(identity, service string, base *http.Client) *http.Client {
	if base == nil {
		base = svcclient.NewHTTPClient()
	}
	return k.Signer(identity).Client(base, service)
}

// URLs are where the three services answer; an empty one has no client.
type URLs struct {
	Order, Payment, Inventory string
}

// Clients are typed clients of the three services, calling as one identity.
type Clients struct {
	Orders    *orderclient.Client
	Payments  *payclient.Client
	Inventory *invclient.Client
}

// ClientsAs returns clients of the services at urls calling as identity over base (nil: a
// new svcclient.NewHTTPClient), each call bounded by timeout.
func (k *Keys) ClientsAs(identity string, urls URLs, base *http.Client, timeout time.Duration) Clients {
	if base == nil {
		base = svcclient.NewHTTPClient()
	}
	var c Clients
	if urls.Order != "" {
		c.Orders = orderclient.New(urls.Order, k.Client(identity, orderclient.ServiceName, base), timeout)
	}
	if urls.Payment != "" {
		c.Payments = payclient.New(urls.Payment, k.Client(identity, payclient.ServiceName, base), timeout)
	}
	if urls.Inventory != "" {
		c.Inventory = invclient.New(urls.Inventory, k.Client(identity, invclient.ServiceName, base), timeout)
	}
	return c
}
