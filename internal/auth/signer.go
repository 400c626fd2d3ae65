package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Service tokens live serviceTokenTTL and are reused until serviceTokenRenew before they
// expire: one signature per caller, service and few minutes, not per call.
const (
	serviceTokenTTL   = 5 * time.Minute
	serviceTokenRenew = time.Minute
	// MaxServiceTokenLifetime is the longest exp-iat a service accepts.
	MaxServiceTokenLifetime = 10 * time.Minute
)

// Signer issues a component's service tokens with its private key.
type Signer struct {
	identity string
	key      jwk.Key
	alg      jwa.SignatureAlgorithm
	now      func() time.Time

	mu     sync.Mutex
	tokens map[string]cachedToken // by audience
}

type cachedToken struct {
	raw     string
	renewAt time.Time
}

// NewSigner reads a private key (a JWK document whose kid is "<identity>/<version>").
func NewSigner(privateJWK []byte) (*Signer, error) {
	key, err := jwk.ParseKey(privateJWK)
	if err != nil {
		return nil, fmt.Errorf("service key: %w", err)
	}
	return signerFor(key)
}

func signerFor(key jwk.Key) (*Signer, error) {
	kid, ok := key.KeyID()
	if !ok || kid == "" {
		return nil, errors.New("service key: no kid")
	}
	identity := identityOfKeyID(kid)
	if !knownIdentity(identity) {
		return nil, fmt.Errorf("service key %s: unknown identity %q", kid, identity)
	}
	if private, err := jwk.IsPrivateKey(key); err != nil {
		return nil, fmt.Errorf("service key %s: %w", kid, err)
	} else if !private {
		return nil, fmt.Errorf("service key %s: this is a public key; the caller needs its private key", kid)
	}
	var alg jwa.SignatureAlgorithm
	switch key.KeyType() {
	case jwa.OKP():
		alg = jwa.EdDSA()
	case jwa.EC():
		alg = jwa.ES256()
	default:
		return nil, fmt.Errorf("service key %s: use an Ed25519 (OKP) or P-256 (EC) key", kid)
	}
	return &Signer{identity: identity, key: key, alg: alg, now: time.Now, tokens: map[string]cachedToken{}}, nil
}

// ParseSigners reads one private JWK, or a JWKS of private keys (a process that hosts
// several worker pools holds one key per pool's identity), and returns them by identity.
func ParseSigners(raw []byte) (map[string]*Signer, error) {
	var probe struct {
		Keys json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("service keys: not JSON: %w", err)
	}
	out := map[string]*Signer{}
	if probe.Keys == nil {
		s, err := NewSigner(raw)
		if err != nil {
			return nil, err
		}
		out[s.identity] = s
		return out, nil
	}
	set, err := jwk.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("service keys: %w", err)
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		s, err := signerFor(k)
		if err != nil {
			return nil, err
		}
		if _, dup := out[s.identity]; dup {
			return nil, fmt.Errorf("service keys: two keys for %s", s.identity)
		}
		out[s.identity] = s
	}
	return out, nil
}

// Identity is who this signer speaks for.
func (s *Signer) Identity() string { return s.identity }

// Token returns a service token for the service named audience.
func (s *Signer) Token(audience string) (string, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[audience]; ok && now.Before(t.renewAt) {
		return t.raw, nil
	}
	tok, err := jwt.NewBuilder().
		Issuer(s.identity).
		Subject(s.identity).
		Audience([]string{audience}).
		IssuedAt(now).
		NotBefore(now).
		Expiration(now.Add(serviceTokenTTL)).
		Build()
	if err != nil {
		return "", err
	}
	raw, err := jwt.Sign(tok, jwt.WithKey(s.alg, s.key))
	if err != nil {
		return "", fmt.Errorf("sign a service token: %w", err)
	}
	s.tokens[audience] = cachedToken{raw: string(raw), renewAt: now.Add(serviceTokenTTL - serviceTokenRenew)}
	return string(raw), nil
}

// Transport adds this signer's token for audience to every request sent through base.
func (s *Signer) Transport(base http.RoundTripper, audience string) http.RoundTripper {
	return &bearerTransport{base: base, signer: s, audience: audience}
}

// Client returns an HTTP client over base's transport that authenticates as this signer to
// the service audience. Clients made from one base share its connections.
func (s *Signer) Client(base *http.Client, audience string) *http.Client {
	c := *base
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = s.Transport(rt, audience)
	return &c
}

type bearerTransport struct {
	base     http.RoundTripper
	signer   *Signer
	audience string
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	raw, err := t.signer.Token(t.audience)
	if err != nil {
		return nil, err
	}
	// RoundTrippers must not change the caller's request.
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+raw)
	return t.base.RoundTrip(r)
}
