package contract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
)

// maxRecorded bounds what is kept of a body; an answer past it is not checked against its
// schema (no sagaflow answer comes near it).
const maxRecorded = 8 << 20

// Handler wraps a component's handler: every request that reaches it and the answer it
// gives are checked, and a mismatch fails tb.
func (c *Checker) Handler(tb testing.TB, next http.Handler) http.Handler {
	return c.HandlerFunc(func(err error) { tb.Errorf("%v", err) }, next)
}

// HandlerFunc is Handler reporting mismatches to report.
func (c *Checker) HandlerFunc(report func(error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := &recordingBody{rc: r.Body}
		empty := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 && len(r.TransferEncoding) == 0
		if r.Body != nil {
			r.Body = body
		}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		x := Exchange{
			Method: r.Method, URL: r.URL, Header: r.Header,
			Body: body.bytes(), BodyComplete: empty || body.complete(),
			Status: rec.statusCode(), ResponseHeader: rec.header(), ResponseBody: rec.body.Bytes(),
		}
		if rec.truncated {
			return
		}
		if err := c.Check(x); err != nil {
			report(fmt.Errorf("contract of %s: %s %s: %w", c.component, r.Method, r.URL.RequestURI(), err))
		}
	})
}

// recordingBody keeps what the handler read of a request body.
type recordingBody struct {
	rc   io.ReadCloser
	mu   sync.Mutex
	buf  bytes.Buffer
	eof  bool
	over bool
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len()+n > maxRecorded {
		b.over = true
	} else {
		b.buf.Write(p[:n])
	}
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

func (b *recordingBody) Close() error { return b.rc.Close() }

func (b *recordingBody) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *recordingBody) complete() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof && !b.over
}

// recorder passes an answer through and keeps its status, headers and body.
type recorder struct {
	http.ResponseWriter
	status    int
	sent      http.Header
	body      bytes.Buffer
	truncated bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
		r.sent = r.ResponseWriter.Header().Clone()
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if r.body.Len()+len(p) > maxRecorded {
		r.truncated = true
	} else {
		r.body.Write(p)
	}
	return r.ResponseWriter.Write(p)
}

// Flush passes flushes through.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer (read deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) statusCode() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

func (r *recorder) header() http.Header {
	if r.sent == nil {
		return r.ResponseWriter.Header().Clone()
	}
	return r.sent
}

// Transport wraps base (nil: http.DefaultTransport) so that every request sent through it
// and every answer received are checked; mismatches go to report. Request bodies are read
// whole before sending and answers whole before they are handed on.
func (c *Checker) Transport(report func(error), base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{c: c, base: base, report: report}
}

type transport struct {
	c      *Checker
	base   http.RoundTripper
	report func(error)
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	answer, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(answer))
	if err != nil {
		// The answer broke off: what arrived cannot be held to the document.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(answer), errReader{err}))
		return resp, nil
	}
	x := Exchange{
		Method: req.Method, URL: req.URL, Header: req.Header, Body: body, BodyComplete: true,
		Status: resp.StatusCode, ResponseHeader: resp.Header, ResponseBody: answer,
	}
	if cerr := t.c.Check(x); cerr != nil {
		t.report(fmt.Errorf("contract of %s: %s %s: %w", t.c.component, req.Method, req.URL.RequestURI(), cerr))
	}
	return resp, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
