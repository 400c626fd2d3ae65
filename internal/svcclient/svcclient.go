// Package svcclient is the JSON-over-HTTP plumbing under each service's typed client:
// it carries the request id and idempotency key, bounds every call with a timeout, and
// turns problem+json answers into *Error values callers can classify.
package svcclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/requestid"
)

// IdempotencyHeader carries the caller's idempotency key on mutating calls.
const IdempotencyHeader = "Idempotency-Key"

// maxResponseBytes bounds what we read from a service, so a broken peer cannot exhaust memory.
const maxResponseBytes = 4 << 20

// Client calls one service.
type Client struct {
	baseURL string
	http    *http.Client
	timeout time.Duration
}

// NewHTTPClient returns an HTTP client tuned for many short calls to a few hosts:
// connections are kept alive and reused instead of paying a handshake per step.
func NewHTTPClient() *http.Client {
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{Transport: transport}
}

// New returns a client for the service at baseURL. timeout bounds each call even when
// the caller's context has no deadline; nil httpClient means NewHTTPClient().
func New(baseURL string, httpClient *http.Client, timeout time.Duration) *Client {
	if httpClient == nil {
		httpClient = NewHTTPClient()
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), http: httpClient, timeout: timeout}
}

// Error is a non-2xx answer from a service.
type Error struct {
	Status int
	Code   string // the problem code (problem.Code*), "" when the body was not a problem
	Detail string
	Fields []FieldError
}

// FieldError names one offending value, as listed in the problem's errors array.
type FieldError struct {
	Message  string `json:"message"`
	Location string `json:"location"`
	Value    any    `json:"value"`
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("service answered %d %s: %s", e.Status, e.Code, e.Detail)
	}
	return fmt.Sprintf("service answered %d: %s", e.Status, e.Detail)
}

// Retryable reports whether the same call may succeed later: server errors, timeouts,
// rate limits, a concurrent duplicate still in flight, and a refused service token. Other
// 4xx answers are final.
func (e *Error) Retryable() bool {
	switch {
	case e.Status >= 500:
		return true
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests:
		return true
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
		// Says nothing about the request: the caller's key is not trusted (yet: a rotation
		// half done) or its clock is off. Retried, the call goes through once the keys are
		// fixed, instead of failing an order for good.
		return true
	case e.Status == http.StatusConflict && e.Code == problem.CodeInFlight:
		return true
	}
	return false
}

// IsFinal reports whether err is a final business answer from the service (as opposed to
// a transport failure or a retryable status).
func IsFinal(err error) bool {
	var e *Error
	return errors.As(err, &e) && !e.Retryable()
}

// Do sends in (when non-nil) as JSON and decodes a 2xx body into out (when non-nil).
// idempotencyKey, when set, is sent so the service can recognise a repeated call.
func (c *Client) Do(ctx context.Context, method, path, idempotencyKey string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var body io.Reader
	if in != nil {
		buf, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if id := requestid.From(ctx); id != "" {
		req.Header.Set(requestid.Header, id)
	}
	if idempotencyKey != "" {
		req.Header.Set(IdempotencyHeader, idempotencyKey)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp.StatusCode, raw)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

func decodeError(status int, raw []byte) error {
	var p struct {
		Type   string       `json:"type"`
		Detail string       `json:"detail"`
		Title  string       `json:"title"`
		Errors []FieldError `json:"errors"`
	}
	e := &Error{Status: status}
	if json.Unmarshal(raw, &p) == nil {
		e.Code = strings.TrimPrefix(p.Type, problem.TypePrefix)
		if e.Code == "about:blank" {
			e.Code = ""
		}
		e.Detail = p.Detail
		if e.Detail == "" {
			e.Detail = p.Title
		}
		e.Fields = p.Errors
	}
	if e.Detail == "" {
		e.Detail = http.StatusText(status)
	}
	return e
}
