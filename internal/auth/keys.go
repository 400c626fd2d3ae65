package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// remoteKeys is an issuer's JWKS, fetched at start, refreshed on an interval, and fetched
// again (at most every minRefresh) when a token names a key it does not hold yet, which is
// how a rotated-in key is picked up before the next scheduled refresh.
type remoteKeys struct {
	url        string
	http       *http.Client
	logger     *slog.Logger
	minRefresh time.Duration

	// fetching serializes fetches; mu guards the fields below and is never held across a
	// fetch, so tokens of known keys verify while the set is being fetched again.
	fetching  sync.Mutex
	mu        sync.Mutex
	set       jwk.Set
	fetchedAt time.Time
	lastTry   time.Time
}

func newRemoteKeys(url string, httpClient *http.Client, minRefresh time.Duration, logger *slog.Logger) *remoteKeys {
	return &remoteKeys{url: url, http: httpClient, minRefresh: minRefresh, logger: logger}
}

// maxJWKSBytes bounds the key set read from the issuer.
const maxJWKSBytes = 1 << 20

func (r *remoteKeys) fetch(ctx context.Context) (jwk.Set, error) {
	set, err := jwk.Fetch(ctx, r.url, jwk.WithHTTPClient(r.http), jwk.WithMaxFetchBodySize(maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("fetch the issuer's keys from %s: %w", r.url, err)
	}
	if err := checkPublicOnly(set); err != nil {
		return nil, fmt.Errorf("keys from %s: %w", r.url, err)
	}
	return set, nil
}

// refresh fetches the set unless it was tried less than minRefresh ago (force skips the
// wait for the scheduled refresh only). Concurrent callers wait for one fetch.
func (r *remoteKeys) refresh(ctx context.Context, force bool) error {
	r.fetching.Lock()
	defer r.fetching.Unlock()
	r.mu.Lock()
	if !force && time.Since(r.lastTry) < r.minRefresh {
		r.mu.Unlock()
		return nil
	}
	r.lastTry = time.Now()
	r.mu.Unlock()
	set, err := r.fetch(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.set, r.fetchedAt = set, time.Now()
	r.mu.Unlock()
	return nil
}

func (r *remoteKeys) lookup(ctx context.Context, kid string) (jwk.Key, error) {
	r.mu.Lock()
	set := r.set
	r.mu.Unlock()
	if set != nil {
		if k, ok := set.LookupKeyID(kid); ok {
			return k, nil
		}
	}
	if err := r.refresh(ctx, false); err != nil {
		r.logger.WarnContext(ctx, "issuer keys unavailable", "error", err.Error())
		return nil, err
	}
	r.mu.Lock()
	set = r.set
	r.mu.Unlock()
	if set != nil {
		if k, ok := set.LookupKeyID(kid); ok {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w %q", errUnknownKey, kid)
}

// run refreshes the set every interval until ctx ends.
func (r *remoteKeys) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.refresh(ctx, true); err != nil {
				r.logger.WarnContext(ctx, "refresh the issuer's keys", "error", err.Error())
			}
		}
	}
}

// staticKeys is a key set given in configuration: the service callers' public keys.
type staticKeys struct{ set jwk.Set }

func (s staticKeys) lookup(_ context.Context, kid string) (jwk.Key, error) {
	if k, ok := s.set.LookupKeyID(kid); ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w %q", errUnknownKey, kid)
}

// checkPublicOnly refuses a verification set holding a private or symmetric key: the set
// is meant to be public, and an "oct" key would let HMAC tokens through.
func checkPublicOnly(set jwk.Set) error {
	for i := range set.Len() {
		k, _ := set.Key(i)
		if k.KeyType() == jwa.OctetSeq() {
			return errors.New("a symmetric (oct) key is not allowed")
		}
		if private, err := jwk.IsPrivateKey(k); err != nil {
			return err
		} else if private {
			return errors.New("the set holds a private key; give only public keys")
		}
	}
	return nil
}

// Service key ids are "<identity>/<version>": the identity part is who the key belongs to,
// so a service token's iss and sub must name it.
const keyIDSeparator = "/"

func identityOfKeyID(kid string) string {
	identity, _, _ := strings.Cut(kid, keyIDSeparator)
	return identity
}

// ServiceKey is a freshly generated service key pair, as JWK documents.
type ServiceKey struct {
	KeyID   string
	Private []byte // the caller's secret: {"kty":"OKP","crv":"Ed25519",...,"d":...}
	Public  []byte // what services trust: the same key without "d"
}

// GenerateServiceKey makes an Ed25519 signing key for identity, with a key id that tells
// versions apart (its date and a random suffix).
func GenerateServiceKey(identity string, now time.Time) (ServiceKey, error) {
	if !knownIdentity(identity) {
		return ServiceKey{}, fmt.Errorf("unknown identity %q (one of %s)", identity, strings.Join(Identities(), ", "))
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return ServiceKey{}, err
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return ServiceKey{}, err
	}
	kid := identity + keyIDSeparator + now.UTC().Format("20060102") + "-" + hex.EncodeToString(suffix)
	key, err := jwk.Import(priv)
	if err != nil {
		return ServiceKey{}, err
	}
	if err := key.Set(jwk.KeyIDKey, kid); err != nil {
		return ServiceKey{}, err
	}
	if err := key.Set(jwk.AlgorithmKey, jwa.EdDSA()); err != nil {
		return ServiceKey{}, err
	}
	pub, err := key.PublicKey()
	if err != nil {
		return ServiceKey{}, err
	}
	privJSON, err := json.Marshal(key)
	if err != nil {
		return ServiceKey{}, err
	}
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return ServiceKey{}, err
	}
	return ServiceKey{KeyID: kid, Private: privJSON, Public: pubJSON}, nil
}

func knownIdentity(identity string) bool {
	for _, id := range Identities() {
		if id == identity {
			return true
		}
	}
	return false
}

// PublicSet returns the JWKS document of the given public keys (JWK documents).
func PublicSet(keys ...[]byte) ([]byte, error) {
	set := jwk.NewSet()
	for _, raw := range keys {
		k, err := jwk.ParseKey(raw)
		if err != nil {
			return nil, err
		}
		pk, err := k.PublicKey()
		if err != nil {
			return nil, err
		}
		if err := set.AddKey(pk); err != nil {
			return nil, err
		}
	}
	return json.Marshal(set)
}
