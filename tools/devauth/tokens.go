package devauth

import (
	"sync"
	"time"
)

// Tokens mints an issuer's access tokens for load generators and test clients, which send
// many requests as a few callers: each caller's token is minted once and reused until
// shortly before it expires.
type Tokens struct {
	issuer *Issuer
	ttl    time.Duration

	mu     sync.Mutex
	byWhom map[string]minted
}

type minted struct {
	raw     string
	renewAt time.Time
}

// NewTokens returns a token source over issuer; each token lives an hour.
func NewTokens(issuer *Issuer) *Tokens {
	return &Tokens{issuer: issuer, ttl: time.Hour, byWhom: map[string]minted{}}
}

// Customer returns a token of the customer id, with CustomerScopes.
func (t *Tokens) Customer(id string) (string, error) {
	return t.token("customer:"+id, Token{Subject: id, Scopes: CustomerScopes})
}

// Operator returns a token of the operator name, with OperatorScopes.
func (t *Tokens) Operator(name string) (string, error) {
	return t.token("operator:"+name, Token{Subject: name, Scopes: OperatorScopes})
}

func (t *Tokens) token(key string, tok Token) (string, error) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if m, ok := t.byWhom[key]; ok && now.Before(m.renewAt) {
		return m.raw, nil
	}
	tok.TTL, tok.IssuedAt = t.ttl, now
	raw, err := t.issuer.Mint(tok)
	if err != nil {
		return "", err
	}
	// Renewed with a sixth of its life left, so no request carries one about to expire.
	t.byWhom[key] = minted{raw: raw, renewAt: now.Add(t.ttl * 5 / 6)}
	return raw, nil
}
