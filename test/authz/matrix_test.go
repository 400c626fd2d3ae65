package authz

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/test/badinput"
	"github.com/sagaflow/sagaflow/test/system"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/tools/audit"
	"github.com/sagaflow/sagaflow/tools/devauth"
	"github.com/sagaflow/sagaflow/workflows"
)

func TestMain(m *testing.M) { testtemporal.Main(m) }

// Subjects of the suite's valid tokens. Every order the matrix acts on is customerA's.
const (
	customerA = "cust-authz-a"
	customerB = "cust-authz-b"
	operator  = "ops-authz"
	admin     = "admin-authz"
)

// adminScopes are an administrator's: the catalog, nothing of orders.
func adminScopes() []string { return []string{"catalog:write"} }

// allOrderScopes is what every invalid token claims, so that nothing but its invalidity
// refuses it.
func allOrderScopes() []string {
	return []string{auth.ScopeOrdersRead, auth.ScopeOrdersWrite, auth.ScopeOrdersApprove, auth.ScopeOrdersReadAll}
}

// approvalThreshold holds orders of $1,000.00 or more: a MACHINE is $2,490.00.
const approvalThreshold = 100000

// Callers, the matrix's columns.
const (
	callerNone          = "no token"
	callerMalformed     = "malformed"
	callerBadSignature  = "bad signature"
	callerExpired       = "expired"
	callerNotYetValid   = "not yet valid"
	callerWrongIssuer   = "wrong issuer"
	callerWrongAudience = "wrong audience"
	callerAlgNone       = "alg none"
	callerSelf          = "customer self"
	callerOther         = "another customer"
	callerOperator      = "operator"
	callerAdmin         = "admin"
	callerService       = "another service"
)

func callers() []string {
	return []string{callerNone, callerMalformed, callerBadSignature, callerExpired, callerNotYetValid, callerWrongIssuer,
		callerWrongAudience, callerAlgNone, callerSelf, callerOther, callerOperator, callerAdmin, callerService}
}

// row is an operation's expected status for each caller, in callers() order.
type row [13]int

// matrix is the expected status of every cell. The order (and the list) is customerA's: "another
// customer" is customerB acting on it (placing an order that names customerA, listing
// customerA's orders). Another customer's order is 404, as if it did not exist; naming
// another customer is 403.
func matrix() []struct {
	op   string
	want row
} {
	return []struct {
		op   string
		want row
	}{
		//                  none malformed bad-sig expired not-yet wrong-iss wrong-aud alg-none self other operator admin service
		{"place-order", row{401, 401, 401, 401, 401, 401, 401, 401, 202, 403, 403, 403, 401}},
		{"get-order", row{401, 401, 401, 401, 401, 401, 401, 401, 200, 404, 200, 403, 401}},
		{"list-orders", row{401, 401, 401, 401, 401, 401, 401, 401, 200, 403, 200, 403, 401}},
		{"approve-order", row{401, 401, 401, 401, 401, 401, 401, 401, 403, 403, 202, 403, 401}},
		{"reject-order", row{401, 401, 401, 401, 401, 401, 401, 401, 403, 403, 202, 403, 401}},
		{"cancel-order", row{401, 401, 401, 401, 401, 401, 401, 401, 202, 404, 202, 403, 401}},
		{"list-products", row{401, 401, 401, 401, 401, 401, 401, 401, 200, 200, 200, 200, 401}},
	}
}

// decisions maps the decision operations to their path's last segment.
func decisions() map[string]string {
	return map[string]string{"approve-order": "approve", "reject-order": "reject", "cancel-order": "cancel"}
}

func logger(component string) *slog.Logger {
	if os.Getenv("AUTHZ_LOGS") != "" {
		return logging.New(os.Stderr, "debug", component)
	}
	return logging.Discard()
}

func catalog() []system.Product {
	return []system.Product{
		{SKU: "BEANS", Name: "Espresso beans", Price: 2450, Stock: 1000},
		{SKU: "MACHINE", Name: "Espresso machine", Price: 249000, Stock: 100},
	}
}

// suite is one system with its public API, the callers' Authorization headers and the
// orders the matrix acts on.
type suite struct {
	sys    *system.System
	apiURL string
	http   *http.Client
	// authorization is each caller's Authorization header ("" sends none).
	authorization map[string]string
	// secrets are what no answer may contain: the tokens and the keys' ids.
	secrets []string
	// shared is the held order of customerA the refused decisions and the reads aim at;
	// fresh are more held orders, one for each accepted decision.
	shared string
	fresh  []string
}

// answer is an HTTP answer as a client sees it.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func TestAuthorizationMatrix(t *testing.T) {
	s := start(t)
	accepted := 0
	for _, r := range matrix() {
		for _, w := range r.want {
			if w == http.StatusAccepted && decisions()[r.op] != "" {
				accepted++
			}
		}
	}
	s.shared = s.placeHeld(t)
	for range accepted {
		s.fresh = append(s.fresh, s.placeHeld(t))
	}
	for _, id := range append([]string{s.shared}, s.fresh...) {
		s.awaitStatus(t, id, orderclient.StatusAwaitingApproval)
	}
	// Every saga now waits for its decision: nothing writes until a request does.
	s.settle(t)

	got := map[string]map[string]int{}
	record := func(op, caller string, status int) {
		if got[op] == nil {
			got[op] = map[string]int{}
		}
		got[op][caller] = status
	}
	// Refusals and reads first, each held to writing nothing; then the calls that write.
	for _, phase := range []string{"refused and reads", "accepted writes"} {
		t.Run(phase, func(t *testing.T) {
			for _, r := range matrix() {
				for i, caller := range callers() {
					want := r.want[i]
					if (want == http.StatusAccepted) != (phase == "accepted writes") {
						continue
					}
					t.Run(r.op+"/"+caller, func(t *testing.T) {
						if want == http.StatusAccepted {
							record(r.op, caller, s.acceptedWrite(t, r.op, caller))
							return
						}
						record(r.op, caller, s.writesNothing(t, r.op, caller, want))
					})
				}
			}
		})
	}
	s.logMatrix(t, got)

	t.Run("insecure mode records anonymous decisions", s.insecureAnonymous)
	s.closeShared(t)
	t.Run("auditor", s.requireInvariants)
}

func start(t *testing.T) *suite {
	t.Helper()
	ts := system.Start(t, logger)
	cfg := ts.APIConfig(t, "authz:")
	cfg.ApprovalThreshold = approvalThreshold
	cfg.ApprovalTimeout = time.Hour
	s := &suite{sys: ts, apiURL: ts.ServeAPI(t, cfg), http: &http.Client{Timeout: 30 * time.Second}}
	ts.Seed(t, catalog())
	s.mintTokens(t, cfg)
	return s
}

// mintTokens makes every caller's Authorization header.
func (s *suite) mintTokens(t *testing.T, cfg api.Config) {
	t.Helper()
	now := time.Now()
	mint := func(tok devauth.Token) string {
		if tok.Scopes == nil {
			tok.Scopes = allOrderScopes()
		}
		if tok.Subject == "" {
			tok.Subject = customerA
		}
		return s.sys.Mint(t, tok)
	}
	kid := issuerKeyID(t, cfg.JWKSURL)
	serviceToken, serviceKid := anotherServiceToken(t)
	tokens := map[string]string{
		callerMalformed: "not-a-jwt",
		// customerA's own token, its scopes raised after signing.
		callerBadSignature:  withClaims(t, mint(devauth.Token{Scopes: devauth.CustomerScopes}), map[string]any{"scope": strings.Join(allOrderScopes(), " ")}),
		callerExpired:       mint(devauth.Token{IssuedAt: now.Add(-2 * time.Hour), TTL: time.Hour}),
		callerNotYetValid:   mint(devauth.Token{NotBefore: now.Add(10 * time.Minute)}),
		callerWrongIssuer:   mint(devauth.Token{Issuer: "https://issuer.elsewhere.test/"}),
		callerWrongAudience: mint(devauth.Token{Audience: "another-api"}),
		callerAlgNone:       unsigned(t, kid, now),
		callerSelf:          mint(devauth.Token{Scopes: devauth.CustomerScopes}),
		callerOther:         mint(devauth.Token{Subject: customerB, Scopes: devauth.CustomerScopes}),
		callerOperator:      mint(devauth.Token{Subject: operator, Scopes: devauth.OperatorScopes}),
		callerAdmin:         mint(devauth.Token{Subject: admin, Scopes: adminScopes()}),
		callerService:       serviceToken,
	}
	s.authorization = map[string]string{callerNone: ""}
	s.secrets = []string{kid, serviceKid}
	for caller, tok := range tokens {
		s.authorization[caller] = "Bearer " + tok
		s.secrets = append(s.secrets, tok)
		if parts := strings.Split(tok, "."); len(parts) == 3 && len(parts[2]) > 16 {
			s.secrets = append(s.secrets, parts[2])
		}
	}
}

// issuerKeyID reads the id of the key the issuer signs with from its key set.
func issuerKeyID(t *testing.T, jwksURL string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, jwksURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var set struct {
		Keys []struct {
			KeyID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 1 || set.Keys[0].KeyID == "" {
		t.Fatalf("issuer key set: %v %+v", err, set)
	}
	return set.Keys[0].KeyID
}

// anotherServiceToken is a service token of the saga worker, signed by its own key and
// addressed to the public API's audience: a real token, of the wrong kind.
func anotherServiceToken(t *testing.T) (token, keyID string) {
	t.Helper()
	keys, err := devauth.NewServiceKeys()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auth.NewSigner(keys.Private[auth.IdentitySagaWorker])
	if err != nil {
		t.Fatal(err)
	}
	token, err = signer.Token(devauth.DefaultAudience)
	if err != nil {
		t.Fatal(err)
	}
	var header struct {
		KeyID string `json:"kid"`
	}
	decodeSegment(t, strings.Split(token, ".")[0], &header)
	return token, header.KeyID
}

func decodeSegment(t *testing.T, segment string, v any) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}

func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// withClaims changes claims of a signed token by hand and keeps its signature, which then
// no longer matches.
func withClaims(t *testing.T, token string, claims map[string]any) string {
	t.Helper()
	parts := strings.Split(token, ".")
	var payload map[string]any
	decodeSegment(t, parts[1], &payload)
	for k, v := range claims {
		payload[k] = v
	}
	return parts[0] + "." + encodeSegment(t, payload) + "." + parts[2]
}

// unsigned is a token with "alg": "none" naming the issuer's key, and valid claims: jwx
// will not make one, so it is built by hand.
func unsigned(t *testing.T, kid string, now time.Time) string {
	t.Helper()
	header := encodeSegment(t, map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	payload := encodeSegment(t, map[string]any{
		"iss": system.IssuerURL, "aud": devauth.DefaultAudience, "sub": customerA,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": strings.Join(allOrderScopes(), " "),
	})
	return header + "." + payload + "."
}

// send issues one request as caller.
func (s *suite) send(t *testing.T, caller, method, path string, header map[string]string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.apiURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if a := s.authorization[caller]; a != "" {
		req.Header.Set("Authorization", a)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}
}

// call sends operation op as caller; target is the order a get or a decision aims at, key
// the Idempotency-Key of a place.
func (s *suite) call(t *testing.T, op, caller, target, key string) answer {
	t.Helper()
	switch op {
	case "place-order":
		return s.send(t, caller, http.MethodPost, "/orders", map[string]string{"Idempotency-Key": key}, map[string]any{
			"customer_id": customerA, "payment_token": "tok_visa", "lines": []map[string]any{{"sku": "BEANS", "quantity": 1}},
		})
	case "get-order":
		return s.send(t, caller, http.MethodGet, "/orders/"+target, nil, nil)
	case "list-orders":
		return s.send(t, caller, http.MethodGet, "/orders?customer_id="+customerA, nil, nil)
	case "list-products":
		return s.send(t, caller, http.MethodGet, "/products", nil, nil)
	}
	action := decisions()[op]
	if action == "" {
		t.Fatalf("no operation %s", op)
	}
	return s.send(t, caller, http.MethodPost, "/orders/"+target+"/"+action, nil, map[string]string{"reason": "authz " + caller})
}

// placeHeld places a MACHINE for customerA, which the saga holds for approval.
func (s *suite) placeHeld(t *testing.T) string {
	t.Helper()
	a := s.send(t, callerSelf, http.MethodPost, "/orders", map[string]string{"Idempotency-Key": "authz-held-" + testenv.Suffix()},
		map[string]any{"payment_token": "tok_visa", "lines": []map[string]any{{"sku": "MACHINE", "quantity": 1}}})
	if a.status != http.StatusAccepted {
		t.Fatalf("place a held order: %d %s", a.status, a.body)
	}
	var o api.Order
	if err := json.Unmarshal(a.body, &o); err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// order reads an order as the operator.
func (s *suite) order(t *testing.T, id string) api.Order {
	t.Helper()
	a := s.send(t, callerOperator, http.MethodGet, "/orders/"+id, nil, nil)
	if a.status != http.StatusOK {
		t.Fatalf("get order %s: %d %s", id, a.status, a.body)
	}
	var o api.Order
	if err := json.Unmarshal(a.body, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func (s *suite) awaitStatus(t *testing.T, id string, want orderclient.Status) api.Order {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		o := s.order(t, id)
		if o.Status == want {
			return o
		}
		if o.Status.IsTerminal() || time.Now().After(deadline) {
			t.Fatalf("order %s is %s (%s), want %s", id, o.Status, o.FailureReason, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// state is what the system holds, with the length of each held order's saga history (a
// decision that reached a saga adds to it).
func (s *suite) state(t *testing.T) system.Writes {
	t.Helper()
	w := s.sys.Writes(t)
	for _, id := range append([]string{s.shared}, s.fresh...) {
		desc, err := s.sys.Temporal.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(id), "")
		if err != nil {
			t.Fatal(err)
		}
		info := desc.GetWorkflowExecutionInfo()
		w["temporal."+id] = fmt.Sprintf("%s after %d events", info.GetStatus(), info.GetHistoryLength())
	}
	return w
}

// settle waits until the system stops changing.
func (s *suite) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := s.state(t)
	for {
		time.Sleep(300 * time.Millisecond)
		now := s.state(t)
		if len(last.Diff(now)) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the system is still changing: %v", last.Diff(now))
		}
		last = now
	}
}

// writesNothing sends a call that must not write (a refusal or a read), checks its answer
// and that nothing changed anywhere.
func (s *suite) writesNothing(t *testing.T, op, caller string, want int) int {
	t.Helper()
	key := "authz-" + op + "-" + strings.ReplaceAll(caller, " ", "-") + "-" + testenv.Suffix()
	before := s.state(t)
	a := s.call(t, op, caller, s.shared, key)
	if a.status != want {
		t.Errorf("status %d, want %d: %.300s", a.status, want, a.body)
	}
	switch {
	case a.status >= 400:
		s.checkRefusal(t, op, caller, a)
	case a.status == http.StatusOK:
		s.checkRead(t, op, a)
	}
	for _, k := range before.Diff(s.state(t)) {
		t.Errorf("%s by %s changed %s", op, caller, k)
	}
	if op == "place-order" {
		// No saga, whoever it would have been for.
		for _, subject := range []string{"", customerA, customerB, operator, admin, auth.IdentitySagaWorker} {
			id := api.OrderIDForKey(subject, key)
			_, err := s.sys.Temporal.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(id), "")
			var nf *serviceerror.NotFound
			if !errors.As(err, &nf) {
				t.Errorf("a refused order started saga %s (describe: %v)", id, err)
			}
		}
	}
	return a.status
}

// reasons the verifier refuses a token for: the client is never told which.
func reasons() []string {
	return []string{auth.ReasonMalformed, auth.ReasonAlgorithm, auth.ReasonUnknownKey, auth.ReasonSignature, auth.ReasonExpired,
		auth.ReasonNotYetValid, auth.ReasonIssuer, auth.ReasonAudience, auth.ReasonClaims, auth.ReasonLifetime}
}

// checkRefusal: a problem document that says what it is and nothing more, with the
// challenge its status calls for.
func (s *suite) checkRefusal(t *testing.T, op, caller string, a answer) {
	t.Helper()
	if err := badinput.Check(a.status, a.header, a.body); err != nil {
		t.Error(err)
	}
	p, err := badinput.DecodeProblem(a.body)
	if err != nil {
		t.Fatalf("problem %s: %v", a.body, err)
	}
	wantType := map[int]string{401: "/problems/unauthorized", 403: "/problems/forbidden", 404: "/problems/not-found"}[a.status]
	if wantType == "" || p.Type != wantType || len(p.Errors) != 0 {
		t.Errorf("problem %+v, want type %q and no details", p, wantType)
	}
	challenge := a.header.Get("WWW-Authenticate")
	// The order id a 404 names is the client's own; it could spell anything.
	exposed := strings.ToLower(strings.ReplaceAll(string(a.body), s.shared, "") + "\n" + challenge)
	for _, secret := range s.secrets {
		if secret != "" && strings.Contains(exposed, strings.ToLower(secret)) {
			t.Errorf("the answer gives away %.20s...", secret)
		}
	}
	for _, word := range append(reasons(), "jwt", "jws", "jwk", "kid", "token refused", "rsa", "crypto", "signature", "claim") {
		if strings.Contains(exposed, word) {
			t.Errorf("the answer says %q: %s %s", word, challenge, a.body)
		}
	}
	switch a.status {
	case http.StatusUnauthorized:
		if !strings.HasPrefix(challenge, "Bearer ") {
			t.Errorf("401 with WWW-Authenticate %q, want a Bearer challenge", challenge)
		}
		// RFC 6750: no error code when the request carried no token.
		if sentToken := caller != callerNone; sentToken != strings.Contains(challenge, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate %q; a token was sent: %v", challenge, sentToken)
		}
	case http.StatusForbidden:
		if !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, `error="insufficient_scope"`) {
			t.Errorf("403 with WWW-Authenticate %q, want an insufficient_scope challenge", challenge)
		}
	case http.StatusNotFound:
		// Exactly what an order that does not exist gets.
		missing := "ord_" + strings.Repeat("z", 24)
		var other answer
		if op == "get-order" {
			other = s.send(t, caller, http.MethodGet, "/orders/"+missing, nil, nil)
		} else {
			other = s.send(t, caller, http.MethodPost, "/orders/"+missing+"/"+decisions()[op], nil, map[string]string{"reason": "authz " + caller})
		}
		if !bytes.Equal(bytes.ReplaceAll(a.body, []byte(s.shared), []byte(missing)), other.body) || other.status != http.StatusNotFound {
			t.Errorf("another customer's order answered %s, a missing one %d %s", a.body, other.status, other.body)
		}
	}
}

// checkRead: an accepted read answers what the caller may see.
func (s *suite) checkRead(t *testing.T, op string, a answer) {
	t.Helper()
	switch op {
	case "get-order":
		var o api.Order
		if err := json.Unmarshal(a.body, &o); err != nil || o.ID != s.shared || o.CustomerID != customerA {
			t.Errorf("order %s (%v), want %s of %s", a.body, err, s.shared, customerA)
		}
	case "list-orders":
		var page api.OrderPage
		if err := json.Unmarshal(a.body, &page); err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, o := range page.Items {
			if o.CustomerID != customerA {
				t.Errorf("listed %s's order %s", o.CustomerID, o.ID)
			}
			ids = append(ids, o.ID)
		}
		if !slices.Contains(ids, s.shared) {
			t.Errorf("listed %v, want %s among them", ids, s.shared)
		}
	case "list-products":
		var list api.ProductList
		if err := json.Unmarshal(a.body, &list); err != nil || len(list.Items) != len(catalog()) {
			t.Errorf("catalog %s (%v)", a.body, err)
		}
	}
}

// acceptedWrite sends a call that must succeed and checks it did what it says, for the
// token's subject.
func (s *suite) acceptedWrite(t *testing.T, op, caller string) int {
	t.Helper()
	if op == "place-order" {
		key := "authz-place-" + testenv.Suffix()
		a := s.call(t, op, caller, "", key)
		id := api.OrderIDForKey(customerA, key)
		if a.status != http.StatusAccepted || a.header.Get("Location") != "/orders/"+id {
			t.Fatalf("status %d at %q, want 202 at /orders/%s: %s", a.status, a.header.Get("Location"), id, a.body)
		}
		o := s.awaitStatus(t, id, orderclient.StatusConfirmed)
		if o.CustomerID != customerA {
			t.Errorf("the order is %q's, want %q's", o.CustomerID, customerA)
		}
		desc, err := s.sys.Temporal.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(id), "")
		if err != nil {
			t.Fatal(err)
		}
		var memo string
		// The memo is encrypted like every payload: only the system's converter reads it.
		p := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()["customer_id"]
		if p == nil || s.sys.DataConverter().FromPayload(p, &memo) != nil || memo != customerA {
			t.Errorf("saga memo customer_id %q, want %q", memo, customerA)
		}
		if p != nil && converter.GetDefaultDataConverter().FromPayload(p, new(string)) == nil {
			t.Errorf("the saga's memo holds the customer id in clear")
		}
		return a.status
	}
	if len(s.fresh) == 0 {
		t.Fatal("no held order left for an accepted decision")
	}
	id := s.fresh[0]
	s.fresh = s.fresh[1:]
	a := s.call(t, op, caller, id, "")
	if a.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", a.status, a.body)
	}
	subject := map[string]string{callerSelf: customerA, callerOperator: operator}[caller]
	reason := "authz " + caller
	switch op {
	case "approve-order":
		o := s.awaitStatus(t, id, orderclient.StatusConfirmed)
		if d := o.Saga; d == nil || d.Decision == nil || d.Decision.Kind != workflows.DecisionApproved || d.Decision.By != subject || d.Decision.Reason != reason {
			t.Errorf("decision %+v, want approved by %s", o.Saga, subject)
		}
	case "reject-order":
		o := s.awaitStatus(t, id, orderclient.StatusFailed)
		if d := o.Saga; d == nil || d.Decision == nil || d.Decision.Kind != workflows.DecisionRejected || d.Decision.By != subject {
			t.Errorf("decision %+v, want rejected by %s", o.Saga, subject)
		}
		if want := "rejected by " + subject + ": " + reason; o.FailureReason != want {
			t.Errorf("failure reason %q, want %q", o.FailureReason, want)
		}
	case "cancel-order":
		o := s.awaitStatus(t, id, orderclient.StatusCancelled)
		if want := "cancelled by " + subject + ": " + reason; o.FailureReason != want {
			t.Errorf("failure reason %q, want %q", o.FailureReason, want)
		}
	}
	return a.status
}

// logMatrix shows every cell's status as it was answered.
func (s *suite) logMatrix(t *testing.T, got map[string]map[string]int) {
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	_, _ = fmt.Fprintf(w, "operation\t%s\n", strings.Join(callers(), "\t"))
	cells := 0
	for _, r := range matrix() {
		_, _ = fmt.Fprint(w, r.op)
		for _, caller := range callers() {
			_, _ = fmt.Fprintf(w, "\t%d", got[r.op][caller])
			cells++
		}
		_, _ = fmt.Fprintln(w)
	}
	_ = w.Flush()
	t.Logf("%d cells (%d operations × %d callers):\n%s", cells, len(matrix()), len(callers()), b.String())
}

// insecureAnonymous: an API with authentication off (local use) asks for no token, takes the
// customer from the body and records decisions as anonymous.
func (s *suite) insecureAnonymous(t *testing.T) {
	cfg := s.sys.APIConfig(t, "authz-insecure:")
	cfg.Insecure = true
	cfg.ApprovalThreshold = approvalThreshold
	cfg.ApprovalTimeout = time.Hour
	insecure := &suite{sys: s.sys, apiURL: s.sys.ServeAPI(t, cfg), http: s.http, authorization: map[string]string{}}
	a := insecure.send(t, callerNone, http.MethodPost, "/orders", map[string]string{"Idempotency-Key": "authz-insecure-" + testenv.Suffix()},
		map[string]any{"customer_id": "cust-local", "payment_token": "tok_visa", "lines": []map[string]any{{"sku": "MACHINE", "quantity": 1}}})
	var placed api.Order
	if a.status != http.StatusAccepted || json.Unmarshal(a.body, &placed) != nil {
		t.Fatalf("place without a token: %d %s", a.status, a.body)
	}
	insecure.authorization[callerOperator] = "" // reads too go without a token
	insecure.awaitStatus(t, placed.ID, orderclient.StatusAwaitingApproval)
	if a := insecure.send(t, callerNone, http.MethodPost, "/orders/"+placed.ID+"/approve", nil, map[string]string{"reason": "local"}); a.status != http.StatusAccepted {
		t.Fatalf("approve without a token: %d %s", a.status, a.body)
	}
	o := insecure.awaitStatus(t, placed.ID, orderclient.StatusConfirmed)
	if o.CustomerID != "cust-local" || o.Saga == nil || o.Saga.Decision == nil || o.Saga.Decision.By != "anonymous" {
		t.Fatalf("order of %q decided %+v, want cust-local's approved by anonymous", o.CustomerID, o.Saga)
	}
}

// closeShared cancels the order the refused decisions aimed at, so that every order ends.
func (s *suite) closeShared(t *testing.T) {
	t.Helper()
	if a := s.call(t, "cancel-order", callerOperator, s.shared, ""); a.status != http.StatusAccepted {
		t.Fatalf("cancel the shared order: %d %s", a.status, a.body)
	}
	s.awaitStatus(t, s.shared, orderclient.StatusCancelled)
}

// requireInvariants runs the auditor over everything the suite left behind.
func (s *suite) requireInvariants(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	report, err := audit.New(s.sys.Orders, s.sys.Payments, s.sys.Inventory).Run(ctx, audit.Options{})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	var out bytes.Buffer
	_ = report.WriteText(&out)
	if !report.OK() {
		t.Fatalf("invariants violated:\n%s", out.String())
	}
}
