// Package httpserver holds what every sagaflow HTTP component shares: the chi router with
// request-id, access-log and panic middleware, the Huma API configuration, health and
// readiness endpoints, and graceful shutdown.
package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/requestid"
)

// NewRouter returns a chi router with the middleware every component uses. The
// middleware is installed before Huma is attached, as Huma requires.
func NewRouter(logger *slog.Logger) *chi.Mux {
	r := chi.NewRouter()
	// HEAD is answered wherever GET is (RFC 9110, section 9.3.2), without the body.
	r.Use(withRequestID, accessLog(logger), recoverer(logger), cleanURL, normalizeContentType, middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, problem.New(http.StatusNotFound, problem.CodeNotFound, "no such resource"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		// RFC 9110, section 15.5.6: a 405 lists the methods the resource supports.
		w.Header().Set("Allow", strings.Join(allowedMethods(req), ", "))
		writeProblem(w, problem.New(http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed,
			"method "+req.Method+" is not allowed on this resource"))
	})
	return r
}

// allowedMethods lists the methods the request's path has routes for, with HEAD wherever
// GET is.
func allowedMethods(req *http.Request) []string {
	rctx := chi.RouteContext(req.Context())
	if rctx == nil || rctx.Routes == nil {
		return nil
	}
	path := req.URL.RawPath
	if path == "" {
		path = req.URL.Path
	}
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		match := rctx.Routes.Match(chi.NewRouteContext(), m, path)
		if m == http.MethodHead {
			match = match || rctx.Routes.Match(chi.NewRouteContext(), http.MethodGet, path)
		}
		if match {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// NewAPI attaches a Huma API to r, serving OpenAPI 3.1 at /openapi.json (and .yaml) and
// docs at /docs.
func NewAPI(r chi.Router, title, version, description string) huma.API {
	return NewGuardedAPI(r, title, version, description, nil)
}

// NewGuardedAPI is NewAPI with guard (when not nil) installing its middleware ahead of the
// platform's own, so a caller it refuses is answered before its body is even read.
func NewGuardedAPI(r chi.Router, title, version, description string, guard func(huma.API)) huma.API {
	cfg := huma.DefaultConfig(title, version)
	cfg.Info.Description = description
	// Relative to wherever the document is served, so one document fits every deployment.
	cfg.Servers = []*huma.Server{{URL: "/", Description: "the host serving this document"}}
	// No $schema links in bodies: clients get plain documents that match the spec.
	cfg.CreateHooks = nil
	cfg.Formats = map[string]huma.Format{"application/json": strictJSON(), "json": strictJSON()}
	// Every problem carries its code, Huma's own refusals included.
	cfg.Transformers = append(cfg.Transformers, stampProblemType)
	api := humachi.New(r, cfg)
	describeProblems(api.OpenAPI())
	api.OpenAPI().OnAddOperation = append(api.OpenAPI().OnAddOperation, declareRefusals)
	if guard != nil {
		guard(api)
	}
	api.UseMiddleware(readBodyFirst)
	return api
}

func init() {
	// Arrays are never null: a client sending "lines": null is refused, and the documents
	// do not tell generated clients that null is a list.
	huma.DefaultArrayNullable = false
	// Member names match exactly, as the schemas' additionalProperties: false says:
	// "Customer_Id" is an unknown member, not customer_id.
	huma.ValidateStrictCasing = true
}

// stampProblemType gives a problem without a type (Huma's validation, decoding, size and
// media type refusals) the type of its status's code.
func stampProblemType(_ huma.Context, _ string, v any) (any, error) {
	if m, ok := v.(*huma.ErrorModel); ok && m.Type == "" {
		m.Type = problem.TypePrefix + problem.CodeForStatus(m.Status)
	}
	return v, nil
}

// errorSchema registers the problem schema and returns a reference to it.
func errorSchema(oapi *huma.OpenAPI) *huma.Schema {
	return oapi.Components.Schemas.Schema(reflect.TypeFor[huma.ErrorModel](), true, "ErrorModel")
}

// describeProblems registers the problem schema before any operation does and makes it say
// what sagaflow sends: type, title, status and detail are always present, and type is a
// relative reference /problems/<code> with one of the known codes.
func describeProblems(oapi *huma.OpenAPI) {
	errorSchema(oapi)
	s := oapi.Components.Schemas.Map()["ErrorModel"]
	s.Required = []string{"type", "title", "status", "detail"}
	t := s.Properties["type"]
	t.Format = "uri-reference"
	t.Pattern = problem.TypePattern
	for _, code := range problem.Codes() {
		t.Enum = append(t.Enum, problem.TypePrefix+code)
	}
	t.Default = nil
	t.Examples = []any{problem.TypePrefix + problem.CodeNotFound}
	t.Description = "The problem's kind: a URI reference, relative to the answering server, ending with a stable code."
	s.Properties["instance"].Format = "uri-reference"
}

// declareRefusals declares on every operation the answers the platform gives before or
// around the handler: 400 (cleanURL, a body that does not decode), 408, 413 and 415 (the
// body), 422 (parameters and body fail their schemas) and 500. An operation declaring no
// errors of its own loses Huma's catch-all "default" answer, so undeclared statuses show.
func declareRefusals(oapi *huma.OpenAPI, op *huma.Operation) {
	ref := errorSchema(oapi)
	add := func(status int, description string) {
		key := strconv.Itoa(status)
		if op.Responses[key] != nil {
			return
		}
		op.Responses[key] = &huma.Response{
			Description: description,
			Content:     map[string]*huma.MediaType{"application/problem+json": {Schema: ref}},
		}
	}
	delete(op.Responses, "default")
	add(http.StatusBadRequest, "Bad Request: a malformed URL, query string or body, or a repeated query parameter")
	if op.RequestBody != nil {
		add(http.StatusRequestTimeout, "Request Timeout: the body did not arrive in time")
		add(http.StatusRequestEntityTooLarge, "Content Too Large: the body is over the operation's limit")
		add(http.StatusUnsupportedMediaType, "Unsupported Media Type: a body must be sent as application/json (charset, if given, utf-8)")
	}
	if op.RequestBody != nil || len(op.Parameters) > 0 {
		add(http.StatusUnprocessableEntity, "Unprocessable Entity")
	}
	add(http.StatusInternalServerError, "Internal Server Error")
	retryAfter := map[string]string{
		"409": "Seconds to wait before retrying, when the same request is still in flight",
		"429": "Seconds until the rate limit admits a request",
		"503": "Seconds to wait before retrying",
	}
	for status, description := range retryAfter {
		if r := op.Responses[status]; r != nil {
			if r.Headers == nil {
				r.Headers = map[string]*huma.Param{}
			}
			r.Headers["Retry-After"] = &huma.Param{
				Description: description,
				Schema:      &huma.Schema{Type: huma.TypeInteger, Minimum: new(0.0)},
			}
		}
	}
}

func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestid.Header)
		if !requestid.Valid(id) {
			id = requestid.New()
		}
		w.Header().Set(requestid.Header, id)
		next.ServeHTTP(w, r.WithContext(requestid.With(r.Context(), id)))
	})
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

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func accessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
				return
			}
			level := slog.LevelInfo
			if rec.status >= 500 {
				level = slog.LevelError
			}
			logger.Log(r.Context(), level, "http request",
				"method", r.Method, "path", r.URL.Path, "status", rec.status,
				"duration_ms", float64(time.Since(start).Microseconds())/1000)
		})
	}
}

func recoverer(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					// net/http aborts a response by panicking with ErrAbortHandler: let it through.
					if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
						panic(v)
					}
					logger.ErrorContext(r.Context(), "panic while serving request", "panic", v)
					writeProblem(w, problem.Internal())
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

func writeProblem(w http.ResponseWriter, p *huma.ErrorModel) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// Check reports whether one dependency is usable.
type Check func(ctx context.Context) error

// Readiness answers /readyz: ready while every check passes and the server is not draining.
type Readiness struct {
	draining atomic.Bool
	checks   map[string]Check
	optional map[string]Check
}

// NewReadiness returns a readiness gate over the named checks.
func NewReadiness(checks map[string]Check) *Readiness {
	return &Readiness{checks: checks}
}

// WithDegraded adds checks whose failure is reported as "degraded" without failing
// readiness: for dependencies the component keeps working without (a load balancer
// must not take every instance out of service because of them).
func (r *Readiness) WithDegraded(checks map[string]Check) *Readiness {
	r.optional = checks
	return r
}

// Drain makes /readyz fail from now on, so load balancers stop sending new work.
func (r *Readiness) Drain() { r.draining.Store(true) }

// MountHealth adds GET /healthz (the process answers) and GET /readyz (its dependencies answer).
func MountHealth(router chi.Router, ready *Readiness) {
	router.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	router.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		status, report := ready.evaluate(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(report)
	})
}

func (r *Readiness) evaluate(ctx context.Context) (int, map[string]string) {
	report := map[string]string{}
	if r.draining.Load() {
		report["status"] = "draining"
		return http.StatusServiceUnavailable, report
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	healthy := true
	for name, check := range r.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := check(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				healthy = false
				report[name] = "unavailable"
				return
			}
			report[name] = "ok"
		}()
	}
	for name, check := range r.optional {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := check(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				report[name] = "degraded"
				return
			}
			report[name] = "ok"
		}()
	}
	wg.Wait()
	if !healthy {
		report["status"] = "not ready"
		return http.StatusServiceUnavailable, report
	}
	report["status"] = "ready"
	return http.StatusOK, report
}

// ShutdownTiming says how a server stops: how long it keeps serving while failing
// readiness (so the load balancer notices), then how long in-flight requests may take.
// Embed it in a component's Config to read it from the environment.
type ShutdownTiming struct {
	DrainDelay time.Duration `envconfig:"SHUTDOWN_DRAIN_DELAY" default:"1s"`
	Timeout    time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"20s"`
}

// Serve runs srv on ln until ctx is done, then drains gracefully: readiness fails
// first, new connections stop after DrainDelay, and in-flight requests get Timeout to finish.
func Serve(ctx context.Context, logger *slog.Logger, srv *http.Server, ln net.Listener, ready *Readiness, timing ShutdownTiming) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining", "drain_delay", timing.DrainDelay.String())
	ready.Drain()
	time.Sleep(timing.DrainDelay)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timing.Timeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// ListenAndServe listens on addr and runs Serve.
func ListenAndServe(ctx context.Context, logger *slog.Logger, addr string, handler http.Handler, ready *Readiness, timing ShutdownTiming) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return Serve(ctx, logger, NewServer(handler, logger), ln, ready, timing)
}

// NewServer returns an http.Server with timeouts that protect against slow clients.
func NewServer(handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
