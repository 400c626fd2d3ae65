// Package devauth is a local development issuer: it keeps an RSA signing key on disk,
// serves its OpenID configuration and JWKS, and mints customer, operator and admin access
// tokens (`sagaflow token`). It also makes the per-identity service keys `make run` hands
// to each component. Nothing here runs in production, where a real identity provider
// issues the tokens and a secret store holds the service keys.
package devauth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/sagaflow/sagaflow/internal/auth"
)

// DefaultAudience is the audience `make run` configures the API with.
const DefaultAudience = "sagaflow-api"

// Issuer signs access tokens the way an OIDC provider would.
type Issuer struct {
	URL      string
	Audience string
	key      jwk.Key
	public   jwk.Set
}

// keyFile holds the issuer's private key inside the state folder.
const keyFile = "issuer-key.json"

// NewIssuer makes an issuer with a fresh key, kept in memory (tests).
func NewIssuer(url, audience string) (*Issuer, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	return fromKey(url, audience, key)
}

// LoadIssuer reads the issuer's key from dir, creating it on first use, so tokens minted
// by `sagaflow token` verify at the API `make run` started.
func LoadIssuer(dir, url, audience string) (*Issuer, error) {
	path := filepath.Join(dir, keyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err := newKey()
		if err != nil {
			return nil, err
		}
		if raw, err = json.Marshal(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	key, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fromKey(url, audience, key)
}

func newKey() (jwk.Key, error) {
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	key, err := jwk.Import(raw)
	if err != nil {
		return nil, err
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	if err := key.Set(jwk.KeyIDKey, "dev-"+hex.EncodeToString(suffix)); err != nil {
		return nil, err
	}
	if err := key.Set(jwk.AlgorithmKey, jwa.RS256()); err != nil {
		return nil, err
	}
	return key, nil
}

func fromKey(url, audience string, key jwk.Key) (*Issuer, error) {
	pub, err := key.PublicKey()
	if err != nil {
		return nil, err
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, err
	}
	return &Issuer{URL: url, Audience: audience, key: key, public: set}, nil
}

// Token is what to put in a minted access token. Zero fields take the issuer's values
// and a one-hour lifetime from now.
type Token struct {
	Subject   string
	Scopes    []string
	TTL       time.Duration
	IssuedAt  time.Time
	NotBefore time.Time
	Issuer    string
	Audience  string
}

// Scopes of each kind of caller `sagaflow token` mints for.
var (
	CustomerScopes = []string{auth.ScopeOrdersRead, auth.ScopeOrdersWrite}
	OperatorScopes = []string{auth.ScopeOrdersRead, auth.ScopeOrdersReadAll, auth.ScopeOrdersApprove}
)

// Mint signs t.
func (i *Issuer) Mint(t Token) (string, error) {
	if t.Subject == "" {
		return "", errors.New("a token needs a subject")
	}
	now := t.IssuedAt
	if now.IsZero() {
		now = time.Now()
	}
	if t.TTL == 0 {
		t.TTL = time.Hour
	}
	iss, aud := i.URL, i.Audience
	if t.Issuer != "" {
		iss = t.Issuer
	}
	if t.Audience != "" {
		aud = t.Audience
	}
	b := jwt.NewBuilder().Issuer(iss).Subject(t.Subject).Audience([]string{aud}).
		IssuedAt(now).Expiration(now.Add(t.TTL))
	if !t.NotBefore.IsZero() {
		b = b.NotBefore(t.NotBefore)
	}
	if len(t.Scopes) > 0 {
		scope := ""
		for n, s := range t.Scopes {
			if n > 0 {
				scope += " "
			}
			scope += s
		}
		b = b.Claim("scope", scope)
	}
	tok, err := b.Build()
	if err != nil {
		return "", err
	}
	raw, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), i.key))
	if err != nil {
		return "", err
	}
	return string(raw), nil
}

// JWKS is the issuer's public key set document.
func (i *Issuer) JWKS() ([]byte, error) { return json.Marshal(i.public) }

// JWKSPath and ConfigurationPath are where Handler serves the key set and the OpenID
// configuration.
const (
	JWKSPath          = "/.well-known/jwks.json"
	ConfigurationPath = "/.well-known/openid-configuration"
)

// Handler serves the issuer's OpenID configuration and JWKS, which is all a resource
// server reads from an issuer.
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+JWKSPath, func(w http.ResponseWriter, _ *http.Request) {
		body, err := i.JWKS()
		if err != nil {
			http.Error(w, "key set unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET "+ConfigurationPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                i.URL,
			"jwks_uri":                              i.URL + JWKSPath,
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	return mux
}

// ServiceKeys are the private key of every service identity and the public set the
// services trust, as `make run` hands them to the components.
type ServiceKeys struct {
	Private map[string][]byte // by identity
	Trusted []byte            // JWKS of the public keys
}

// serviceKeysFile keeps the service keys inside the state folder between runs.
const serviceKeysFile = "service-keys.json"

// LoadServiceKeys reads the service keys from dir, making them on first use.
func LoadServiceKeys(dir string) (ServiceKeys, error) {
	path := filepath.Join(dir, serviceKeysFile)
	var keys ServiceKeys
	raw, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(raw, &keys); err != nil {
			return keys, fmt.Errorf("%s: %w", path, err)
		}
		return keys, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return keys, err
	}
	if keys, err = NewServiceKeys(); err != nil {
		return keys, err
	}
	if raw, err = json.Marshal(keys); err != nil {
		return keys, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return keys, err
	}
	return keys, os.WriteFile(path, raw, 0o600)
}

// NewServiceKeys makes a key for every identity.
func NewServiceKeys() (ServiceKeys, error) {
	keys := ServiceKeys{Private: map[string][]byte{}}
	var public [][]byte
	for _, id := range auth.Identities() {
		k, err := auth.GenerateServiceKey(id, time.Now())
		if err != nil {
			return keys, err
		}
		keys.Private[id] = k.Private
		public = append(public, k.Public)
	}
	trusted, err := auth.PublicSet(public...)
	if err != nil {
		return keys, err
	}
	keys.Trusted = trusted
	return keys, nil
}

// PrivateSet is the JWKS of the private keys of identities: what a process hosting
// several worker pools is given.
func (k ServiceKeys) PrivateSet(identities ...string) ([]byte, error) {
	set := jwk.NewSet()
	for _, id := range identities {
		key, err := jwk.ParseKey(k.Private[id])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		if err := set.AddKey(key); err != nil {
			return nil, err
		}
	}
	return json.Marshal(set)
}

// The local issuer `make run` serves, and the folder under the state folder its key and
// the service keys live in: `sagaflow token` signs with the same key.
const (
	LocalIssuerAddr = "127.0.0.1:8090"
	LocalIssuerURL  = "http://" + LocalIssuerAddr
	StateSubdir     = "auth"
)
