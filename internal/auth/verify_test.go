package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/sagaflow/sagaflow/internal/logging"
)

// testIssuer serves a JWKS whose keys a test can rotate.
type testIssuer struct {
	srv     *httptest.Server
	keys    atomic.Pointer[jwk.Set]
	fetches atomic.Int64
}

func newTestIssuer(t *testing.T, keys ...jwk.Key) *testIssuer {
	t.Helper()
	ti := &testIssuer{}
	ti.publish(t, keys...)
	ti.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ti.fetches.Add(1)
		_ = json.NewEncoder(w).Encode(*ti.keys.Load())
	}))
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIssuer) publish(t *testing.T, keys ...jwk.Key) {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		pk, err := k.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(pk); err != nil {
			t.Fatal(err)
		}
	}
	ti.keys.Store(&set)
}

func rsaKey(t *testing.T, kid string) jwk.Key {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, kid)
	_ = k.Set(jwk.AlgorithmKey, jwa.RS256())
	return k
}

const (
	testIssuerURL = "https://issuer.test/"
	testAudience  = "sagaflow-api"
)

type claims struct {
	iss, aud, sub, scope string
	iat, nbf, exp        time.Time
}

func goodClaims(now time.Time) claims {
	return claims{iss: testIssuerURL, aud: testAudience, sub: "cust-42", scope: "orders:read orders:write",
		iat: now, exp: now.Add(time.Hour)}
}

func sign(t *testing.T, c claims, alg jwa.SignatureAlgorithm, key any) string {
	t.Helper()
	b := jwt.NewBuilder().Issuer(c.iss).Audience([]string{c.aud}).Subject(c.sub).IssuedAt(c.iat).Expiration(c.exp)
	if !c.nbf.IsZero() {
		b = b.NotBefore(c.nbf)
	}
	if c.scope != "" {
		b = b.Claim("scope", c.scope)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Sign(tok, jwt.WithKey(alg, key))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// unsigned builds an "alg":"none" token by hand: jwx refuses to sign one.
func unsigned(t *testing.T, c claims, kid string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	body, _ := json.Marshal(map[string]any{"iss": c.iss, "aud": c.aud, "sub": c.sub, "exp": c.exp.Unix(), "iat": c.iat.Unix(), "scope": c.scope})
	return enc.EncodeToString(header) + "." + enc.EncodeToString(body) + "."
}

// hmacWithPublicKey forges an HS256 token keyed with the RSA public key's bytes: the
// algorithm-confusion attack.
func hmacWithPublicKey(t *testing.T, c claims, pub jwk.Key, kid string) string {
	t.Helper()
	raw, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = hk.Set(jwk.KeyIDKey, kid)
	return sign(t, c, jwa.HS256(), hk)
}

func TestOIDCVerifier(t *testing.T) {
	now := time.Now()
	key := rsaKey(t, "k1")
	other := rsaKey(t, "k1") // same kid, other key: a forged signature
	pub, _ := key.PublicKey()
	ecRaw, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ti := newTestIssuer(t, key)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := NewOIDCVerifier(ctx, OIDCConfig{
		Issuer: testIssuerURL, Audience: testAudience, JWKSURL: ti.srv.URL,
		Algorithms: []string{"RS256"}, ClockSkew: 30 * time.Second, JWKSRefresh: time.Hour, JWKSMinRefresh: time.Second,
	}, nil, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*claims)) claims { c := goodClaims(now); f(&c); return c }
	cases := []struct {
		name   string
		token  string
		reason string // "" = accepted
	}{
		{"valid", sign(t, goodClaims(now), jwa.RS256(), key), ""},
		{"within skew after expiry", sign(t, with(func(c *claims) { c.exp = now.Add(-10 * time.Second) }), jwa.RS256(), key), ""},
		{"missing", "", ReasonMissing},
		{"malformed", "not-a-token", ReasonMalformed},
		{"garbage in three parts", "a.b.c", ReasonMalformed},
		{"bad signature", sign(t, goodClaims(now), jwa.RS256(), other), ReasonSignature},
		{"expired", sign(t, with(func(c *claims) { c.exp = now.Add(-2 * time.Minute) }), jwa.RS256(), key), ReasonExpired},
		{"not yet valid", sign(t, with(func(c *claims) { c.nbf = now.Add(5 * time.Minute) }), jwa.RS256(), key), ReasonNotYetValid},
		{"wrong issuer", sign(t, with(func(c *claims) { c.iss = "https://evil.test/" }), jwa.RS256(), key), ReasonIssuer},
		{"wrong audience", sign(t, with(func(c *claims) { c.aud = "another-api" }), jwa.RS256(), key), ReasonAudience},
		{"alg none", unsigned(t, goodClaims(now), "k1"), ReasonAlgorithm},
		{"HS256 keyed with the public key", hmacWithPublicKey(t, goodClaims(now), pub, "k1"), ReasonAlgorithm},
		{"algorithm not allowed", sign(t, goodClaims(now), jwa.ES256(), ecRaw), ReasonAlgorithm},
		{"no subject", sign(t, with(func(c *claims) { c.sub = "" }), jwa.RS256(), key), ReasonClaims},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tc.token)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if p.Subject != "cust-42" || !p.Has(ScopeOrdersWrite) || p.Has(ScopeOrdersApprove) || p.Service {
					t.Fatalf("principal = %+v", p)
				}
				return
			}
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != tc.reason {
				t.Fatalf("err = %v, want reason %q", err, tc.reason)
			}
		})
	}
}

func TestOIDCVerifierPicksUpRotatedKey(t *testing.T) {
	now := time.Now()
	k1, k2 := rsaKey(t, "k1"), rsaKey(t, "k2")
	ti := newTestIssuer(t, k1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := NewOIDCVerifier(ctx, OIDCConfig{
		Issuer: testIssuerURL, Audience: testAudience, JWKSURL: ti.srv.URL,
		Algorithms: []string{"RS256"}, JWKSRefresh: time.Hour, JWKSMinRefresh: time.Second,
	}, nil, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, sign(t, goodClaims(now), jwa.RS256(), k1)); err != nil {
		t.Fatal(err)
	}
	// The issuer rotates: k2 signs from now on, k1 is still published for a while.
	ti.publish(t, k1, k2)
	time.Sleep(1100 * time.Millisecond) // past the minimum refresh interval
	before := ti.fetches.Load()
	if _, err := v.Verify(ctx, sign(t, goodClaims(now), jwa.RS256(), k2)); err != nil {
		t.Fatalf("the new key was not fetched: %v", err)
	}
	if ti.fetches.Load() != before+1 {
		t.Fatalf("fetches = %d, want one more than %d", ti.fetches.Load(), before)
	}
	// A burst of tokens naming unknown keys fetches at most once per minimum interval.
	unknown := sign(t, goodClaims(now), jwa.RS256(), rsaKey(t, "k-unknown"))
	before = ti.fetches.Load()
	for range 20 {
		if _, err := v.Verify(ctx, unknown); err == nil {
			t.Fatal("a token signed by an unpublished key was accepted")
		}
	}
	if got := ti.fetches.Load() - before; got > 1 {
		t.Fatalf("unknown kids caused %d fetches, want at most 1", got)
	}
	// k1 is withdrawn: once the keys are fetched again, its tokens are refused.
	ti.publish(t, k2)
	if err := v.keys.(*remoteKeys).refresh(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, sign(t, goodClaims(now), jwa.RS256(), k1)); err == nil {
		t.Fatal("a withdrawn key still verifies")
	}
}

// TestKnownKeysVerifyDuringAFetch: while the key set is fetched again (a token naming an
// unknown key, or the scheduled refresh) and the issuer is slow to answer, tokens of keys
// already known still verify at once.
func TestKnownKeysVerifyDuringAFetch(t *testing.T) {
	now := time.Now()
	k1 := rsaKey(t, "k1")
	ti := newTestIssuer(t, k1)
	release := make(chan struct{})
	var slow, hanging atomic.Bool
	slowSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			hanging.Store(true)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		ti.srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(slowSrv.Close)
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := NewOIDCVerifier(ctx, OIDCConfig{
		Issuer: testIssuerURL, Audience: testAudience, JWKSURL: slowSrv.URL,
		Algorithms: []string{"RS256"}, JWKSRefresh: time.Hour, JWKSMinRefresh: time.Second,
	}, nil, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	unknown := sign(t, goodClaims(now), jwa.RS256(), rsaKey(t, "k-unknown"))
	known := sign(t, goodClaims(now), jwa.RS256(), k1)
	slow.Store(true)
	time.Sleep(1100 * time.Millisecond) // past the minimum refresh interval
	// An unknown key starts a fetch that hangs.
	go func() { _, _ = v.Verify(ctx, unknown) }()
	for !hanging.Load() {
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, known)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a known key's token: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a known key's token waited for the fetch")
	}
}

func TestServiceTokens(t *testing.T) {
	saga, err := GenerateServiceKey(IdentitySagaWorker, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	api, err := GenerateServiceKey(IdentityAPI, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := GenerateServiceKey(IdentityAPI, time.Now()) // not in the trusted set
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := PublicSet(saga.Public, api.Public)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewServiceVerifier(trusted, "payment")
	if err != nil {
		t.Fatal(err)
	}
	sagaSigner, err := NewSigner(saga.Private)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sagaSigner.Token("payment")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := sagaSigner.Token("payment")
	if again != tok {
		t.Fatal("a fresh token was signed for every call")
	}
	p, err := v.Verify(context.Background(), tok)
	if err != nil || p.Subject != IdentitySagaWorker || !p.Service {
		t.Fatalf("principal %+v, err %v", p, err)
	}

	forOrder, _ := sagaSigner.Token("order")
	strangerSigner, _ := NewSigner(stranger.Private)
	strangerTok, _ := strangerSigner.Token("payment")
	// A key of the api identity signing a token that claims to be the saga worker.
	apiKey, _ := jwk.ParseKey(api.Private)
	now := time.Now()
	impostor := sign(t, claims{iss: IdentitySagaWorker, sub: IdentitySagaWorker, aud: "payment", iat: now, exp: now.Add(time.Minute)}, jwa.EdDSA(), apiKey)
	longLived := sign(t, claims{iss: IdentityAPI, sub: IdentityAPI, aud: "payment", iat: now, exp: now.Add(time.Hour)}, jwa.EdDSA(), apiKey)
	for name, c := range map[string]struct{ token, reason string }{
		"another service's audience": {forOrder, ReasonAudience},
		"untrusted key":              {strangerTok, ReasonUnknownKey},
		"key of another identity":    {impostor, ReasonIssuer},
		"longer than the rule":       {longLived, ReasonLifetime},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), c.token)
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != c.reason {
				t.Fatalf("err = %v, want reason %q", err, c.reason)
			}
		})
	}

	if _, err := NewServiceVerifier([]byte(`{"keys":[`+string(saga.Private)+`]}`), "payment"); err == nil || !strings.Contains(err.Error(), "private") {
		t.Fatalf("a trusted set with a private key was accepted: %v", err)
	}
}
