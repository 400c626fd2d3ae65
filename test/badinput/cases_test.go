package badinput

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"github.com/sagaflow/sagaflow/internal/problem"
)

// Targets of the suite.
const (
	targetAPI       = "api"
	targetOrder     = "order"
	targetPayment   = "payment"
	targetInventory = "inventory"
)

// endpoint is one operation that takes a body, with a body it would accept.
type endpoint struct {
	name   string
	target string
	method string
	path   string
	valid  string // a body the operation accepts (all the generated cases spoil it)
	key    bool   // requires an Idempotency-Key
	// optionalKey: takes an Idempotency-Key but does not require one.
	optionalKey bool
	limit       int // the operation's body limit in bytes
	// text is a JSON string field of valid (top level) that is stored or matched as text.
	text string
	// optionalBody: the operation accepts an empty body.
	optionalBody bool
	// emptyObject is the answer to {} (every required field missing).
	emptyObject int
}

const (
	mib = 1 << 20
	// unknownOrder is an order no service knows: operations on it must be refused before
	// anything is written (404 when the input itself is fine).
	unknownOrder = "bi-unknown-order"
)

func endpoints() []endpoint {
	return []endpoint{
		{name: "place-order", target: targetAPI, method: http.MethodPost, path: "/orders", key: true, limit: 64 << 10,
			valid: `{"customer_id":"cust-1","payment_token":"tok_visa","lines":[{"sku":"BEANS","quantity":1}]}`, text: "customer_id",
			emptyObject: http.StatusUnprocessableEntity},
		{name: "cancel-order", target: targetAPI, method: http.MethodPost, path: "/orders/" + unknownOrder + "/cancel", limit: 8 << 10,
			valid: `{"reason":"changed my mind"}`, text: "reason", optionalBody: true, optionalKey: true, emptyObject: http.StatusNotFound},
		{name: "create-order", target: targetOrder, method: http.MethodPost, path: "/orders", key: true, limit: mib,
			valid: `{"order_id":"bi-create","customer_id":"c-1","workflow_id":"order-bi-create","lines":[{"sku":"BEANS","quantity":1}]}`, text: "customer_id",
			emptyObject: http.StatusUnprocessableEntity},
		{name: "transition-order", target: targetOrder, method: http.MethodPost, path: "/orders/" + unknownOrder + "/transitions", key: true, limit: mib,
			valid: `{"status":"CANCELLED","reason":"test"}`, text: "reason", emptyObject: http.StatusUnprocessableEntity},
		{name: "authorize-payment", target: targetPayment, method: http.MethodPost, path: "/payments", key: true, limit: 16 << 10,
			valid: `{"order_id":"bi-authorize","amount":100,"currency":"USD","payment_token":"tok_visa"}`, text: "order_id",
			emptyObject: http.StatusUnprocessableEntity},
		{name: "refund-payment", target: targetPayment, method: http.MethodPost, path: "/payments/" + unknownOrder + "/refund", key: true, limit: 16 << 10,
			valid: `{"amount":1}`, emptyObject: http.StatusUnprocessableEntity},
		{name: "reserve-stock", target: targetInventory, method: http.MethodPost, path: "/reservations", key: true, limit: mib,
			valid: `{"order_id":"bi-reserve","lines":[{"sku":"BEANS","quantity":1}]}`, text: "order_id",
			emptyObject: http.StatusUnprocessableEntity},
		{name: "restock-product", target: targetInventory, method: http.MethodPost, path: "/products/BEANS/restock", key: true, limit: mib,
			valid: `{"quantity":1}`, emptyObject: http.StatusUnprocessableEntity},
		{name: "upsert-product", target: targetInventory, method: http.MethodPut, path: "/products/BI-NEW", limit: mib,
			valid: `{"name":"New","unit_price":100,"currency":"USD"}`, text: "name", emptyObject: http.StatusUnprocessableEntity},
	}
}

// badCase is one bad request and the answer it must get.
type badCase struct {
	name   string
	target string
	method string
	path   string
	body   []byte
	// header replaces the default headers (Content-Type: application/json and a fresh
	// Idempotency-Key on operations that take one) when set.
	header  http.Header
	chunked bool
	// raw is a whole request written on a TCP connection as is (CR/LF in headers).
	raw string
	// halfClose closes the sending side after raw, so the server sees the body end early.
	halfClose bool

	want int
	// code is the problem type's code, when the case pins it.
	code string
	// refusalRecorded: the service records this refusal under its idempotency key (a
	// business refusal is a final answer that a retry must get again).
	refusalRecorded bool
	// plainText: refused by Go's HTTP server while parsing the request, before any of our
	// handlers runs; it answers text/plain, not a problem document.
	plainText bool
}

// jsonWith returns body with one more top-level member.
func jsonWith(body, member string) string {
	return strings.TrimSuffix(body, "}") + "," + member + "}"
}

// jsonSet replaces the value of a top-level string field of body.
func jsonSet(body, field, value string) string {
	start := strings.Index(body, `"`+field+`":"`)
	if start < 0 {
		panic("no string field " + field + " in " + body)
	}
	vStart := start + len(field) + 4
	vEnd := vStart + strings.Index(body[vStart:], `"`)
	return body[:vStart] + value + body[vEnd:]
}

// padded is valid padded with whitespace to exactly n bytes.
func padded(valid string, n int) []byte {
	if n < len(valid) {
		panic("padding below the body size")
	}
	return []byte(strings.TrimSuffix(valid, "}") + strings.Repeat(" ", n-len(valid)) + "}")
}

// nested is an array nested depth times in the first field of an object.
func nested(depth int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"x":`)
	b.WriteString(strings.Repeat("[", depth))
	b.WriteString(strings.Repeat("]", depth))
	b.WriteString("}")
	return b.Bytes()
}

// utf16 encodes s as UTF-16LE with a byte order mark, which RFC 8259 does not allow.
func utf16(s string) []byte {
	out := []byte{0xff, 0xfe}
	for _, r := range s {
		out = append(out, byte(r), byte(r>>8))
	}
	return out
}

// manyLines is an order-shaped body with n lines.
func manyLines(n int, prefix string) []byte {
	var b bytes.Buffer
	b.WriteString(prefix)
	b.WriteString(`"lines":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"S%d","quantity":1}`, i)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// bodyCases spoils an endpoint's valid body in every generic way.
func bodyCases(e endpoint) []badCase {
	c := func(name string, body []byte, want int) badCase {
		return badCase{name: e.name + "/" + name, target: e.target, method: e.method, path: e.path, body: body, want: want}
	}
	tooLarge := http.StatusRequestEntityTooLarge
	overLimit := func(n int) int {
		if n >= e.limit {
			return tooLarge
		}
		return 0
	}
	// Go's JSON decoder refuses nesting deeper than 10000; a shallower nest that fits the
	// limit is valid JSON of the wrong shape.
	depth := min(10001, (e.limit-10)/2)
	deep := http.StatusBadRequest
	if depth <= 10000 {
		deep = http.StatusUnprocessableEntity
	}
	newlines := []byte("{" + strings.Repeat("\n", 100000) + "}")
	newlinesWant := e.emptyObject
	if w := overLimit(len(newlines)); w != 0 {
		newlinesWant = w
	}
	out := []badCase{
		c("malformed JSON", []byte(e.valid[:len(e.valid)/2]), http.StatusBadRequest),
		c("not JSON at all", []byte("order=1&quantity=2"), http.StatusBadRequest),
		c("trailing garbage", []byte(e.valid+" trailing"), http.StatusBadRequest),
		c("two documents", []byte(e.valid+e.valid), http.StatusBadRequest),
		c("unknown field", []byte(jsonWith(e.valid, `"unit_price_override":1`)), http.StatusUnprocessableEntity),
		c("array instead of object", []byte("["+e.valid+"]"), http.StatusUnprocessableEntity),
		c("JSON null", []byte("null"), http.StatusUnprocessableEntity),
		c("over the body limit", padded(e.valid, e.limit+1), tooLarge),
		c("twice the body limit", padded(e.valid, 2*e.limit), tooLarge),
		c("deeply nested", nested(depth), deep),
		c("100 000 lines", manyLines(100000, "{"), tooLarge),
		c("100 000 newlines", newlines, newlinesWant),
		c("raw NUL byte between tokens", []byte("\x00"+e.valid), http.StatusBadRequest),
		c("invalid UTF-8 between tokens", []byte("\xef\xbb\xbf"+e.valid), http.StatusBadRequest),
	}
	chunked := c("over the limit, chunked", padded(e.valid, e.limit+1), tooLarge)
	chunked.chunked = true
	out = append(out, chunked)
	chunkedLarge := c("far over the limit, chunked", padded(e.valid, 4*mib), tooLarge)
	chunkedLarge.chunked = true
	out = append(out, chunkedLarge)

	if e.text != "" {
		out = append(out,
			c("raw NUL byte in "+e.text, []byte(jsonSet(e.valid, e.text, "bad\x00value")), http.StatusBadRequest),
			c("escaped NUL in "+e.text, []byte(jsonSet(e.valid, e.text, `bad\u0000value`)), http.StatusBadRequest),
			c("invalid UTF-8 in "+e.text, []byte(jsonSet(e.valid, e.text, "bad\xff\xfevalue")), http.StatusBadRequest),
			c("Latin-1 text in "+e.text, []byte(jsonSet(e.valid, e.text, "caf\xe9")), http.StatusBadRequest),
			c("UTF-16 body", utf16(e.valid), http.StatusBadRequest),
		)
	}
	if e.optionalBody {
		out = append(out, c("empty body", []byte{}, e.emptyObject))
	} else {
		out = append(out, c("empty body", []byte{}, http.StatusBadRequest))
	}
	out = append(out, c("empty object", []byte("{}"), e.emptyObject))

	// A body is JSON only when it says so: application/json, charset (if any) UTF-8.
	for _, ct := range []string{"text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
		"", "application/json; charset=iso-8859-1", "application/merge-patch+json", "application/json-patch+json"} {
		bc := c("content type "+ct, []byte(e.valid), http.StatusUnsupportedMediaType)
		if ct == "" {
			bc.name = e.name + "/no content type"
		}
		bc.header = defaultHeader(e.key)
		bc.header.Set("Content-Type", ct)
		if ct == "" {
			bc.header.Del("Content-Type")
		}
		bc.code = problem.CodeUnsupportedMediaType
		out = append(out, bc)
	}
	// Member names match exactly: a known member spelled in another case is unknown.
	if e.text != "" {
		miscased := strings.Replace(e.valid, `"`+e.text+`"`, `"`+strings.ToUpper(e.text[:1])+e.text[1:]+`"`, 1)
		bc := c("member "+e.text+" in another case", []byte(miscased), http.StatusUnprocessableEntity)
		bc.code = problem.CodeValidation
		out = append(out, bc)
	}
	// Lists are never null.
	if strings.Contains(e.valid, `"lines":[`) {
		start := strings.Index(e.valid, `"lines":[`) + len(`"lines":`)
		end := start + strings.Index(e.valid[start:], "]") + 1
		bc := c("lines null", []byte(e.valid[:start]+"null"+e.valid[end:]), http.StatusUnprocessableEntity)
		bc.code = problem.CodeValidation
		out = append(out, bc)
	}
	return out
}

// defaultHeader is what a well-behaved client sends.
func defaultHeader(key bool) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if key {
		h.Set("Idempotency-Key", "bi-"+randomSuffix())
	}
	return h
}

// keyCases sends an endpoint's valid body with a bad Idempotency-Key.
func keyCases(e endpoint) []badCase {
	var out []badCase
	bad := []struct {
		name  string
		value []string // nil: no header at all
		skip  bool
	}{
		{name: "missing", value: nil, skip: !e.key},
		{name: "empty", value: []string{""}},
		{name: "too long", value: []string{strings.Repeat("k", 256)}},
		{name: "non-ASCII UTF-8", value: []string{"clé-ключ-" + randomSuffix()}},
		{name: "Latin-1 byte", value: []string{"cl\xe9-" + randomSuffix()}},
		{name: "space inside", value: []string{"two words " + randomSuffix()}},
		{name: "tab inside", value: []string{"tab\tkey-" + randomSuffix()}},
	}
	if !e.key && !e.optionalKey {
		return nil
	}
	for _, b := range bad {
		if b.skip {
			continue
		}
		h := http.Header{"Content-Type": {"application/json"}}
		if b.value != nil {
			h["Idempotency-Key"] = b.value
		}
		want := http.StatusUnprocessableEntity
		if e.optionalKey && b.name == "empty" {
			// An empty optional header is no header: the request goes on to find no order.
			want = http.StatusNotFound
		}
		out = append(out, badCase{
			name: e.name + "/Idempotency-Key " + b.name, target: e.target, method: e.method, path: e.path,
			body: []byte(e.valid), header: h, want: want,
		})
	}
	return out
}
