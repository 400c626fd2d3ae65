package svcauthz

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jmoiron/sqlx"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/requestid"
	"github.com/sagaflow/sagaflow/services/inventory"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	"github.com/sagaflow/sagaflow/services/order"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/services/payment"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/badinput"
	"github.com/sagaflow/sagaflow/test/contract"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testkeys"
	"github.com/sagaflow/sagaflow/tools/devauth"
)

// unknown is an order, SKU and product nobody has: calls about it are answered without
// depending on what other cells did.
const unknown = "authz-nobody"

// call is how the matrix calls one operation, and who may: the written policy
// (docs/security.md), kept here apart from the services' code so each checks the other.
type call struct {
	callers []string
	// path and body of the n-th call (n keeps created ids apart); body "" sends none.
	path func(n int) string
	body func(n int) string
	key  bool // sends an Idempotency-Key
	// accepted is the answer a caller the operation accepts gets: its business answer.
	accepted int
}

func policy() map[string]call {
	sagaStep := func(pool string) []string { return []string{auth.IdentitySagaWorker, pool} }
	readers := []string{auth.IdentityAPI, auth.IdentityAdmin}
	admin := []string{auth.IdentityAdmin}
	fixed := func(s string) func(int) string { return func(int) string { return s } }
	none := fixed("")
	id := func(n int) string { return fmt.Sprintf("authz-%d", n) }
	return map[string]call{
		"create-order": {callers: sagaStep(auth.IdentityOrdersWorker), key: true, accepted: http.StatusCreated, path: fixed("/orders"),
			body: func(n int) string {
				return `{"order_id":"` + id(n) + `","customer_id":"c-1","workflow_id":"order-` + id(n) + `","lines":[{"sku":"BEANS","quantity":1}]}`
			}},
		"transition-order": {callers: sagaStep(auth.IdentityOrdersWorker), key: true, accepted: http.StatusNotFound,
			path: fixed("/orders/" + unknown + "/transitions"), body: fixed(`{"status":"CANCELLED","reason":"authz"}`)},
		"get-order":   {callers: readers, accepted: http.StatusNotFound, path: fixed("/orders/" + unknown), body: none},
		"list-orders": {callers: readers, accepted: http.StatusOK, path: fixed("/orders"), body: none},

		"authorize-payment": {callers: sagaStep(auth.IdentityPaymentsWorker), key: true, accepted: http.StatusCreated, path: fixed("/payments"),
			body: func(n int) string {
				return `{"order_id":"` + id(n) + `","amount":100,"currency":"USD","payment_token":"tok_visa"}`
			}},
		"capture-payment": {callers: sagaStep(auth.IdentityPaymentsWorker), key: true, accepted: http.StatusNotFound,
			path: fixed("/payments/" + unknown + "/capture"), body: none},
		// Voiding an order nobody paid records a marker that refuses a later authorization.
		"void-payment": {callers: sagaStep(auth.IdentityPaymentsWorker), key: true, accepted: http.StatusOK,
			path: func(n int) string { return "/payments/" + id(n) + "/void" }, body: none},
		"refund-payment": {callers: sagaStep(auth.IdentityPaymentsWorker), key: true, accepted: http.StatusNotFound,
			path: fixed("/payments/" + unknown + "/refund"), body: fixed(`{"amount":1}`)},
		"get-payment":   {callers: admin, accepted: http.StatusNotFound, path: fixed("/payments/" + unknown), body: none},
		"list-payments": {callers: admin, accepted: http.StatusOK, path: fixed("/payments"), body: none},

		"upsert-product": {callers: admin, accepted: http.StatusCreated, path: func(n int) string { return "/products/AUTHZ-" + fmt.Sprint(n) },
			body: fixed(`{"name":"Set by the matrix","unit_price":1,"currency":"USD"}`)},
		"list-products": {callers: readers, accepted: http.StatusOK, path: fixed("/products"), body: none},
		"get-product":   {callers: readers, accepted: http.StatusNotFound, path: fixed("/products/" + unknown), body: none},
		"restock-product": {callers: admin, key: true, accepted: http.StatusNotFound,
			path: fixed("/products/" + unknown + "/restock"), body: fixed(`{"quantity":1000}`)},
		"list-stock-movements": {callers: admin, accepted: http.StatusNotFound, path: fixed("/products/" + unknown + "/movements"), body: none},
		// Reserving an unknown SKU is a business refusal (unknown-sku).
		"reserve-stock": {callers: sagaStep(auth.IdentityInventoryWorker), key: true, accepted: http.StatusUnprocessableEntity, path: fixed("/reservations"),
			body: func(n int) string {
				return `{"order_id":"` + id(n) + `","lines":[{"sku":"` + unknown + `","quantity":1}]}`
			}},
		// Releasing an order nobody reserved records a marker that refuses a later reserve.
		"release-stock": {callers: sagaStep(auth.IdentityInventoryWorker), key: true, accepted: http.StatusOK,
			path: func(n int) string { return "/reservations/" + id(n) + "/release" }, body: none},
		"commit-stock": {callers: sagaStep(auth.IdentityInventoryWorker), key: true, accepted: http.StatusNotFound,
			path: fixed("/reservations/" + unknown + "/commit"), body: none},
		"get-reservation":   {callers: admin, accepted: http.StatusNotFound, path: fixed("/reservations/" + unknown), body: none},
		"list-reservations": {callers: admin, accepted: http.StatusOK, path: fixed("/reservations"), body: none},
	}
}

// service is one running service under test.
type service struct {
	name   string // also the audience of its tokens
	url    string
	db     *sqlx.DB
	spec   *huma.OpenAPI
	tables []string
	logs   *testenv.LogBuffer
}

// operation is one operation of a service's document.
type operation struct {
	svc    *service
	id     string
	method string
}

func startServices(t *testing.T, keys *testkeys.Keys) []*service {
	t.Helper()
	out := []*service{
		{name: orderclient.ServiceName, spec: order.Spec(), tables: []string{"orders", "order_lines", "order_status_history"}},
		{name: payclient.ServiceName, spec: payment.Spec(), tables: []string{"payments", "ledger"}},
		{name: invclient.ServiceName, spec: inventory.Spec(), tables: []string{"products", "reservations", "reservation_lines", "stock_movements"}},
	}
	for _, s := range out {
		_, s.db = testenv.ServiceDatabase(t, s.name)
		s.logs = &testenv.LogBuffer{}
		logger := logging.New(s.logs, "debug", s.name)
		guard := keys.Guard(t, s.name, logger)
		var h http.Handler
		switch s.name {
		case orderclient.ServiceName:
			h = order.NewGuardedHandler(order.NewService(s.db, logger), guard, logger, nil)
		case payclient.ServiceName:
			h = payment.NewGuardedHandler(payment.NewService(s.db, logger, payment.NewTestProcessor(0)), guard, logger, nil)
		default:
			h = inventory.NewGuardedHandler(inventory.NewService(s.db, logger), guard, logger, nil)
		}
		// Every exchange, refusals included, is held to the committed document.
		srv := httptest.NewServer(contract.MustFor(t, s.name).Handler(t, h))
		t.Cleanup(srv.Close)
		s.url = srv.URL
		s.tables = append(s.tables, "idempotency_keys")
	}
	return out
}

// operations lists every operation the services' documents declare.
func operations(services []*service) []operation {
	var out []operation
	for _, s := range services {
		for _, item := range s.spec.Paths {
			for method, op := range map[string]*huma.Operation{
				http.MethodGet: item.Get, http.MethodPost: item.Post, http.MethodPut: item.Put,
				http.MethodPatch: item.Patch, http.MethodDelete: item.Delete,
			} {
				if op != nil {
					out = append(out, operation{svc: s, id: op.OperationID, method: method})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// digest is what a service's tables hold, row by row.
func (s *service) digest(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range s.tables {
		var d string
		q := fmt.Sprintf(`SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM %s t`, table)
		if err := s.db.GetContext(context.Background(), &d, q); err != nil {
			t.Fatalf("digest %s.%s: %v", s.name, table, err)
		}
		out[table] = d
	}
	return out
}

// tokens makes the bearer tokens of the matrix's rows.
type tokens struct {
	keys      *testkeys.Keys
	strangers map[string][]byte // a key of each identity that no service trusts
	issuer    *devauth.Issuer   // the public API's issuer: its users' tokens
}

func newTokens(t *testing.T, keys *testkeys.Keys) *tokens {
	t.Helper()
	tk := &tokens{keys: keys, strangers: map[string][]byte{}}
	for _, id := range auth.Identities() {
		k, err := auth.GenerateServiceKey(id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		tk.strangers[id] = k.Private
	}
	var err error
	if tk.issuer, err = devauth.NewIssuer("https://login.sagaflow.test/", devauth.DefaultAudience); err != nil {
		t.Fatal(err)
	}
	return tk
}

type claims struct {
	iss, sub, aud      string
	iat, nbf, exp      time.Time
	kid                string // "" keeps the key's own
	privateJWK, asHMAC []byte // the signing key; asHMAC signs HS256 keyed with these bytes
}

// sign builds and signs a token by hand, so it can break any rule.
func sign(t *testing.T, c claims) string {
	t.Helper()
	b := jwt.NewBuilder().Issuer(c.iss).Subject(c.sub).Audience([]string{c.aud}).IssuedAt(c.iat).Expiration(c.exp)
	if !c.nbf.IsZero() {
		b = b.NotBefore(c.nbf)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	var key jwk.Key
	alg := jwa.EdDSA()
	if c.asHMAC != nil {
		if key, err = jwk.Import(c.asHMAC); err != nil {
			t.Fatal(err)
		}
		alg = jwa.HS256()
	} else if key, err = jwk.ParseKey(c.privateJWK); err != nil {
		t.Fatal(err)
	}
	if c.kid != "" {
		if err := key.Set(jwk.KeyIDKey, c.kid); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := jwt.Sign(tok, jwt.WithKey(alg, key))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// unsigned is an "alg":"none" token naming a trusted key: jwx refuses to make one.
func unsigned(kid string, c claims) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	body, _ := json.Marshal(map[string]any{"iss": c.iss, "sub": c.sub, "aud": c.aud, "iat": c.iat.Unix(), "exp": c.exp.Unix()})
	return enc.EncodeToString(header) + "." + enc.EncodeToString(body) + "."
}

func kidOf(t *testing.T, privateJWK []byte) string {
	t.Helper()
	k, err := jwk.ParseKey(privateJWK)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := k.KeyID()
	return kid
}

func publicJWK(t *testing.T, privateJWK []byte) []byte {
	t.Helper()
	k, err := jwk.ParseKey(privateJWK)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (tk *tokens) mint(t *testing.T, tok devauth.Token) string {
	t.Helper()
	raw, err := tk.issuer.Mint(tok)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// row is one kind of caller: what it sends to an operation of svc whose accepted callers
// are allowed, and whose token it is ("" for every row that is not a valid service token).
type row struct {
	name     string
	header   func(t *testing.T, svc string, allowed []string) string // the Authorization header; "" sends none
	identity string
	// reason is why the service logs it refused the token ("" when there is none to judge).
	reason string
}

// rows lists the matrix's callers. A broken token is made for an identity the operation
// accepts, so the defect alone is why it is refused.
func (tk *tokens) rows() []row {
	bearer := func(tok string) string { return "Bearer " + tok }
	valid := func(id, aud string, now time.Time) claims {
		return claims{iss: id, sub: id, aud: aud, iat: now, exp: now.Add(5 * time.Minute), privateJWK: tk.keys.Private[id]}
	}
	first := func(ids []string) string { return ids[0] }
	notIn := func(ids []string) string {
		for _, id := range auth.Identities() {
			if !slices.Contains(ids, id) {
				return id
			}
		}
		panic("an operation accepts every identity")
	}
	otherService := func(svc string) string {
		if svc == orderclient.ServiceName {
			return payclient.ServiceName
		}
		return orderclient.ServiceName
	}
	out := []row{
		{name: "no token", header: func(*testing.T, string, []string) string { return "" }},
		{name: "basic credentials", header: func(*testing.T, string, []string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin"))
		}},
		{name: "malformed", reason: auth.ReasonMalformed, header: func(*testing.T, string, []string) string { return bearer("not-a-jwt") }},
		{name: "bad signature", reason: auth.ReasonSignature, header: func(t *testing.T, svc string, allowed []string) string {
			c := valid(first(allowed), svc, time.Now())
			c.privateJWK, c.kid = tk.strangers[first(allowed)], kidOf(t, tk.keys.Private[first(allowed)])
			return bearer(sign(t, c))
		}},
		{name: "untrusted key", reason: auth.ReasonUnknownKey, header: func(t *testing.T, svc string, allowed []string) string {
			c := valid(first(allowed), svc, time.Now())
			c.privateJWK = tk.strangers[first(allowed)]
			return bearer(sign(t, c))
		}},
		{name: "expired", reason: auth.ReasonExpired, header: func(t *testing.T, svc string, allowed []string) string {
			c := valid(first(allowed), svc, time.Now().Add(-10*time.Minute))
			return bearer(sign(t, c))
		}},
		{name: "not yet valid", reason: auth.ReasonNotYetValid, header: func(t *testing.T, svc string, allowed []string) string {
			c := valid(first(allowed), svc, time.Now())
			c.nbf = time.Now().Add(2 * time.Minute)
			return bearer(sign(t, c))
		}},
		{name: "lives too long", reason: auth.ReasonLifetime, header: func(t *testing.T, svc string, allowed []string) string {
			c := valid(first(allowed), svc, time.Now())
			c.exp = c.iat.Add(time.Hour)
			return bearer(sign(t, c))
		}},
		{name: "wrong issuer", reason: auth.ReasonIssuer, header: func(t *testing.T, svc string, allowed []string) string {
			// A refused identity's key, claiming to be one the operation accepts.
			c := valid(first(allowed), svc, time.Now())
			c.privateJWK = tk.keys.Private[notIn(allowed)]
			return bearer(sign(t, c))
		}},
		{name: "wrong audience", reason: auth.ReasonAudience, header: func(t *testing.T, svc string, allowed []string) string {
			tok, err := tk.keys.Signer(first(allowed)).Token(otherService(svc))
			if err != nil {
				t.Fatal(err)
			}
			return bearer(tok)
		}},
		{name: "alg none", reason: auth.ReasonAlgorithm, header: func(t *testing.T, svc string, allowed []string) string {
			return bearer(unsigned(kidOf(t, tk.keys.Private[first(allowed)]), valid(first(allowed), svc, time.Now())))
		}},
		{name: "HS256 keyed with the public key", reason: auth.ReasonAlgorithm, header: func(t *testing.T, svc string, allowed []string) string {
			c := valid(first(allowed), svc, time.Now())
			c.asHMAC, c.kid = publicJWK(t, tk.keys.Private[first(allowed)]), kidOf(t, tk.keys.Private[first(allowed)])
			return bearer(sign(t, c))
		}},
		{name: "customer", reason: auth.ReasonAlgorithm, header: func(t *testing.T, _ string, _ []string) string {
			return bearer(tk.mint(t, devauth.Token{Subject: "cust-1", Scopes: devauth.CustomerScopes}))
		}},
		{name: "another customer", reason: auth.ReasonAlgorithm, header: func(t *testing.T, _ string, _ []string) string {
			return bearer(tk.mint(t, devauth.Token{Subject: "cust-2", Scopes: devauth.CustomerScopes}))
		}},
		{name: "operator", reason: auth.ReasonAlgorithm, header: func(t *testing.T, _ string, _ []string) string {
			return bearer(tk.mint(t, devauth.Token{Subject: "alice", Scopes: devauth.OperatorScopes}))
		}},
		// A public-API token naming a service identity as its subject is still not one.
		{name: "customer named admin", reason: auth.ReasonAlgorithm, header: func(t *testing.T, _ string, _ []string) string {
			return bearer(tk.mint(t, devauth.Token{Subject: auth.IdentityAdmin, Scopes: devauth.OperatorScopes, Audience: auth.IdentityAdmin}))
		}},
	}
	for _, id := range auth.Identities() {
		out = append(out, row{name: id, identity: id, header: func(t *testing.T, svc string, _ []string) string {
			tok, err := tk.keys.Signer(id).Token(svc)
			if err != nil {
				t.Fatal(err)
			}
			return bearer(tok)
		}})
	}
	return out
}

// answer is a service's answer as a client sees it.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func send(t *testing.T, method, url, authorization, body string, key bool, requestID string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key {
		req.Header.Set("Idempotency-Key", "authz-"+testenv.Suffix())
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	req.Header.Set(requestid.Header, requestID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}
}

// leaks lists what a refusal must not tell: how the token was judged, which keys exist,
// who may call instead. (badinput.Check adds the server's internals.)
func leaks(keys *testkeys.Keys) []string {
	out := []string{"kid", "jwt", "jws", "jwx", "jwk", "signature", "expired", "exp ", "nbf", "aud", "iss", "alg", "hmac", "eddsa",
		"not satisfied", "failed to", "refused:"}
	for _, id := range auth.Identities() {
		out = append(out, id, strings.ToLower(id+"/"))
	}
	for _, raw := range keys.Private {
		var k struct {
			Kid string `json:"kid"`
			X   string `json:"x"`
		}
		_ = json.Unmarshal(raw, &k)
		out = append(out, strings.ToLower(k.Kid), strings.ToLower(k.X))
	}
	return out
}

// checkRefusal holds a 401 or 403 to its rules: a problem document of its status that
// names no reason, key or caller, and a challenge that does not echo the token.
func checkRefusal(t *testing.T, a answer, authorization string, keys *testkeys.Keys) {
	t.Helper()
	if err := badinput.Check(a.status, a.header, a.body); err != nil {
		t.Error(err)
	}
	p, err := badinput.DecodeProblem(a.body)
	if err != nil {
		t.Fatalf("problem: %v", err)
	}
	wantType := problem.TypePrefix + problem.CodeForStatus(a.status)
	if p.Type != wantType || len(p.Errors) != 0 {
		t.Errorf("problem type %q with %d errors, want %q and none", p.Type, len(p.Errors), wantType)
	}
	lower := strings.ToLower(string(a.body))
	token := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(authorization, "Bearer"), "Basic"))
	for _, l := range leaks(keys) {
		if l != "" && strings.Contains(lower, l) {
			t.Errorf("the refusal tells %q: %s", l, a.body)
		}
	}
	challenge := a.header.Get("WWW-Authenticate")
	if len(token) > 8 && (strings.Contains(string(a.body), token) || strings.Contains(challenge, token)) {
		t.Errorf("the refusal echoes the token")
	}
	switch {
	case a.status == http.StatusForbidden:
		if challenge != `Bearer realm="sagaflow", error="insufficient_scope"` {
			t.Errorf("403 challenge %q", challenge)
		}
	case !strings.HasPrefix(authorization, "Bearer "):
		// No bearer token at all: the challenge names the scheme only (RFC 6750, 3.1).
		if challenge != `Bearer realm="sagaflow"` {
			t.Errorf("401 challenge %q to a request without a bearer token", challenge)
		}
	default:
		if challenge != `Bearer realm="sagaflow", error="invalid_token", error_description="the token is not valid"` {
			t.Errorf("401 challenge %q to an invalid token", challenge)
		}
	}
}

// checkLogged holds the service's log of a refusal to the row: a token refused for the
// defect the row has, an identity refused by name, and nothing for a request without a
// bearer token. So each 401 is known to be for the reason the row means.
func checkLogged(t *testing.T, logs *testenv.LogBuffer, requestID string, r row) {
	t.Helper()
	var got []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["request_id"] == requestID && rec["msg"] != "http request" {
			got = append(got, rec)
		}
	}
	switch {
	case r.identity != "":
		if len(got) != 1 || got[0]["msg"] != "caller not allowed" || got[0]["subject"] != r.identity {
			t.Errorf("logged %v, want one caller not allowed with subject %s", got, r.identity)
		}
	case r.reason != "":
		if len(got) != 1 || got[0]["msg"] != "token refused" || got[0]["reason"] != r.reason {
			t.Errorf("logged %v, want one token refused for %q", got, r.reason)
		}
	default:
		if len(got) != 0 {
			t.Errorf("logged %v for a request without a bearer token", got)
		}
	}
}

// TestServiceAuthorizationMatrix calls every service operation as every kind of caller.
func TestServiceAuthorizationMatrix(t *testing.T) {
	keys := testkeys.New(t)
	services := startServices(t, keys)
	ops := operations(services)
	pol := policy()
	tk := newTokens(t, keys)
	rows := tk.rows()

	// The policy and the documents list the same operations: a new operation cannot be
	// left out of the matrix, nor a row outlive its operation.
	seen := map[string]bool{}
	for _, op := range ops {
		seen[op.id] = true
		if _, ok := pol[op.id]; !ok {
			t.Errorf("%s %s has no row in the policy", op.svc.name, op.id)
		}
	}
	for id := range pol {
		if !seen[id] {
			t.Errorf("the policy names %s, which no service declares", id)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// results[op][row] is the status each cell got.
	results := map[string]map[string]int{}
	sent := map[string]bool{} // every Authorization value sent, to search the logs for
	n := 0
	for _, op := range ops {
		c := pol[op.id]
		results[op.id] = map[string]int{}
		for _, r := range rows {
			t.Run(op.svc.name+"/"+op.id+"/"+r.name, func(t *testing.T) {
				n++
				want := http.StatusUnauthorized
				if r.identity != "" {
					want = http.StatusForbidden
					if slices.Contains(c.callers, r.identity) {
						want = c.accepted
					}
				}
				authorization := r.header(t, op.svc.name, c.callers)
				sent[authorization] = true
				before := op.svc.digest(t)
				requestID := fmt.Sprintf("authz-%d-%s", n, testenv.Suffix())
				a := send(t, op.method, op.svc.url+c.path(n), authorization, c.body(n), c.key, requestID)
				results[op.id][r.name] = a.status
				if a.status != want {
					t.Fatalf("answered %d, want %d: %s", a.status, want, a.body)
				}
				if want != http.StatusUnauthorized && want != http.StatusForbidden {
					return
				}
				checkRefusal(t, a, authorization, keys)
				checkLogged(t, op.svc.logs, requestID, r)
				after := op.svc.digest(t)
				for table, d := range before {
					if after[table] != d {
						t.Errorf("the refused call wrote to %s.%s", op.svc.name, table)
					}
				}
			})
		}
	}

	// The refusals are logged with their reason, and no log line holds a token.
	for _, s := range services {
		logs := s.logs.String()
		if !strings.Contains(logs, `"msg":"token refused"`) || !strings.Contains(logs, `"msg":"caller not allowed"`) {
			t.Errorf("%s did not log its refusals", s.name)
		}
		for authorization := range sent {
			token := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(authorization, "Bearer"), "Basic"))
			if len(token) > 8 && strings.Contains(logs, token) {
				t.Errorf("%s logged a caller's token", s.name)
			}
		}
	}
	t.Logf("%d operations × %d callers = %d cells\n%s", len(ops), len(rows), n, table(ops, rows, results))
}

// table renders the statuses: one line per operation, one column per caller.
func table(ops []operation, rows []row, results map[string]map[string]int) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%-22s", "operation")
	for i := range rows {
		fmt.Fprintf(&b, " %4d", i+1)
	}
	b.WriteString("\n")
	for _, op := range ops {
		fmt.Fprintf(&b, "%-22s", op.id)
		for _, r := range rows {
			fmt.Fprintf(&b, " %4d", results[op.id][r.name])
		}
		b.WriteString("\n")
	}
	for i, r := range rows {
		fmt.Fprintf(&b, "%d=%s  ", i+1, r.name)
	}
	return b.String()
}
