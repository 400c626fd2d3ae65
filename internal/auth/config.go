package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// InsecureVariable switches authentication off in every component that reads it. For
// local use only: each component logs a warning at every start while it is set.
const InsecureVariable = "SAGAFLOW_INSECURE"

// WarnInsecure logs, at every start, that component runs without authentication.
func WarnInsecure(logger *slog.Logger, component string) {
	// The component is named in the message: the logger already carries it as a field.
	logger.Warn("AUTHENTICATION IS OFF in " + component + ": " + InsecureVariable +
		" is set; anyone who reaches it may call it. Local use only.")
}

// OIDCConfig is how the public API (and the codec server) verifies OAuth 2 / OIDC access
// tokens, read from the environment.
type OIDCConfig struct {
	// Issuer is the exact iss of accepted tokens, e.g. https://login.example.com/.
	Issuer string `envconfig:"AUTH_ISSUER"`
	// Audience is the aud a token must carry: this API's identifier at the issuer.
	Audience string `envconfig:"AUTH_AUDIENCE"`
	// JWKSURL is where the issuer publishes its keys; empty reads jwks_uri from the
	// issuer's /.well-known/openid-configuration.
	JWKSURL string `envconfig:"AUTH_JWKS_URL"`
	// Algorithms are the accepted signature algorithms (asymmetric only).
	Algorithms []string `envconfig:"AUTH_ALGORITHMS" default:"RS256,PS256,ES256,EdDSA"`
	// ClockSkew is the leeway on exp and nbf for clocks that disagree a little.
	ClockSkew time.Duration `envconfig:"AUTH_CLOCK_SKEW" default:"30s"`
	// JWKSRefresh is how often the keys are fetched again; a token naming an unknown key
	// fetches them at once (at most every JWKSMinRefresh), which is how a new key is picked
	// up at rotation.
	JWKSRefresh    time.Duration `envconfig:"AUTH_JWKS_REFRESH" default:"15m"`
	JWKSMinRefresh time.Duration `envconfig:"AUTH_JWKS_MIN_REFRESH" default:"10s"`
}

// Configured reports whether any of the variables is set.
func (c OIDCConfig) Configured() bool {
	return c.Issuer != "" || c.Audience != "" || c.JWKSURL != ""
}

// Validate names the first variable whose value cannot work.
func (c OIDCConfig) Validate() error {
	switch {
	case !validURL(c.Issuer):
		return fmt.Errorf("AUTH_ISSUER must be the issuer's http(s) URL (set %s=true to run without authentication, locally only)", InsecureVariable)
	case strings.TrimSpace(c.Audience) == "":
		return errors.New("AUTH_AUDIENCE must name this API's audience")
	case c.JWKSURL != "" && !validURL(c.JWKSURL):
		return errors.New("AUTH_JWKS_URL must be an http(s) URL")
	case c.ClockSkew < 0 || c.ClockSkew > 5*time.Minute:
		return fmt.Errorf("AUTH_CLOCK_SKEW must be between 0 and 5m, got %s", c.ClockSkew)
	case c.JWKSRefresh < time.Minute:
		return fmt.Errorf("AUTH_JWKS_REFRESH must be at least 1m, got %s", c.JWKSRefresh)
	case c.JWKSMinRefresh < time.Second || c.JWKSMinRefresh > c.JWKSRefresh:
		return fmt.Errorf("AUTH_JWKS_MIN_REFRESH must be between 1s and AUTH_JWKS_REFRESH, got %s", c.JWKSMinRefresh)
	}
	if _, err := parseAlgorithms(c.Algorithms); err != nil {
		return fmt.Errorf("AUTH_ALGORITHMS: %w", err)
	}
	return nil
}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// NewOIDCVerifier returns a verifier of the issuer's access tokens. It fetches the keys
// once (a failure is logged, and fetching is tried again on the first token) and
// refreshes them in the background until ctx ends.
func NewOIDCVerifier(ctx context.Context, c OIDCConfig, httpClient *http.Client, logger *slog.Logger) (*Verifier, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	algs, _ := parseAlgorithms(c.Algorithms)
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	jwksURL := c.JWKSURL
	if jwksURL == "" {
		var err error
		if jwksURL, err = discoverJWKS(ctx, httpClient, c.Issuer); err != nil {
			return nil, err
		}
	}
	keys := newRemoteKeys(jwksURL, httpClient, c.JWKSMinRefresh, logger)
	if err := keys.refresh(ctx, true); err != nil {
		logger.Warn("the issuer's keys could not be fetched at start; trying again on the first token", "error", err.Error())
	}
	go keys.run(ctx, c.JWKSRefresh)
	return &Verifier{keys: keys, algs: algs, issuer: c.Issuer, audience: c.Audience, skew: c.ClockSkew, now: time.Now}, nil
}

// discoverJWKS reads jwks_uri from the issuer's OpenID configuration.
func discoverJWKS(ctx context.Context, httpClient *http.Client, issuer string) (string, error) {
	u := strings.TrimRight(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("read the issuer's configuration (or set AUTH_JWKS_URL): %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %d (or set AUTH_JWKS_URL)", u, resp.StatusCode)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("%s: %w", u, err)
	}
	if doc.Issuer != issuer || !validURL(doc.JWKSURI) {
		return "", fmt.Errorf("%s names issuer %q and jwks_uri %q; AUTH_ISSUER is %q", u, doc.Issuer, doc.JWKSURI, issuer)
	}
	return doc.JWKSURI, nil
}

// Ready reports whether the verifier holds keys to check tokens with.
func (v *Verifier) Ready(ctx context.Context) error {
	r, ok := v.keys.(*remoteKeys)
	if !ok {
		return nil
	}
	r.mu.Lock()
	loaded := r.set != nil
	r.mu.Unlock()
	if loaded {
		return nil
	}
	return r.refresh(ctx, false)
}

// NewServiceVerifier returns a verifier of service tokens addressed to the service named
// audience, signed by one of the trusted public keys (a JWKS document whose key ids are
// "<identity>/<version>").
func NewServiceVerifier(trustedJWKS []byte, audience string) (*Verifier, error) {
	set, err := ParseTrustedKeys(trustedJWKS)
	if err != nil {
		return nil, err
	}
	algs, _ := parseAlgorithms([]string{"EdDSA", "ES256"})
	return &Verifier{
		keys: staticKeys{set: set}, algs: algs, audience: audience,
		skew: 30 * time.Second, maxLifetime: MaxServiceTokenLifetime, service: true, now: time.Now,
		seen: newSeenTokens(maxSeenTokens),
	}, nil
}

// ParseTrustedKeys reads and checks a set of service callers' public keys.
func ParseTrustedKeys(raw []byte) (jwk.Set, error) {
	set, err := jwk.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("SERVICE_AUTH_TRUSTED_KEYS: %w", err)
	}
	if set.Len() == 0 {
		return nil, errors.New("SERVICE_AUTH_TRUSTED_KEYS holds no key")
	}
	if err := checkPublicOnly(set); err != nil {
		return nil, fmt.Errorf("SERVICE_AUTH_TRUSTED_KEYS: %w", err)
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid, _ := k.KeyID()
		if !knownIdentity(identityOfKeyID(kid)) {
			return nil, fmt.Errorf("SERVICE_AUTH_TRUSTED_KEYS: key %q does not name a known identity (<identity>/<version>, identity one of %s)", kid, strings.Join(Identities(), ", "))
		}
	}
	return set, nil
}
