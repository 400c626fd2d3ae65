package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// TokenError says why a token was refused. Reason goes to the logs; the client is told
// only that its token is not valid.
type TokenError struct {
	Reason string
	Err    error
}

func (e *TokenError) Error() string {
	if e.Err != nil {
		return "token refused: " + e.Reason + ": " + e.Err.Error()
	}
	return "token refused: " + e.Reason
}

func (e *TokenError) Unwrap() error { return e.Err }

// Reasons a token is refused.
const (
	ReasonMissing     = "missing"
	ReasonMalformed   = "malformed"
	ReasonAlgorithm   = "algorithm not allowed"
	ReasonUnknownKey  = "unknown key"
	ReasonSignature   = "bad signature"
	ReasonExpired     = "expired"
	ReasonNotYetValid = "not yet valid"
	ReasonIssuer      = "wrong issuer"
	ReasonAudience    = "wrong audience"
	ReasonClaims      = "missing or invalid claims"
	ReasonLifetime    = "lifetime too long"
)

func refuse(reason string, err error) *TokenError { return &TokenError{Reason: reason, Err: err} }

// keySource finds a verification key by its id.
type keySource interface {
	lookup(ctx context.Context, kid string) (jwk.Key, error)
}

// errUnknownKey is returned by a keySource that has no key with the id asked for.
var errUnknownKey = errors.New("no key with this id")

// Verifier checks bearer JWTs: signature by a known key under an allowed asymmetric
// algorithm, issuer, audience, expiry and not-before with a small skew.
type Verifier struct {
	keys     keySource
	algs     []jwa.SignatureAlgorithm
	issuer   string // "" for service tokens: the issuer is the signing key's identity
	audience string
	skew     time.Duration
	// maxLifetime bounds exp-iat (service tokens are short-lived by rule); 0 = no bound.
	maxLifetime time.Duration
	service     bool
	now         func() time.Time
	// seen skips the full check of a service token verified before (nil: always check).
	// Only service verifiers have it: their keys never change while the process runs,
	// whereas an issuer's withdrawn key must stop its tokens at the next refresh.
	seen *seenTokens
}

// signingAlgorithms are the algorithms a verifier may be configured with: asymmetric only,
// so a public key can never be used as an HMAC secret, and never "none".
var signingAlgorithms = map[string]jwa.SignatureAlgorithm{
	"RS256": jwa.RS256(), "RS384": jwa.RS384(), "RS512": jwa.RS512(),
	"PS256": jwa.PS256(), "PS384": jwa.PS384(), "PS512": jwa.PS512(),
	"ES256": jwa.ES256(), "ES384": jwa.ES384(), "ES512": jwa.ES512(),
	"EdDSA": jwa.EdDSA(),
}

// parseAlgorithms turns names into algorithms, refusing any that is not asymmetric.
func parseAlgorithms(names []string) ([]jwa.SignatureAlgorithm, error) {
	var out []jwa.SignatureAlgorithm
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		a, ok := signingAlgorithms[n]
		if !ok {
			return nil, fmt.Errorf("algorithm %q is not allowed (asymmetric only: RS*, PS*, ES*, EdDSA)", n)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, errors.New("no algorithm allowed")
	}
	return out, nil
}

// keyFits reports whether key's type can verify alg, so a token cannot choose an
// algorithm the key was not made for.
func keyFits(key jwk.Key, alg jwa.SignatureAlgorithm) bool {
	if ka, ok := key.Algorithm(); ok && ka.String() != alg.String() {
		return false
	}
	switch kt := key.KeyType(); {
	case kt == jwa.RSA():
		return strings.HasPrefix(alg.String(), "RS") || strings.HasPrefix(alg.String(), "PS")
	case kt == jwa.EC():
		return strings.HasPrefix(alg.String(), "ES")
	case kt == jwa.OKP():
		return alg == jwa.EdDSA()
	}
	return false
}

// keyProvider hands jwx the one key the token's header names, after checking its algorithm.
type keyProvider struct {
	v      *Verifier
	keyErr error // why no key was given, for the caller's classification
	kid    string
}

func (p *keyProvider) FetchKeys(ctx context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	h := sig.ProtectedHeaders()
	alg, ok := h.Algorithm()
	if !ok || !slices.Contains(p.v.algs, alg) {
		p.keyErr = refuse(ReasonAlgorithm, fmt.Errorf("alg %v", alg))
		return p.keyErr
	}
	kid, ok := h.KeyID()
	if !ok || kid == "" {
		p.keyErr = refuse(ReasonUnknownKey, errors.New("the token names no key (kid)"))
		return p.keyErr
	}
	key, err := p.v.keys.lookup(ctx, kid)
	if err != nil {
		p.keyErr = refuse(ReasonUnknownKey, err)
		return p.keyErr
	}
	if !keyFits(key, alg) {
		p.keyErr = refuse(ReasonAlgorithm, fmt.Errorf("key %s does not sign with %v", kid, alg))
		return p.keyErr
	}
	p.kid = kid
	sink.Key(alg, key)
	return nil
}

// Verify checks raw and returns its principal, or a *TokenError.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	if raw == "" {
		return Principal{}, refuse(ReasonMissing, nil)
	}
	if strings.Count(raw, ".") != 2 || len(raw) > maxTokenBytes {
		return Principal{}, refuse(ReasonMalformed, nil)
	}
	if v.seen != nil {
		if p, ok := v.seen.get(raw, v.now()); ok {
			return p, nil
		}
	}
	kp := &keyProvider{v: v}
	opts := []jwt.ParseOption{
		jwt.WithKeyProvider(kp),
		jwt.WithValidate(true),
		jwt.WithAcceptableSkew(v.skew),
		jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithAudience(v.audience),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.SubjectKey),
		jwt.WithContext(ctx),
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	tok, err := jwt.ParseString(raw, opts...)
	if err != nil {
		return Principal{}, v.classify(kp, err)
	}
	sub, _ := tok.Subject()
	if sub == "" || len(sub) > 255 || strings.IndexFunc(sub, isControl) >= 0 {
		return Principal{}, refuse(ReasonClaims, errors.New("sub is empty, too long or has control characters"))
	}
	p := Principal{Subject: sub, Service: v.service}
	if v.service {
		if err := v.checkService(kp.kid, tok); err != nil {
			return Principal{}, err
		}
		if v.seen != nil {
			// Until exp, without the skew: past it the full check decides again.
			exp, _ := tok.Expiration()
			v.seen.put(raw, p, exp, v.now())
		}
		return p, nil
	}
	var scope any
	if tok.Has("scope") {
		_ = tok.Get("scope", &scope) // a scope claim of another type grants nothing
	} else if tok.Has("scp") {
		_ = tok.Get("scp", &scope)
	}
	p.Scopes = parseScopes(scope)
	return p, nil
}

// maxTokenBytes bounds what is parsed: real access tokens are a few kilobytes.
const maxTokenBytes = 16 << 10

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkService holds a service token to its rules: issuer and subject are the identity the
// signing key belongs to, and it lives no longer than maxLifetime.
func (v *Verifier) checkService(kid string, tok jwt.Token) error {
	identity := identityOfKeyID(kid)
	iss, _ := tok.Issuer()
	sub, _ := tok.Subject()
	if iss != identity || sub != identity {
		return refuse(ReasonIssuer, fmt.Errorf("key %s belongs to %q, token says iss %q sub %q", kid, identity, iss, sub))
	}
	iat, ok := tok.IssuedAt()
	exp, _ := tok.Expiration()
	if !ok || exp.Sub(iat) > v.maxLifetime {
		return refuse(ReasonLifetime, fmt.Errorf("service tokens live at most %s", v.maxLifetime))
	}
	return nil
}

func (v *Verifier) classify(kp *keyProvider, err error) error {
	var te *TokenError
	switch {
	case errors.As(err, &te):
		return te
	case kp.keyErr != nil:
		return kp.keyErr
	case errors.Is(err, jwt.TokenExpiredError()):
		return refuse(ReasonExpired, err)
	case errors.Is(err, jwt.TokenNotYetValidError()):
		return refuse(ReasonNotYetValid, err)
	case errors.Is(err, jwt.InvalidIssuerError()):
		return refuse(ReasonIssuer, err)
	case errors.Is(err, jwt.InvalidAudienceError()):
		return refuse(ReasonAudience, err)
	case errors.Is(err, jwt.MissingRequiredClaimError()), errors.Is(err, jwt.InvalidIssuedAtError()), errors.Is(err, jwt.ValidateError()):
		return refuse(ReasonClaims, err)
	case kp.kid != "":
		// A key was found and handed over, so what failed is the signature.
		return refuse(ReasonSignature, err)
	}
	return refuse(ReasonMalformed, err)
}
