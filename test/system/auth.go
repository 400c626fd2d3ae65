package system

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/test/contract"
	"github.com/sagaflow/sagaflow/tools/devauth"
)

// IssuerURL is the iss of the tokens the system's issuer mints, and what the public APIs it
// serves accept.
const IssuerURL = "https://issuer.sagaflow.test/"

// apiIssuer is the system's OIDC issuer for the public API: a devauth issuer whose key set
// an httptest server publishes, as an identity provider would.
type apiIssuer struct {
	once    sync.Once
	issuer  *devauth.Issuer
	jwksURL string
	err     error
}

// apiIssuer starts the issuer on first use; it stops when the test that first used it ends,
// so the first call should come from the test that owns the system (APIConfig does).
func (s *System) apiIssuer(t testing.TB) *apiIssuer {
	t.Helper()
	s.issuer.once.Do(func() {
		s.issuer.issuer, s.issuer.err = devauth.NewIssuer(IssuerURL, devauth.DefaultAudience)
		if s.issuer.err != nil {
			return
		}
		srv := httptest.NewServer(s.issuer.issuer.Handler())
		t.Cleanup(srv.Close)
		s.issuer.jwksURL = srv.URL + devauth.JWKSPath
	})
	if s.issuer.err != nil {
		t.Fatalf("system: the API's issuer: %v", s.issuer.err)
	}
	return &s.issuer
}

// Mint signs an access token of the system's issuer; zero fields take the issuer's
// values and a one-hour lifetime.
func (s *System) Mint(t testing.TB, tok devauth.Token) string {
	t.Helper()
	raw, err := s.apiIssuer(t).issuer.Mint(tok)
	if err != nil {
		t.Fatalf("system: mint a token for %q: %v", tok.Subject, err)
	}
	return raw
}

// Token is a valid access token for subject with scopes, for the public APIs this system
// serves (devauth.CustomerScopes and devauth.OperatorScopes are the usual sets).
func (s *System) Token(t testing.TB, subject string, scopes ...string) string {
	t.Helper()
	return s.Mint(t, devauth.Token{Subject: subject, Scopes: scopes})
}

// apiAuth points cfg at the system's issuer, and gives it a service key of the api
// identity so that it validates as a deployment's would.
func (s *System) apiAuth(t testing.TB, cfg *api.Config) {
	t.Helper()
	i := s.apiIssuer(t)
	cfg.Issuer = IssuerURL
	cfg.Audience = devauth.DefaultAudience
	cfg.JWKSURL = i.jwksURL
	cfg.ServiceKey = string(s.Keys.Private[auth.IdentityAPI])
	cfg.Config.Config = s.PayloadKeys
}

// authenticate gives srv the verifier of cfg's issuer, as api.Run does; an API configured
// without authentication needs none.
func (s *System) authenticate(t testing.TB, srv *api.Server, cfg api.Config) {
	t.Helper()
	if cfg.Insecure {
		return
	}
	v, err := auth.NewOIDCVerifier(t.Context(), cfg.OIDCConfig, nil, s.logger("api"))
	if err != nil {
		t.Fatalf("system: the API's token verifier: %v", err)
	}
	srv.WithVerifier(v)
}

// servePublic serves the public API as serve does; one running without authentication is
// held to its document except for the token it does not ask for.
func (s *System) servePublic(t testing.TB, cfg api.Config, h http.Handler) string {
	t.Helper()
	if !cfg.Insecure || s.unchecked {
		return s.serve(t, "public", h)
	}
	srv := httptest.NewServer(contract.MustFor(t, "public").WithoutAuthentication().Handler(t, h))
	t.Cleanup(srv.Close)
	return srv.URL
}
