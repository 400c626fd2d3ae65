// Package faults is the fault suite's harness: a fault-injecting HTTP proxy to put in front
// of a service, private PostgreSQL clusters and redis-servers (tools/localinfra) a test may
// stop, restart and flush, an order generator with known expected outcomes, and the checks
// run after each scenario (quiescence, the invariant auditor, duplicates, replay of every
// saga history).
// The scenarios themselves are the package's tests; see the README's "Fault suite".
package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sagaflow/sagaflow/internal/svcclient"
)

// Mode is what the proxy does with a request a rule matches.
type Mode string

// Proxy modes.
const (
	// Pass forwards the request and returns the answer.
	Pass Mode = "pass"
	// Fail5xx answers a server error without forwarding.
	Fail5xx Mode = "5xx"
	// Hang never answers: it holds the request until the caller gives up.
	Hang Mode = "hang"
	// CommitThenDrop forwards the request, waits for the service's answer (so the service
	// committed), then closes the caller's connection without answering.
	CommitThenDrop Mode = "commit-then-drop"
)

// Rule selects requests and says what to do with them. The first matching rule applies;
// requests no rule matches pass.
type Rule struct {
	Mode Mode
	// Step, when set, matches only calls whose Idempotency-Key ends in "/<Step>": the saga
	// sends "<workflow id>/<step>", so this selects one saga step (e.g. "authorize-payment").
	Step string
	// Method and PathPrefix, when set, must match too.
	Method     string
	PathPrefix string
	// OncePerKey applies the fault to the first matching request of each Idempotency-Key
	// only; repeats pass. Used for commit-then-drop: the retry must get the stored answer.
	OncePerKey bool
	// Status is the Fail5xx answer; 0 means 503.
	Status int
}

func (r Rule) matches(req *http.Request) bool {
	if r.Method != "" && req.Method != r.Method {
		return false
	}
	if r.PathPrefix != "" && !strings.HasPrefix(req.URL.Path, r.PathPrefix) {
		return false
	}
	if r.Step != "" && !strings.HasSuffix(req.Header.Get(svcclient.IdempotencyHeader), "/"+r.Step) {
		return false
	}
	return true
}

// ProxyStats counts what the proxy did.
type ProxyStats struct {
	Requests int
	// Injected counts the faults injected, by mode.
	Injected map[Mode]int
	// Overlaps counts requests that arrived while an earlier request with the same
	// Idempotency-Key was still being served by the upstream.
	Overlaps int
}

// Proxy is a fault-injecting HTTP reverse proxy in front of one service. Like many load
// balancers, it finishes a forwarded request even when the caller has gone away, so the
// service sees what a real deployment would: work that completes after its caller
// stopped waiting.
type Proxy struct {
	target   string
	upstream *http.Client
	ln       net.Listener
	srv      *http.Server
	// URL is where callers reach the proxy.
	URL string

	mu       sync.Mutex
	rules    []Rule
	faulted  map[string]bool // rule index + key → already faulted (OncePerKey)
	inflight map[string]int  // Idempotency-Key → requests being served upstream
	stats    ProxyStats
	hangs    chan struct{} // closed by Close to release hanging requests
}

// NewProxy starts a proxy on a free loopback port in front of target (e.g.
// "http://127.0.0.1:8082"). Every request passes until SetRules says otherwise.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		target:   strings.TrimRight(target, "/"),
		upstream: svcclient.NewHTTPClient(),
		ln:       ln,
		URL:      "http://" + ln.Addr().String(),
		faulted:  map[string]bool{},
		inflight: map[string]int{},
		stats:    ProxyStats{Injected: map[Mode]int{}},
		hangs:    make(chan struct{}),
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// SetRules replaces the rules; no rules means every request passes.
func (p *Proxy) SetRules(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append([]Rule(nil), rules...)
	p.faulted = map[string]bool{}
}

// Heal lets every request pass again.
func (p *Proxy) Heal() { p.SetRules() }

// Stats returns a copy of the counters.
func (p *Proxy) Stats() ProxyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.stats
	out.Injected = map[Mode]int{}
	for k, v := range p.stats.Injected {
		out.Injected[k] = v
	}
	return out
}

// Close stops the proxy and releases hanging requests.
func (p *Proxy) Close() {
	close(p.hangs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
}

// decide picks the mode for a request and counts it.
func (p *Proxy) decide(req *http.Request) Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	key := req.Header.Get(svcclient.IdempotencyHeader)
	for i, r := range p.rules {
		if !r.matches(req) {
			continue
		}
		if r.OncePerKey {
			id := fmt.Sprintf("%d\x00%s", i, key)
			if key == "" || p.faulted[id] {
				return Rule{Mode: Pass}
			}
			p.faulted[id] = true
		}
		if r.Mode != Pass {
			p.stats.Injected[r.Mode]++
		}
		return r
	}
	return Rule{Mode: Pass}
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rule := p.decide(req)
	switch rule.Mode {
	case Fail5xx:
		status := rule.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		http.Error(w, "fault injected by the test proxy", status)
		return
	case Hang:
		select {
		case <-req.Context().Done():
		case <-p.hangs:
		}
		return
	}
	status, header, body, err := p.forward(req)
	if err != nil {
		http.Error(w, "proxy: upstream failed: "+err.Error(), http.StatusBadGateway)
		return
	}
	if rule.Mode == CommitThenDrop {
		drop(w)
		return
	}
	for k, vs := range header {
		if hopByHop(k) {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// forward sends the request upstream on a context of its own, so the upstream request
// completes even when the caller has gone away, and reads the whole answer: its status,
// header and body.
func (p *Proxy) forward(req *http.Request) (int, http.Header, []byte, error) {
	in, err := io.ReadAll(req.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	key := req.Header.Get(svcclient.IdempotencyHeader)
	if key != "" {
		p.mu.Lock()
		if p.inflight[key] > 0 {
			p.stats.Overlaps++
		}
		p.inflight[key]++
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			if p.inflight[key]--; p.inflight[key] == 0 {
				delete(p.inflight, key)
			}
			p.mu.Unlock()
		}()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), time.Minute)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, req.Method, p.target+req.URL.RequestURI(), bytes.NewReader(in))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, vs := range req.Header {
		if hopByHop(k) {
			continue
		}
		out.Header[k] = vs
	}
	resp, err := p.upstream.Do(out)
	if err != nil {
		return 0, nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, body, nil
}

// drop closes the caller's connection without writing an answer.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable: abort the handler, which closes the connection unanswered.
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		// Reset rather than a clean close: the caller sees the connection die mid-call.
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

func hopByHop(header string) bool {
	switch http.CanonicalHeaderKey(header) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade", "Content-Length":
		return true
	}
	return false
}
