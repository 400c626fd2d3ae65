// Package codecserver serves the payload codec over HTTP (the SDK's remote codec protocol:
// POST /encode and /decode with a JSON Payloads body), so the Temporal Web UI and CLI show
// the sagas' encrypted payloads decoded to an operator who may read them.
//
// Every encode and decode needs credentials. A bearer token is checked by the
// Authenticator the caller passes (an OIDC token check in production). Where the client
// cannot send credentials (the Temporal dev server's UI is given only an endpoint URL), a
// path secret may stand in: POST /<CODEC_PATH_SECRET>/decode is accepted without a token.
// That is weaker than a token: a URL is copied into browser history, proxy and access logs,
// and it never expires, so it is meant for a local development stack with a secret made per
// run, not for production.
//
// X-Namespace, which the UI sends, is accepted and ignored, as the SDK's own handler does:
// one keyring serves every namespace.
package codecserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"go.temporal.io/sdk/converter"

	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/internal/problem"
)

// MaxBodyBytes bounds a request body. The UI decodes one history event's payloads per
// request; Temporal refuses a payload over 2 MiB, which is under 3 MiB as base64 JSON.
const MaxBodyBytes = 8 << 20

// minPathSecret is the shortest path secret accepted: NewPathSecret makes 43 characters.
const minPathSecret = 32

// codeUnauthorized is the problem code of a request without valid credentials.
const codeUnauthorized = "unauthorized"

// allowHeaders are the request headers the UI sends: X-Namespace always, Authorization
// (and Authorization-Extras, the ID token) when told to pass the user's token.
const allowHeaders = "Content-Type, X-Namespace, Authorization, Authorization-Extras"

// Config is the codec server's configuration, read from the environment.
type Config struct {
	// HTTPAddr defaults to loopback: the server decrypts for whoever reaches it, so
	// listening on other interfaces (":8089" in a container) is a deliberate choice.
	HTTPAddr string `envconfig:"CODEC_HTTP_ADDR" default:"127.0.0.1:8089"`
	// CORSOrigins are the exact origins (scheme://host[:port]) of the Web UIs allowed to
	// call the server from a browser, comma-separated; never "*".
	CORSOrigins string `envconfig:"CODEC_CORS_ORIGINS"`
	// PathSecret, when set, admits requests under /<secret>/ without a bearer token.
	PathSecret payloadcodec.Secret `envconfig:"CODEC_PATH_SECRET"`

	// The keyring: TEMPORAL_PAYLOAD_KEYS, TEMPORAL_PAYLOAD_KEY_ID.
	payloadcodec.Config
	httpserver.ShutdownTiming
}

// Validate names the first variable whose value cannot work.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("CODEC_HTTP_ADDR %q is not host:port: %w", c.HTTPAddr, err)
	}
	if _, err := parseOrigins(c.CORSOrigins); err != nil {
		return err
	}
	if s := string(c.PathSecret); s != "" && (len(s) < minPathSecret || strings.TrimLeft(s, urlSafe) != "") {
		return fmt.Errorf("CODEC_PATH_SECRET must be at least %d characters of letters, digits, '-' and '_'", minPathSecret)
	}
	if !c.Enabled() {
		return fmt.Errorf("%s must be set: the codec server decrypts with those keys", payloadcodec.EnvKeys)
	}
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.DrainDelay < 0 {
		return fmt.Errorf("SHUTDOWN_DRAIN_DELAY must not be negative, got %s", c.DrainDelay)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("SHUTDOWN_TIMEOUT must be positive, got %s", c.Timeout)
	}
	return nil
}

const urlSafe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

// parseOrigins reads CODEC_CORS_ORIGINS: each entry must be an origin exactly as a
// browser sends it, since the Origin header is compared byte for byte.
func parseOrigins(s string) (map[string]bool, error) {
	origins := map[string]bool{}
	if strings.TrimSpace(s) == "" {
		return origins, nil
	}
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "*" {
			return nil, errors.New("CODEC_CORS_ORIGINS must list exact origins: * would let any site read decrypted payloads")
		}
		u, err := url.Parse(entry)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Scheme+"://"+u.Host != entry {
			return nil, fmt.Errorf("CODEC_CORS_ORIGINS entry %q is not an origin such as http://127.0.0.1:8233 (scheme and host, no path or trailing slash)", entry)
		}
		origins[entry] = true
	}
	return origins, nil
}

// NewPathSecret returns a random path secret of 32 bytes, URL-safe.
func NewPathSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("path secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Authenticator checks the credentials of a request (its bearer token): nil admits it.
// Its error is logged, never sent to the client.
type Authenticator func(*http.Request) error

type handler struct {
	codec        http.Handler
	origins      map[string]bool
	secret       [sha256.Size]byte // hash of the path secret
	hasSecret    bool
	authenticate Authenticator
	logger       *slog.Logger
}

// NewHandler serves codec over HTTP under cfg's CORS origins and path secret, admitting
// bearer-token requests that authenticate accepts.
func NewHandler(cfg Config, codec converter.PayloadCodec, authenticate Authenticator, logger *slog.Logger) (http.Handler, error) {
	if authenticate == nil {
		return nil, errors.New("codec server: an authenticator is required")
	}
	origins, err := parseOrigins(cfg.CORSOrigins)
	if err != nil {
		return nil, err
	}
	h := &handler{
		codec:        converter.NewPayloadCodecHTTPHandler(codec),
		origins:      origins,
		authenticate: authenticate,
		logger:       logger,
	}
	if cfg.PathSecret != "" {
		h.secret, h.hasSecret = sha256.Sum256([]byte(cfg.PathSecret)), true
	}
	return h, nil
}

// Run serves the codec until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, authenticate Authenticator) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("codec server config: %w", err)
	}
	codec, err := cfg.Codec()
	if err != nil {
		return err
	}
	h, err := NewHandler(cfg, codec, authenticate, logger)
	if err != nil {
		return err
	}
	logger.Info("codec server", "key_ids", codec.KeyIDs(), "current_key_id", codec.CurrentKeyID(),
		"cors_origins", cfg.CORSOrigins, "path_secret", cfg.PathSecret != "")
	return httpserver.ListenAndServe(ctx, logger, cfg.HTTPAddr, h, httpserver.NewReadiness(nil), cfg.ShutdownTiming)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	path := h.serve(rec, r)
	if path == "/healthz" {
		return
	}
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelError
	}
	h.logger.Log(r.Context(), level, "http request", "method", r.Method, "path", path, "status", rec.status,
		"duration_ms", float64(time.Since(start).Microseconds())/1000)
}

// serve answers r and returns its path as it may be logged: without the path secret.
func (h *handler) serve(w http.ResponseWriter, r *http.Request) string {
	origin := r.Header.Get("Origin")
	allowed := h.origins[origin]
	if origin != "" {
		w.Header().Add("Vary", "Origin")
	}
	if allowed {
		// On every answer, refusals included, so the UI can read why it was refused.
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	}
	if r.URL.Path == "/healthz" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, r, "GET, HEAD")
			return r.URL.Path
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
		return r.URL.Path
	}
	candidate, op, ok := route(r.URL.Path)
	if !ok {
		writeProblem(w, problem.New(http.StatusNotFound, problem.CodeNotFound, "no such resource: the codec serves POST /encode and /decode"))
		return "(unknown)"
	}
	logged := "/" + op
	if candidate != nil {
		logged = "/{secret}/" + op
	}
	switch r.Method {
	case http.MethodOptions:
		h.preflight(w, r, allowed)
		return logged
	case http.MethodPost:
	default:
		methodNotAllowed(w, r, "POST, OPTIONS")
		return logged
	}
	if err := h.authorize(r, candidate); err != nil {
		h.logger.Info("codec request refused", "path", logged, "reason", err.Error())
		w.Header().Set("WWW-Authenticate", `Bearer realm="sagaflow-codec"`)
		writeProblem(w, problem.New(http.StatusUnauthorized, codeUnauthorized,
			"a valid bearer token (or the codec path secret) is required"))
		return logged
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if maxErr := (*http.MaxBytesError)(nil); errors.As(err, &maxErr) {
			writeProblem(w, problem.New(http.StatusRequestEntityTooLarge, problem.CodeBodyTooLarge,
				fmt.Sprintf("the body is over %d bytes", MaxBodyBytes)))
			return logged
		}
		writeProblem(w, problem.New(http.StatusBadRequest, problem.CodeValidation, "the body could not be read"))
		return logged
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// The SDK's handler picks the operation by the path's suffix.
	h.codec.ServeHTTP(w, r)
	return logged
}

// route splits /encode, /decode, /<secret>/encode and /<secret>/decode; candidate is the
// secret segment (nil without one).
func route(path string) (candidate []byte, op string, ok bool) {
	rest, found := strings.CutPrefix(path, "/")
	if !found {
		return nil, "", false
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		if i == 0 {
			return nil, "", false
		}
		candidate, rest = []byte(rest[:i]), rest[i+1:]
	}
	if rest != "encode" && rest != "decode" {
		return nil, "", false
	}
	return candidate, rest, true
}

// authorize admits a request under the right path secret, or with credentials the
// authenticator accepts; a request naming a path secret is judged by that secret alone.
func (h *handler) authorize(r *http.Request, candidate []byte) error {
	if candidate != nil {
		// Hashing first makes the comparison's time independent of the length too.
		sum := sha256.Sum256(candidate)
		if !h.hasSecret || subtle.ConstantTimeCompare(sum[:], h.secret[:]) != 1 {
			return errors.New("wrong path secret")
		}
		return nil
	}
	if r.Header.Get("Authorization") == "" {
		return errors.New("no credentials")
	}
	return h.authenticate(r)
}

// preflight answers a browser's CORS preflight: only an allowed origin learns it may POST.
func (h *handler) preflight(w http.ResponseWriter, r *http.Request, allowed bool) {
	if r.Header.Get("Access-Control-Request-Method") == "" {
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !allowed {
		writeProblem(w, problem.New(http.StatusForbidden, codeForbiddenOrigin,
			"this origin is not in CODEC_CORS_ORIGINS"))
		return
	}
	w.Header().Set("Access-Control-Allow-Methods", "POST")
	w.Header().Set("Access-Control-Allow-Headers", allowHeaders)
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// codeForbiddenOrigin is the problem code of a preflight from an origin not allowed.
const codeForbiddenOrigin = "origin-not-allowed"

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeProblem(w, problem.New(http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed,
		"method "+r.Method+" is not allowed on this resource"))
}

func writeProblem(w http.ResponseWriter, p *huma.ErrorModel) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.MaxBytesReader and http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
