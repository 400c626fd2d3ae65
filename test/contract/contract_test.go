package contract

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// reports collects what a checker reports.
type reports struct {
	mu   sync.Mutex
	errs []error
}

func (r *reports) add(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *reports) all() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// serveFake answers every request with status, headers and body, through the checker of component.
func serveFake(t *testing.T, component string, status int, header map[string]string, body string) (*httptest.Server, *reports) {
	t.Helper()
	r := &reports{}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
	srv := httptest.NewServer(MustFor(t, component).HandlerFunc(r.add, h))
	t.Cleanup(srv.Close)
	return srv, r
}

// send sends a request with a bearer token (any: the checker does not verify it) unless
// authorization is "none".
func send(t *testing.T, method, url, contentType, body, authorization string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	switch authorization {
	case "":
		req.Header.Set("Authorization", "Bearer not-checked-here")
	case "none":
	default:
		req.Header.Set("Authorization", authorization)
	}
	req.Header.Set("Idempotency-Key", "k-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

const goodOrder = `{"customer_id":"c-1","payment_token":"tok_visa","lines":[{"sku":"A","quantity":1}]}`

func problem(status int, typ string) string {
	return `{"type":"` + typ + `","title":"t","status":` + itoa(status) + `,"detail":"d"}`
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

func TestEveryDocumentLoads(t *testing.T) {
	for name := range components {
		if _, err := For(name); err != nil {
			t.Error(err)
		}
	}
}

// TestMismatchesAreReported: the checker catches what the documents do not allow.
func TestMismatchesAreReported(t *testing.T) {
	pj := map[string]string{"Content-Type": "application/problem+json"}
	js := map[string]string{"Content-Type": "application/json"}
	cases := []struct {
		name         string
		status       int
		header       map[string]string
		body         string
		method, path string
		ct, reqBody  string
		wantReport   bool
	}{
		{"declared problem", 404, pj, problem(404, "/problems/not-found"), "GET", "/orders/x", "", "", false},
		{"undeclared status", 418, pj, problem(418, "/problems/teapot"), "GET", "/orders/x", "", "", true},
		{"problem without type", 404, pj, `{"title":"t","status":404,"detail":"d"}`, "GET", "/orders/x", "", "", true},
		{"problem type not /problems/", 404, pj, problem(404, "https://example.com/x"), "GET", "/orders/x", "", "", true},
		{"problem status differs", 404, pj, problem(409, "/problems/not-found"), "GET", "/orders/x", "", "", true},
		{"body off schema", 200, js, `{"bogus":1}`, "GET", "/products", "", "", true},
		{"null list", 200, js, `{"items":null}`, "GET", "/products", "", "", true},
		{"accepted null lines", 202, map[string]string{"Content-Type": "application/json", "Location": "/orders/o1"},
			`{"id":"o1","status":"PENDING","links":{"self":"/orders/o1"}}`, "POST", "/orders", "application/json",
			`{"customer_id":"c-1","payment_token":"tok_visa","lines":null}`, true},
		{"202 without Location", 202, js, `{"id":"o1","status":"PENDING","links":{"self":"/orders/o1"}}`,
			"POST", "/orders", "application/json", goodOrder, true},
		{"accepted without Content-Type", 202, map[string]string{"Content-Type": "application/json", "Location": "/orders/o1"},
			`{"id":"o1","status":"PENDING","links":{"self":"/orders/o1"}}`, "POST", "/orders", "", goodOrder, true},
		{"accepted with Latin-1 charset", 202, map[string]string{"Content-Type": "application/json", "Location": "/orders/o1"},
			`{"id":"o1","status":"PENDING","links":{"self":"/orders/o1"}}`, "POST", "/orders", "application/json; charset=iso-8859-1", goodOrder, true},
		{"accepted Customer_Id", 202, map[string]string{"Content-Type": "application/json", "Location": "/orders/o1"},
			`{"id":"o1","status":"PENDING","links":{"self":"/orders/o1"}}`, "POST", "/orders", "application/json",
			`{"Customer_Id":"c-1","customer_id":"c-1","payment_token":"tok_visa","lines":[{"sku":"A","quantity":1}]}`, true},
		{"repeated query accepted", 200, js, `{"items":[]}`, "GET", "/orders?status=CONFIRMED&status=FAILED", "", "", true},
		{"unknown path answered 200", 200, js, `{}`, "GET", "/nowhere", "", "", true},
		{"unknown path 404", 404, pj, problem(404, "/problems/not-found"), "GET", "/nowhere", "", "", false},
		{"405 without Allow", 405, pj, problem(405, "/problems/method-not-allowed"), "DELETE", "/orders", "", "", true},
		{"405 with Allow", 405, map[string]string{"Content-Type": "application/problem+json", "Allow": "GET, HEAD, POST"},
			problem(405, "/problems/method-not-allowed"), "DELETE", "/orders", "", "", false},
		{"HEAD answered 405", 405, map[string]string{"Content-Type": "application/problem+json", "Allow": "GET, HEAD, POST"},
			problem(405, "/problems/method-not-allowed"), "HEAD", "/products", "", "", true},
		{"HEAD answered like GET", 200, js, "", "HEAD", "/products", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, r := serveFake(t, "public", tc.status, tc.header, tc.body)
			send(t, tc.method, srv.URL+tc.path, tc.ct, tc.reqBody, "")
			srv.Close()
			got := r.all()
			if tc.wantReport && len(got) == 0 {
				t.Error("no mismatch reported")
			}
			if !tc.wantReport && len(got) > 0 {
				t.Errorf("unexpected mismatch: %v", got)
			}
			for _, err := range got {
				t.Log(err)
			}
		})
	}
}

// TestAuthenticationIsChecked: every public operation declares the bearer scheme, so a
// request without a bearer token is outside the document and must be refused (401), and
// 401 and 403 answers carry the challenge the document requires.
func TestAuthenticationIsChecked(t *testing.T) {
	challenge := map[string]string{"Content-Type": "application/problem+json", "WWW-Authenticate": `Bearer realm="sagaflow"`}
	pj := map[string]string{"Content-Type": "application/problem+json"}
	js := map[string]string{"Content-Type": "application/json"}
	cases := []struct {
		name   string
		status int
		header map[string]string
		body   string
		path   string
		// authorization is the request's Authorization header: "" a bearer token, "none" none.
		authorization string
		wantReport    bool
	}{
		{name: "a token answered 200", status: 200, header: js, body: `{"items":[]}`, path: "/products", wantReport: false},
		{name: "no token answered 200", status: 200, header: js, body: `{"items":[]}`, path: "/products", authorization: "none", wantReport: true},
		{name: "no token answered 401 with the challenge", status: 401, header: challenge, body: problem(401, "/problems/unauthorized"), path: "/products", authorization: "none"},
		{name: "no token answered 404", status: 404, header: pj, body: problem(404, "/problems/not-found"), path: "/orders/x", authorization: "none"},
		{name: "another scheme answered 200", status: 200, header: js, body: `{"items":[]}`, path: "/products", authorization: "Basic dXNlcjpwdw==", wantReport: true},
		{name: "an empty bearer answered 200", status: 200, header: js, body: `{"items":[]}`, path: "/products", authorization: "Bearer ", wantReport: true},
		{name: "401 without the challenge", status: 401, header: pj, body: problem(401, "/problems/unauthorized"), path: "/orders/x", authorization: "none", wantReport: true},
		{name: "403 with the challenge", status: 403, header: challenge, body: problem(403, "/problems/forbidden"), path: "/orders/x"},
		{name: "403 without the challenge", status: 403, header: pj, body: problem(403, "/problems/forbidden"), path: "/orders/x", wantReport: true},
		{name: "403 where only 401 is declared", status: 403, header: challenge, body: problem(403, "/problems/forbidden"), path: "/products", wantReport: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, r := serveFake(t, "public", tc.status, tc.header, tc.body)
			send(t, "GET", srv.URL+tc.path, "", "", tc.authorization)
			srv.Close()
			got := r.all()
			if tc.wantReport != (len(got) > 0) {
				t.Errorf("mismatches %v, want reported: %v", got, tc.wantReport)
			}
		})
	}

	// A component running without authentication serves requests without a token; the
	// rest of the document still holds.
	for _, tc := range []struct {
		name       string
		body       string
		wantReport bool
	}{
		{"no token answered 200", `{"items":[]}`, false},
		{"no token answered off the schema", `{"items":null}`, true},
	} {
		t.Run("without authentication/"+tc.name, func(t *testing.T) {
			r := &reports{}
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tc.body)
			})
			srv := httptest.NewServer(MustFor(t, "public").WithoutAuthentication().HandlerFunc(r.add, h))
			send(t, "GET", srv.URL+"/products", "", "", "none")
			srv.Close()
			if got := r.all(); tc.wantReport != (len(got) > 0) {
				t.Errorf("mismatches %v, want reported: %v", got, tc.wantReport)
			}
		})
	}
}

// TestTransport: the client-side check sees what the server-side one does.
func TestTransport(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items":null}`)
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	r := &reports{}
	c := &http.Client{Transport: MustFor(t, "public").Transport(r.add, nil)}
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/products", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer not-checked-here")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(body) != `{"items":null}` {
		t.Errorf("body %q not handed on", body)
	}
	if len(r.all()) == 0 {
		t.Error("null items not reported")
	}
}

// TestProductionDoesNotImportTheValidator: the validator is for tests only.
func TestProductionDoesNotImportTheValidator(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/sagaflow/sagaflow/cmd/sagaflow").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for dep := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(dep, "github.com/getkin/kin-openapi") || dep == "github.com/sagaflow/sagaflow/test/contract" {
			t.Errorf("the sagaflow binary depends on %s", dep)
		}
	}
}
