package badinput

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// Problem is an RFC 9457 problem document as sagaflow writes it.
type Problem struct {
	Type   string        `json:"type"`
	Title  string        `json:"title"`
	Status int           `json:"status"`
	Detail string        `json:"detail"`
	Errors []ErrorDetail `json:"errors"`
}

// ErrorDetail names one offending part of a request.
type ErrorDetail struct {
	Message  string `json:"message"`
	Location string `json:"location"`
	Value    any    `json:"value"`
}

// leaks lists fragments of server internals (driver errors, Go runtime and type names,
// stack traces, dependency names) that must never reach a client.
func leaks() []string {
	return []string{
		"pq:", "sqlstate", "postgres", "sql:", "syntax error at", "goroutine ", "panic", ".go:", "runtime error",
		"dial tcp", "redis", "temporal", "go struct field", "go value of type", "json: ", "reflect", "nil pointer",
		"/root/", "github.com/", "int64", "float64",
	}
}

// Check reports what is wrong with the answer to a request that may be bad: any 5xx; a
// refusal that is not a problem+json document describing its own status; and a problem whose
// title, detail or messages leak internals. Values echoed from the request are not searched
// for leaks, since they are the client's own text.
func Check(status int, header http.Header, body []byte) error {
	if status >= 500 {
		return fmt.Errorf("server error %d: %.300q", status, body)
	}
	if status < 400 {
		return nil
	}
	ct, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil || ct != "application/problem+json" {
		return fmt.Errorf("%d answered with Content-Type %q, want application/problem+json", status, header.Get("Content-Type"))
	}
	p, err := DecodeProblem(body)
	if err != nil {
		return fmt.Errorf("%d problem does not decode: %w: %.300q", status, err, body)
	}
	if p.Status != status || p.Title != http.StatusText(status) || p.Detail == "" {
		return fmt.Errorf("problem %+v does not describe a %d", p, status)
	}
	texts := []string{p.Type, p.Title, p.Detail}
	for _, e := range p.Errors {
		texts = append(texts, e.Message)
	}
	var errs []error
	for _, text := range texts {
		lower := strings.ToLower(text)
		for _, l := range leaks() {
			if strings.Contains(lower, l) {
				errs = append(errs, fmt.Errorf("problem leaks %q in %q", l, text))
			}
		}
	}
	return errors.Join(errs...)
}

// DecodeProblem parses a problem document, refusing members it does not know.
func DecodeProblem(body []byte) (Problem, error) {
	var p Problem
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(&p)
	return p, err
}
