package badinput

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/test/system"
)

// check asserts the answer is the expected problem and leaks nothing.
func check(t *testing.T, c badCase, a answer) {
	t.Helper()
	if a.status != c.want {
		t.Errorf("status %d, want %d; body %.300q", a.status, c.want, a.body)
	}
	if a.status < 400 || a.status >= 500 {
		t.Errorf("status %d is not a client error", a.status)
	}
	if c.plainText {
		// Go's server wrote it before any handler ran: it can only be its own short text.
		if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type %q, want Go's text/plain refusal", ct)
		}
		return
	}
	if err := Check(a.status, a.header, a.body); err != nil {
		t.Error(err)
	}
	if c.code != "" {
		if p, err := DecodeProblem(a.body); err == nil && p.Type != problem.TypePrefix+c.code {
			t.Errorf("problem type %q, want code %q", p.Type, c.code)
		}
	}
}

// run sends one case, from a caller the operation accepts.
func (s *liveSystem) run(t *testing.T, c badCase) answer {
	t.Helper()
	base := s.url(c.target)
	if c.raw != "" {
		raw := c.raw
		if bearer := s.bearer(t, c.target, strings.Fields(raw)[0], strings.Fields(raw)[1]); bearer != "" {
			raw = strings.Replace(raw, "\r\nHost: ", "\r\nAuthorization: "+bearer+"\r\nHost: ", 1)
		}
		return sendRaw(t, base, raw, c.halfClose)
	}
	header := c.header.Clone()
	if header == nil {
		header = http.Header{}
		if c.body != nil {
			header.Set("Content-Type", "application/json")
		}
		if c.method != http.MethodGet && c.method != http.MethodDelete {
			header = defaultHeader(true)
		}
	}
	if bearer := s.bearer(t, c.target, c.method, c.path); bearer != "" {
		header.Set("Authorization", bearer)
	}
	return send(t, c.method, base+c.path, header, c.body, c.chunked)
}

func allCases() []badCase {
	var out []badCase
	for _, e := range endpoints() {
		out = append(out, bodyCases(e)...)
		out = append(out, keyCases(e)...)
	}
	// Operations without a body still require a good key before they touch anything (a
	// release or void of an unknown order would otherwise leave a marker).
	for _, e := range []endpoint{
		{name: "capture-payment", target: targetPayment, path: "/payments/" + unknownOrder + "/capture"},
		{name: "void-payment", target: targetPayment, path: "/payments/" + unknownOrder + "/void"},
		{name: "release-stock", target: targetInventory, path: "/reservations/" + unknownOrder + "/release"},
		{name: "commit-stock", target: targetInventory, path: "/reservations/" + unknownOrder + "/commit"},
	} {
		e.method, e.key = http.MethodPost, true
		for _, c := range keyCases(e) {
			c.body = nil
			out = append(out, c)
		}
	}
	out = append(out, fieldCases()...)
	out = append(out, idCases()...)
	out = append(out, rawCases()...)
	return out
}

func TestBadInput(t *testing.T) {
	s := startSystem(t)
	s.recordPendingOrder(t)

	cases := allCases()
	names := map[string]bool{}
	for _, c := range cases {
		name := c.target + "/" + c.name
		if names[name] {
			t.Fatalf("duplicate case name %q", name)
		}
		names[name] = true
	}
	for _, c := range cases {
		t.Run(c.target+"/"+c.name, func(t *testing.T) {
			before := s.sys.Writes(t)
			a := s.run(t, c)
			t.Logf("answered %d, want %d", a.status, c.want)
			check(t, c, a)
			after := s.sys.Writes(t)
			for _, target := range []string{targetOrder, targetPayment, targetInventory} {
				k := system.IdempotencyRefusals(target)
				if c.refusalRecorded && c.target == target {
					b, errB := strconv.Atoi(before[k])
					n, errN := strconv.Atoi(after[k])
					if errB != nil || errN != nil {
						t.Fatalf("%s: counts %q and %q are not numbers", k, before[k], after[k])
					}
					if n != b+1 {
						t.Errorf("%s: %d stored refusals, want %d", k, n, b+1)
					}
					before[k], after[k] = "", ""
				}
			}
			for _, k := range before.Diff(after) {
				t.Errorf("refused request wrote to %s", k)
			}
			if c.target == targetAPI && c.header != nil {
				if key := c.header.Get("Idempotency-Key"); key != "" {
					s.requireNoSaga(t, api.OrderIDForKey(apiCustomer, key))
				}
			}
		})
	}

	t.Run("accepted/SQL metacharacters stored verbatim", s.storesSQLVerbatim)
	t.Run("accepted/decision reason stored verbatim", s.decisionVerbatim)
	t.Run("accepted/business failures end FAILED", s.businessFailures)
	s.closePendingOrder(t)
	t.Run("auditor", s.requireInvariants)
}
