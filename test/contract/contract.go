// Package contract holds sagaflow's HTTP components to their committed OpenAPI documents
// (api/openapi). A Checker loads the documents of one component and checks exchanges with
// kin-openapi's openapi3filter: every request a test sends is matched to its operation,
// and every answer must be declared on that operation (status, headers, media type and
// body schema), error answers and problem documents included. A request the documents do
// not allow must be refused with a 4xx; a path or method no document declares must get a
// 404 or a 405 that lists the declared methods in Allow.
//
// Wire it into a suite with Handler (wraps a component's handler, so every request that
// reaches it is checked, whoever sends it) or Transport (wraps a client, for components
// running as other processes). Only tests and test harnesses import this package.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
)

// Components and the committed documents each is checked against. The public API is held
// to its 3.1 document and to the 3.0 rendering clients are generated from.
var components = map[string][]string{
	"public":    {"public.yaml", "public-3.0.yaml"},
	"order":     {"order.yaml"},
	"payment":   {"payment.yaml"},
	"inventory": {"inventory.yaml"},
}

// Platform endpoints every component serves outside its API document: health probes and
// the documents themselves.
var platformPaths = []string{"/healthz", "/readyz", "/openapi.json", "/openapi.yaml", "/openapi-3.0.json", "/openapi-3.0.yaml", "/docs"}

// Exchange is one request and its answer as they went over the wire.
type Exchange struct {
	Method string
	URL    *url.URL
	Header http.Header
	Body   []byte
	// BodyComplete: Body is the whole request body (false when the server stopped
	// reading it, for example at its size limit or on a read timeout).
	BodyComplete bool

	Status         int
	ResponseHeader http.Header
	ResponseBody   []byte
}

// Checker checks exchanges with one component against its documents. It is safe for
// concurrent use.
type Checker struct {
	component string
	docs      []*document
	// anyCaller: the component runs without authentication (SAGAFLOW_INSECURE), so a request
	// without the credentials its operation's security asks for is served, not refused.
	anyCaller bool
}

// WithoutAuthentication returns a checker for the component running with authentication
// off: everything is held to the documents but the credentials, which it does not ask for.
func (c *Checker) WithoutAuthentication() *Checker {
	return &Checker{component: c.component, docs: c.docs, anyCaller: true}
}

type document struct {
	file   string
	spec   *openapi3.T
	router routers.Router
	opts   []openapi3.SchemaValidationOption
}

var (
	mu    sync.Mutex
	cache = map[string]*Checker{}
)

// Dir is the folder of the committed documents.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "api", "openapi")
}

// For returns the checker of a component: "public", "order", "payment" or "inventory".
func For(component string) (*Checker, error) {
	mu.Lock()
	defer mu.Unlock()
	if c := cache[component]; c != nil {
		return c, nil
	}
	files, ok := components[component]
	if !ok {
		return nil, fmt.Errorf("contract: no component %q", component)
	}
	c := &Checker{component: component}
	for _, f := range files {
		d, err := load(filepath.Join(Dir(), f))
		if err != nil {
			return nil, err
		}
		c.docs = append(c.docs, d)
	}
	cache[component] = c
	return c, nil
}

// MustFor is For that fails tb on error.
func MustFor(tb testing.TB, component string) *Checker {
	tb.Helper()
	c, err := For(component)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func load(path string) (*document, error) {
	loader := openapi3.NewLoader()
	spec, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("contract: load %s: %w", path, err)
	}
	if err := spec.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("contract: %s is not a valid document: %w", path, err)
	}
	// Servers are relative ("/"): match any host.
	spec.Servers = nil
	router, err := legacyrouter.NewRouter(spec)
	if err != nil {
		return nil, fmt.Errorf("contract: route %s: %w", path, err)
	}
	return &document{
		file:   filepath.Base(path),
		spec:   spec,
		router: router,
		opts: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidators(map[string]openapi3.StringFormatValidator{
			"uri":           openapi3.NewCallbackValidator(checkURI),
			"uri-reference": openapi3.NewCallbackValidator(checkURIReference),
		})},
	}, nil
}

// checkURI accepts an absolute URI (RFC 3986, section 4.3).
func checkURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if !u.IsAbs() {
		return fmt.Errorf("%q is not an absolute URI", s)
	}
	return nil
}

// checkURIReference accepts a URI or a relative reference (RFC 3986, section 4.1).
func checkURIReference(s string) error {
	if strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("%q is not a URI reference", s)
	}
	_, err := url.Parse(s)
	return err
}

// Check checks one exchange against every document of the component.
func (c *Checker) Check(x Exchange) error {
	if slices.Contains(platformPaths, x.URL.Path) || strings.HasPrefix(x.URL.Path, "/schemas/") {
		return nil
	}
	var errs []error
	for _, d := range c.docs {
		if err := d.check(x, c.anyCaller); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.file, err))
		}
	}
	return errors.Join(errs...)
}

// methods the documents may declare, in the order Allow lists them.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func (d *document) find(method string, u *url.URL) (*routers.Route, map[string]string) {
	req := &http.Request{Method: method, URL: routingURL(u), Header: http.Header{}}
	route, params, err := d.router.FindRoute(req)
	if err != nil {
		return nil, nil
	}
	return route, params
}

// routingURL is u with its path as sent: the servers route on the escaped path, so
// /orders/..%2Fetc is the order "../etc", not a path above /orders.
func routingURL(u *url.URL) *url.URL {
	if u.RawPath == "" {
		return u
	}
	c := *u
	c.Path = u.RawPath
	c.RawPath = ""
	return &c
}

// allowed lists the methods declared on u's path, HEAD wherever GET is.
func (d *document) allowed(u *url.URL) []string {
	var out []string
	for _, m := range methods {
		probe := m
		if m == http.MethodHead {
			probe = http.MethodGet
		}
		if r, _ := d.find(probe, u); r != nil {
			out = append(out, m)
		}
	}
	return out
}

func (d *document) check(x Exchange, anyCaller bool) error {
	head := x.Method == http.MethodHead
	method := x.Method
	if head {
		method = http.MethodGet
	}
	route, params := d.find(method, x.URL)
	if route == nil {
		return d.checkUnrouted(x)
	}

	req := &http.Request{
		Method: method, URL: routingURL(x.URL), Header: x.Header.Clone(), Host: x.URL.Host,
		Body: io.NopCloser(bytes.NewReader(x.Body)), ContentLength: int64(len(x.Body)),
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:      presentsCredentials,
		SchemaValidationOptions: d.opts,
		MultiError:              true,
	}
	if anyCaller {
		opts.AuthenticationFunc = openapi3filter.NoopAuthenticationFunc
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	var refusal error // why the documents do not allow the request
	if route.Operation.RequestBody != nil && !x.BodyComplete {
		opts.ExcludeRequestBody = true
		refusal = errors.New("the body was not read whole")
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		refusal = err
	} else if err := checkRequestExtras(route, x); err != nil {
		refusal = err
	}
	if refusal != nil && (x.Status < 400 || x.Status >= 500) {
		return fmt.Errorf("the request is outside the document (%w) but was answered %d", refusal, x.Status)
	}

	respOpts := &openapi3filter.Options{
		IncludeResponseStatus:   true,
		ExcludeResponseBody:     head,
		SchemaValidationOptions: d.opts,
		MultiError:              true,
	}
	respIn := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: x.Status, Header: x.ResponseHeader,
		Body: io.NopCloser(bytes.NewReader(x.ResponseBody)), Options: respOpts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), respIn); err != nil {
		return fmt.Errorf("answer %d does not match %s %s: %w (body %.300q)", x.Status, method, route.Path, err, x.ResponseBody)
	}
	if x.Status >= 400 && !head {
		return checkProblemStatus(x)
	}
	return nil
}

// presentsCredentials holds a request to an operation's security scheme as far as the
// document can tell: an http bearer scheme needs "Authorization: Bearer <token>". Whether the
// token is valid is the component's to say; a request without one is outside the document,
// so its answer must be a 4xx (401).
func presentsCredentials(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	if s == nil || s.Type != "http" || !strings.EqualFold(s.Scheme, "bearer") {
		return fmt.Errorf("security scheme %q: only http bearer schemes are checked", in.SecuritySchemeName)
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(in.RequestValidationInput.Request.Header.Get("Authorization")), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return fmt.Errorf("no bearer token for security scheme %q", in.SecuritySchemeName)
	}
	return nil
}

// checkRequestExtras holds a request to what the documents say in words: a query
// parameter appears once, and a JSON body declares no charset but UTF-8.
func checkRequestExtras(route *routers.Route, x Exchange) error {
	for name, values := range x.URL.Query() {
		if len(values) > 1 {
			return fmt.Errorf("query parameter %s repeated", name)
		}
	}
	if route.Operation.RequestBody != nil && len(x.Body) > 0 {
		_, params, err := mime.ParseMediaType(x.Header.Get("Content-Type"))
		if err != nil {
			return fmt.Errorf("Content-Type: %w", err)
		}
		for name, value := range params {
			if name != "charset" || !strings.EqualFold(value, "utf-8") {
				return fmt.Errorf("Content-Type parameter %s=%s", name, value)
			}
		}
	}
	return nil
}

// checkUnrouted checks the answer to a path or method the document does not declare.
func (d *document) checkUnrouted(x Exchange) error {
	allowed := d.allowed(x.URL)
	switch {
	case x.Status == http.StatusBadRequest:
		// The URL itself was refused before routing (control characters, a bad query).
	case len(allowed) == 0 && x.Status != http.StatusNotFound:
		return fmt.Errorf("answered %d to a path the document does not declare, want 404", x.Status)
	case len(allowed) > 0 && x.Status != http.StatusMethodNotAllowed:
		return fmt.Errorf("answered %d to a method the path does not declare, want 405", x.Status)
	case len(allowed) > 0:
		var got []string
		for v := range strings.SplitSeq(x.ResponseHeader.Get("Allow"), ",") {
			if v = strings.TrimSpace(v); v != "" {
				got = append(got, v)
			}
		}
		slices.Sort(got)
		want := slices.Clone(allowed)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return fmt.Errorf("405 with Allow %q, want the declared methods %q", x.ResponseHeader.Get("Allow"), strings.Join(allowed, ", "))
		}
	}
	return d.checkProblem(x)
}

// checkProblem checks an answer no operation declares against the document's problem schema.
func (d *document) checkProblem(x Exchange) error {
	if x.Method == http.MethodHead {
		return nil
	}
	if ct, _, _ := mime.ParseMediaType(x.ResponseHeader.Get("Content-Type")); ct != "application/problem+json" {
		return fmt.Errorf("answer %d is %q, want application/problem+json", x.Status, ct)
	}
	ref := d.spec.Components.Schemas["ErrorModel"]
	if ref == nil || ref.Value == nil {
		return errors.New("the document declares no ErrorModel schema")
	}
	var v any
	if err := json.Unmarshal(x.ResponseBody, &v); err != nil {
		return fmt.Errorf("answer %d: body is not JSON: %w", x.Status, err)
	}
	opts := slices.Clone(d.opts)
	if d.spec.IsOpenAPI31OrLater() {
		opts = append(opts, openapi3.EnableJSONSchema2020())
	}
	opts = append(opts, openapi3.VisitAsResponse(), openapi3.MultiErrors())
	if err := ref.Value.VisitJSON(v, opts...); err != nil {
		return fmt.Errorf("answer %d is not a problem document: %w (body %.300q)", x.Status, err, x.ResponseBody)
	}
	return checkProblemStatus(x)
}

// checkProblemStatus: a problem's status member is the answer's status.
func checkProblemStatus(x Exchange) error {
	var p struct {
		Status int `json:"status"`
	}
	if err := json.Unmarshal(x.ResponseBody, &p); err != nil {
		return fmt.Errorf("answer %d: %w", x.Status, err)
	}
	if p.Status != x.Status {
		return fmt.Errorf("answer %d holds a problem with status %d", x.Status, p.Status)
	}
	return nil
}
