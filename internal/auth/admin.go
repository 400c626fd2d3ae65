package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// AdminKeyVariable holds the private key operators' tools (`sagaflow seed`, `sagaflow
// audit`) call the services with: a JWK of the admin identity.
const AdminKeyVariable = "SAGAFLOW_ADMIN_KEY"

// AdminConfig is how an operators' tool calls the services, read from the environment.
type AdminConfig struct {
	Key      string `envconfig:"SAGAFLOW_ADMIN_KEY"`
	Insecure bool   `envconfig:"SAGAFLOW_INSECURE"`
}

// Validate names the variable whose value cannot work.
func (c AdminConfig) Validate() error {
	_, err := c.signer()
	return err
}

// signer reads the key; nil in insecure mode without one.
func (c AdminConfig) signer() (*Signer, error) {
	if strings.TrimSpace(c.Key) == "" {
		if c.Insecure {
			return nil, nil
		}
		return nil, fmt.Errorf("%s must hold the private key of the %s identity (`sagaflow keys new --identity %s`; set %s=true to run without authentication, locally only)",
			AdminKeyVariable, IdentityAdmin, IdentityAdmin, InsecureVariable)
	}
	s, err := NewSigner([]byte(c.Key))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", AdminKeyVariable, err)
	}
	if s.Identity() != IdentityAdmin {
		return nil, errors.New(AdminKeyVariable + " holds a key of " + s.Identity() + ", not of " + IdentityAdmin)
	}
	return s, nil
}

// Client returns base calling the service named audience as admin; in insecure mode
// without a key, base itself, whose calls carry no token.
func (c AdminConfig) Client(base *http.Client, audience string) (*http.Client, error) {
	s, err := c.signer()
	if err != nil || s == nil {
		return base, err
	}
	return s.Client(base, audience), nil
}
