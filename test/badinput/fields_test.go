package badinput

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/sagaflow/sagaflow/internal/problem"
)

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pendingOrder is an order the suite records in the order service before the cases run, so
// transitions have something to be refused on; the suite closes it afterwards.
const pendingOrder = "bi-pending"

// numberCases puts hostile numbers where a positive integer is expected; overMax, when
// set, is one past the field's maximum.
func numberCases(prefix, target, method, path string, key bool, template string, overMax string) []badCase {
	values := []struct{ name, value string }{
		{"zero", "0"}, {"negative", "-1"}, {"fractional", "1.5"}, {"string", `"2"`}, {"huge float", "1e30"},
		{"past int64", "9223372036854775808"}, {"far past int64", "123456789012345678901234567890"},
		{"negative past int64", "-9223372036854775809"}, {"null", "null"}, {"boolean", "true"},
	}
	if overMax != "" {
		values = append(values, struct{ name, value string }{"one over the maximum", overMax})
	}
	var out []badCase
	for _, v := range values {
		out = append(out, badCase{
			name: prefix + " " + v.name, target: target, method: method, path: path,
			body: []byte(fmt.Sprintf(template, v.value)), header: defaultHeader(key), want: http.StatusUnprocessableEntity,
		})
	}
	out = append(out, badCase{
		name: prefix + " beyond float64", target: target, method: method, path: path,
		body: []byte(fmt.Sprintf(template, "1e400")), header: defaultHeader(key), want: http.StatusBadRequest,
	})
	return out
}

func post(target, path, name, body string, want int) badCase {
	return badCase{name: name, target: target, method: http.MethodPost, path: path, body: []byte(body), header: defaultHeader(true), want: want}
}

func get(target, path, name string, want int) badCase {
	return badCase{name: name, target: target, method: http.MethodGet, path: path, want: want}
}

// fieldCases are the per-operation cases: numbers, lists, SKUs, overflowing totals, SQL
// metacharacters where a pattern forbids them, and bad enums.
func fieldCases() []badCase {
	var out []badCase
	long := func(n int) string { return strings.Repeat("x", n) }
	sql := `x'); DROP TABLE orders; --`

	// Public API: place an order.
	place := func(lines string) string {
		return `{"customer_id":"cust-1","payment_token":"tok_visa","lines":` + lines + `}`
	}
	out = append(out, numberCases("place-order/quantity", targetAPI, http.MethodPost, "/orders", true,
		place(`[{"sku":"BEANS","quantity":%s}]`), "10001")...)
	for _, c := range []struct {
		name, body string
		want       int
		code       string
	}{
		{"no lines", place(`[]`), 422, ""},
		{"a line null", place(`[null]`), 422, ""},
		{"customer_id spelled Customer_Id", `{"Customer_Id":"cust-1","payment_token":"tok_visa","lines":[{"sku":"BEANS","quantity":1}]}`, 422, problem.CodeValidation},
		{"lines missing", `{"customer_id":"cust-1","payment_token":"tok_visa"}`, 422, ""},
		{"lines not a list", place(`{"sku":"BEANS","quantity":1}`), 422, ""},
		{"101 lines", string(manyLines(101, `{"customer_id":"cust-1","payment_token":"tok_visa",`)), 422, ""},
		{"duplicate SKU", place(`[{"sku":"BEANS","quantity":1},{"sku":"BEANS","quantity":2}]`), 422, problem.CodeValidation},
		{"empty SKU", place(`[{"sku":"","quantity":1}]`), 422, ""},
		{"SKU with SQL", place(`[{"sku":"BEANS' OR '1'='1","quantity":1}]`), 422, ""},
		{"SKU too long", place(`[{"sku":"` + long(65) + `","quantity":1}]`), 422, ""},
		{"client price on a line", place(`[{"sku":"BEANS","quantity":1,"unit_price":1}]`), 422, ""},
		{"customer_id with SQL", `{"customer_id":"` + sql + `","payment_token":"tok_visa","lines":[{"sku":"BEANS","quantity":1}]}`, 422, ""},
		{"customer_id empty", `{"customer_id":"","payment_token":"tok_visa","lines":[{"sku":"BEANS","quantity":1}]}`, 422, ""},
		{"customer_id with CR LF", `{"customer_id":"c\r\nX-Forged: 1","payment_token":"tok_visa","lines":[{"sku":"BEANS","quantity":1}]}`, 422, ""},
		{"customer_id too long", `{"customer_id":"` + long(65) + `","payment_token":"tok_visa","lines":[{"sku":"BEANS","quantity":1}]}`, 422, ""},
		{"payment_token with space", `{"customer_id":"c","payment_token":"tok visa","lines":[{"sku":"BEANS","quantity":1}]}`, 422, ""},
		{"payment_token missing", `{"customer_id":"c","lines":[{"sku":"BEANS","quantity":1}]}`, 422, ""},
		{"payment_token too long", `{"customer_id":"c","payment_token":"` + long(201) + `","lines":[{"sku":"BEANS","quantity":1}]}`, 422, ""},
		{"duplicate member", `{"customer_id":"c","customer_id":"d","payment_token":"tok_visa","lines":[{"sku":"BEANS","quantity":1}]}`, 400, ""},
		// Validation looks a member up case-insensitively and checks the first match, while
		// decoding keeps the last one: a second spelling would carry an unchecked value.
		{"duplicate member in another case", `{"customer_id":"c","CUSTOMER_ID":"` + sql + `","payment_token":"tok_visa","lines":[{"sku":"BEANS","quantity":1}]}`, 400, ""},
		{"duplicate line member in another case", place(`[{"sku":"BEANS","quantity":1,"Quantity":-5}]`), 400, ""},
	} {
		bc := post(targetAPI, "/orders", "place-order/"+c.name, c.body, c.want)
		bc.code = c.code
		out = append(out, bc)
	}
	prefer := post(targetAPI, "/orders", "place-order/Prefer header too long", place(`[{"sku":"BEANS","quantity":1}]`), 422)
	prefer.header.Set("Prefer", "wait="+long(200))
	out = append(out, prefer)

	// Public API: decisions. Who decides is the token's subject: by is no member.
	for _, c := range []struct{ name, body string }{
		{"reason with CR LF", `{"reason":"line one\r\nline two"}`},

		{"reason with escape", `{"reason":"\u001b[31mred"}`},
		{"reason too long", `{"reason":"` + long(501) + `"}`},
		{"reason not a string", `{"reason":42}`},
		{"by, which the token says", `{"by":"ops","reason":"r"}`},
	} {
		bc := post(targetAPI, "/orders/"+unknownOrder+"/approve", "approve-order/"+c.name, c.body, 422)
		out = append(out, bc)
	}
	out = append(out, post(targetAPI, "/orders/"+unknownOrder+"/approve", "approve-order/reason with escaped NUL", `{"reason":"ops\u0000"}`, 400))

	// Order service: create.
	create := func(lines string) string {
		return `{"order_id":"bi-create","customer_id":"c-1","workflow_id":"order-bi-create","lines":` + lines + `}`
	}
	out = append(out, numberCases("create-order/quantity", targetOrder, http.MethodPost, "/orders", true,
		create(`[{"sku":"BEANS","quantity":%s}]`), "1000001")...)
	for _, c := range []struct {
		name, body string
		want       int
		recorded   bool
	}{
		{"no lines", create(`[]`), 422, false},
		{"101 lines", string(manyLines(101, `{"order_id":"bi-create","customer_id":"c-1","workflow_id":"w",`)), 422, false},
		{"duplicate SKU", create(`[{"sku":"BEANS","quantity":1},{"sku":"BEANS","quantity":1}]`), 422, true},
		{"empty SKU", create(`[{"sku":"","quantity":1}]`), 422, false},
		{"order_id empty", `{"order_id":"","customer_id":"c-1","workflow_id":"w","lines":[{"sku":"BEANS","quantity":1}]}`, 422, false},
		{"order_id too long", `{"order_id":"` + long(65) + `","customer_id":"c-1","workflow_id":"w","lines":[{"sku":"BEANS","quantity":1}]}`, 422, false},
		{"workflow_id too long", `{"order_id":"o","customer_id":"c-1","workflow_id":"` + long(129) + `","lines":[{"sku":"BEANS","quantity":1}]}`, 422, false},
		{"customer_id missing", `{"order_id":"o","workflow_id":"w","lines":[{"sku":"BEANS","quantity":1}]}`, 422, false},
	} {
		bc := post(targetOrder, "/orders", "create-order/"+c.name, c.body, c.want)
		bc.refusalRecorded = c.recorded
		out = append(out, bc)
	}

	// Order service: transitions of a PENDING order.
	tpath := "/orders/" + pendingOrder + "/transitions"
	for _, c := range []struct {
		name, body string
		want       int
		code       string
		recorded   bool
	}{
		{"unknown status", `{"status":"SHIPPED"}`, 422, "", false},
		{"back to PENDING", `{"status":"PENDING"}`, 422, "", false},
		{"status lower case", `{"status":"cancelled"}`, 422, "", false},
		{"currency lower case", `{"status":"RESERVED","currency":"usd","lines":[{"sku":"BEANS","name":"b","quantity":1,"unit_price":1}]}`, 422, "", false},
		{"negative price", `{"status":"RESERVED","currency":"USD","lines":[{"sku":"BEANS","name":"b","quantity":1,"unit_price":-1}]}`, 422, "", false},
		{"zero quantity", `{"status":"RESERVED","currency":"USD","lines":[{"sku":"BEANS","name":"b","quantity":0,"unit_price":1}]}`, 422, "", false},
		{"reason too long", `{"status":"FAILED","reason":"` + long(501) + `"}`, 422, "", false},
		{"line total overflows", `{"status":"RESERVED","currency":"USD","lines":[{"sku":"BEANS","name":"b","quantity":2,"unit_price":4611686018427387904},{"sku":"MUG","name":"m","quantity":1,"unit_price":1}]}`, 422, problem.CodeAmountOverflow, true},
		{"order total overflows", `{"status":"RESERVED","currency":"USD","lines":[{"sku":"BEANS","name":"b","quantity":2,"unit_price":2305843009213693952},{"sku":"MUG","name":"m","quantity":1,"unit_price":4611686018427387904}]}`, 422, problem.CodeAmountOverflow, true},
		{"skipping ahead", `{"status":"CONFIRMED"}`, 409, problem.CodeInvalidTransition, true},
		{"pricing for another order's lines", `{"status":"RESERVED","currency":"USD","lines":[{"sku":"BEANS","name":"b","quantity":2,"unit_price":1},{"sku":"OTHER","name":"o","quantity":1,"unit_price":1}]}`, 422, problem.CodeValidation, true},
	} {
		bc := post(targetOrder, tpath, "transition-order/"+c.name, c.body, c.want)
		bc.code, bc.refusalRecorded = c.code, c.recorded
		out = append(out, bc)
	}

	// Payment service: authorize and refund.
	authorize := func(amount, currency, token string) string {
		return `{"order_id":"bi-authorize","amount":` + amount + `,"currency":"` + currency + `","payment_token":"` + token + `"}`
	}
	out = append(out, numberCases("authorize-payment/amount", targetPayment, http.MethodPost, "/payments", true,
		`{"order_id":"bi-authorize","amount":%s,"currency":"USD","payment_token":"tok_visa"}`, "")...)
	for _, c := range []struct {
		name, body string
		want       int
		code       string
		recorded   bool
	}{
		{"currency lower case", authorize("100", "usd", "tok_visa"), 422, "", false},
		{"currency too short", authorize("100", "US", "tok_visa"), 422, "", false},
		{"currency empty", authorize("100", "", "tok_visa"), 422, "", false},
		{"token empty", authorize("100", "USD", ""), 422, "", false},
		{"token too long", authorize("100", "USD", long(129)), 422, "", false},
		{"order_id empty", `{"order_id":"","amount":100,"currency":"USD","payment_token":"tok_visa"}`, 422, "", false},
		{"order_id too long", `{"order_id":"` + long(65) + `","amount":100,"currency":"USD","payment_token":"tok_visa"}`, 422, "", false},
		{"declined card", `{"order_id":"bi-declined","amount":100,"currency":"USD","payment_token":"tok_chargeDeclined"}`, 402, problem.CodeCardDeclined, true},
		{"unknown card token", `{"order_id":"bi-declined-2","amount":100,"currency":"USD","payment_token":"tok_unknown"}`, 422, problem.CodeValidation, true},
	} {
		bc := post(targetPayment, "/payments", "authorize-payment/"+c.name, c.body, c.want)
		bc.code, bc.refusalRecorded = c.code, c.recorded
		out = append(out, bc)
	}
	out = append(out, numberCases("refund-payment/amount", targetPayment, http.MethodPost, "/payments/"+unknownOrder+"/refund", true,
		`{"amount":%s}`, "")...)

	// Inventory service: reserve, restock, upsert.
	reserve := func(lines string) string { return `{"order_id":"bi-reserve","lines":` + lines + `}` }
	// Business refusals each use their own order, so no earlier answer for the order decides them.
	reserveFor := func(order, lines string) string { return `{"order_id":"` + order + `","lines":` + lines + `}` }
	out = append(out, numberCases("reserve-stock/quantity", targetInventory, http.MethodPost, "/reservations", true,
		reserve(`[{"sku":"BEANS","quantity":%s}]`), "1000001")...)
	for _, c := range []struct {
		name, body string
		want       int
		code       string
		recorded   bool
	}{
		{"no lines", reserve(`[]`), 422, "", false},
		{"101 lines", string(manyLines(101, `{"order_id":"bi-reserve",`)), 422, "", false},
		{"empty SKU", reserve(`[{"sku":"","quantity":1}]`), 422, "", false},
		{"SKU too long", reserve(`[{"sku":"` + long(65) + `","quantity":1}]`), 422, "", false},
		{"order_id empty", `{"order_id":"","lines":[{"sku":"BEANS","quantity":1}]}`, 422, "", false},
		{"unknown SKU", reserveFor("bi-refused-0", `[{"sku":"NOPE","quantity":1}]`), 422, problem.CodeUnknownSKU, true},
		{"unknown SKU with SQL", reserveFor("bi-refused-1", `[{"sku":"BEANS' OR '1'='1","quantity":1}]`), 422, problem.CodeUnknownSKU, true},
		{"unknown and known SKUs", reserveFor("bi-refused-2", `[{"sku":"BEANS","quantity":1},{"sku":"NOPE","quantity":1}]`), 422, problem.CodeUnknownSKU, true},
		{"more than in stock", reserveFor("bi-refused-3", `[{"sku":"BEANS","quantity":1000000}]`), 422, problem.CodeOutOfStock, true},
		{"total overflows", reserveFor("bi-refused-4", `[{"sku":"HUGE","quantity":2}]`), 422, problem.CodeAmountOverflow, true},
		{"sum of lines overflows", reserveFor("bi-refused-5", `[{"sku":"HUGE","quantity":1},{"sku":"BEANS","quantity":1},{"sku":"HUGE","quantity":1}]`), 422, problem.CodeAmountOverflow, true},
	} {
		bc := post(targetInventory, "/reservations", "reserve-stock/"+c.name, c.body, c.want)
		bc.code, bc.refusalRecorded = c.code, c.recorded
		out = append(out, bc)
	}
	out = append(out, numberCases("restock-product/quantity", targetInventory, http.MethodPost, "/products/BEANS/restock", true,
		`{"quantity":%s}`, "1000000001")...)
	unknownRestock := post(targetInventory, "/products/NOPE/restock", "restock-product/unknown SKU", `{"quantity":1}`, 404)
	unknownRestock.refusalRecorded = true
	out = append(out, unknownRestock)
	upsert := func(path, name, body string, want int) badCase {
		return badCase{name: "upsert-product/" + name, target: targetInventory, method: http.MethodPut, path: path,
			body: []byte(body), header: defaultHeader(false), want: want}
	}
	out = append(out,
		upsert("/products/BI-NEW", "name empty", `{"name":"","unit_price":1,"currency":"USD"}`, 422),
		upsert("/products/BI-NEW", "name blank", `{"name":"   ","unit_price":1,"currency":"USD"}`, 422),
		upsert("/products/BI-NEW", "name too long", `{"name":"`+long(201)+`","unit_price":1,"currency":"USD"}`, 422),
		upsert("/products/BI-NEW", "negative price", `{"name":"n","unit_price":-1,"currency":"USD"}`, 422),
		upsert("/products/BI-NEW", "fractional price", `{"name":"n","unit_price":0.5,"currency":"USD"}`, 422),
		upsert("/products/BI-NEW", "price past int64", `{"name":"n","unit_price":9223372036854775808,"currency":"USD"}`, 422),
		upsert("/products/BI-NEW", "price as string", `{"name":"n","unit_price":"1","currency":"USD"}`, 422),
		upsert("/products/BI-NEW", "currency lower case", `{"name":"n","unit_price":1,"currency":"usd"}`, 422),
		upsert("/products/x';DROP%20TABLE%20products;--", "SKU with SQL", `{"name":"n","unit_price":1,"currency":"USD"}`, 422),
		upsert("/products/"+long(65), "SKU too long", `{"name":"n","unit_price":1,"currency":"USD"}`, 422),
		upsert("/products/%00", "SKU NUL", `{"name":"n","unit_price":1,"currency":"USD"}`, 400),
		upsert("/products/-lead", "SKU leading dash", `{"name":"n","unit_price":1,"currency":"USD"}`, 422),
	)
	return out
}

// idCases send malformed ids in paths and queries, and bad query parameters.
func idCases() []badCase {
	long := strings.Repeat("x", 65)
	var out []badCase
	ids := []struct {
		name, id string
	}{
		{"NUL", "%00"}, {"invalid UTF-8", "%FF%FE"}, {"CR LF", "a%0D%0Ab"}, {"ESC", "a%1Bb"}, {"too long", long},
	}
	type route struct {
		target, method, prefix, suffix string
		// pattern: the route's id has a pattern, so odd characters are refused before lookup.
		pattern bool
	}
	routes := []route{
		{targetAPI, http.MethodGet, "/orders/", "", true},
		{targetAPI, http.MethodPost, "/orders/", "/cancel", true},
		{targetOrder, http.MethodGet, "/orders/", "", false},
		{targetOrder, http.MethodPost, "/orders/", "/transitions", false},
		{targetPayment, http.MethodGet, "/payments/", "", false},
		{targetPayment, http.MethodPost, "/payments/", "/capture", false},
		{targetPayment, http.MethodPost, "/payments/", "/void", false},
		{targetInventory, http.MethodGet, "/products/", "", false},
		{targetInventory, http.MethodGet, "/products/", "/movements", false},
		{targetInventory, http.MethodPost, "/products/", "/restock", false},
		{targetInventory, http.MethodGet, "/reservations/", "", false},
		{targetInventory, http.MethodPost, "/reservations/", "/release", false},
		{targetInventory, http.MethodPost, "/reservations/", "/commit", false},
	}
	bodyFor := func(r route) []byte {
		switch {
		case r.method == http.MethodGet:
			return nil
		case strings.HasSuffix(r.suffix, "/transitions"):
			return []byte(`{"status":"CANCELLED"}`)
		case strings.HasSuffix(r.suffix, "/restock"):
			return []byte(`{"quantity":1}`)
		case r.target == targetAPI:
			return []byte(`{}`)
		}
		return nil
	}
	for _, r := range routes {
		for _, id := range ids {
			bc := badCase{
				name:   fmt.Sprintf("%s %s%s%s/id %s", r.method, r.prefix, "{id}", r.suffix, id.name),
				target: r.target, method: r.method, path: r.prefix + id.id + r.suffix,
				body: bodyFor(r), want: http.StatusBadRequest,
			}
			if id.name == "too long" {
				bc.want = http.StatusUnprocessableEntity
			}
			if r.method != http.MethodGet {
				bc.header = defaultHeader(true)
			}
			out = append(out, bc)
		}
		if r.pattern {
			for _, id := range []struct{ name, id string }{{"space", "a%20b"}, {"quote", "x'%20OR%20'1'='1"}, {"dot dot", "..%2F..%2Fetc"}} {
				bc := badCase{
					name:   fmt.Sprintf("%s %s%s%s/id %s", r.method, r.prefix, "{id}", r.suffix, id.name),
					target: r.target, method: r.method, path: r.prefix + id.id + r.suffix, body: bodyFor(r), want: 422,
				}
				if r.method != http.MethodGet {
					bc.header = defaultHeader(true)
				}
				out = append(out, bc)
			}
		}
	}
	out = append(out,
		get(targetAPI, "/orders/ord_doesnotexist", "GET /orders/{id}/unknown id", 404),
		// No parameter takes a list: a repeat is refused, not cut to its first value.
		get(targetAPI, "/orders?status=CONFIRMED&status=FAILED", "list-orders/status repeated", 400),
		get(targetAPI, "/orders?limit=5&limit=6", "list-orders/limit repeated", 400),
		get(targetOrder, "/orders?status=CONFIRMED&status=FAILED", "list-orders/status repeated", 400),
		get(targetPayment, "/payments?limit=5&limit=6", "list-payments/limit repeated", 400),
		get(targetInventory, "/reservations?status=RESERVED&status=RELEASED", "list-reservations/status repeated", 400),
		// A method the path does not have is 405 with Allow (the contract checks the list).
		badCase{name: "DELETE /orders", target: targetAPI, method: http.MethodDelete, path: "/orders", want: 405, code: problem.CodeMethodNotAllowed},
		badCase{name: "PUT /orders/{id}", target: targetAPI, method: http.MethodPut, path: "/orders/o-1", header: defaultHeader(false), body: []byte(`{}`), want: 405},
		badCase{name: "PATCH /orders/{id}", target: targetOrder, method: http.MethodPatch, path: "/orders/o-1", header: defaultHeader(false), body: []byte(`{}`), want: 405},
		badCase{name: "DELETE /payments", target: targetPayment, method: http.MethodDelete, path: "/payments", want: 405},
		badCase{name: "DELETE /products/{sku}", target: targetInventory, method: http.MethodDelete, path: "/products/BEANS", want: 405},
		get(targetAPI, "/orders?limit=0", "list-orders/limit 0", 422),
		get(targetAPI, "/orders?limit=101", "list-orders/limit 101", 422),
		get(targetAPI, "/orders?limit=abc", "list-orders/limit not a number", 422),
		get(targetAPI, "/orders?limit=1e3", "list-orders/limit as float", 422),
		get(targetAPI, "/orders?status=SHIPPED", "list-orders/unknown status", 422),
		get(targetAPI, "/orders?customer_id=%00", "list-orders/customer NUL", 400),
		get(targetAPI, "/orders?customer_id=x'%20OR%201=1", "list-orders/customer with SQL", 422),
		get(targetAPI, "/orders?cursor=not-a-cursor", "list-orders/forged cursor", 400),
		get(targetAPI, "/orders?cursor="+strings.Repeat("A", 513), "list-orders/cursor too long", 422),
		get(targetOrder, "/orders/unknown-id", "GET /orders/{id}/unknown id", 404),
		get(targetOrder, "/orders?limit=abc", "list-orders/limit not a number", 422),
		get(targetOrder, "/orders?customer_id=%00", "list-orders/customer NUL", 400),
		get(targetOrder, "/orders?customer_id=%FF", "list-orders/customer invalid UTF-8", 400),
		get(targetOrder, "/orders?cursor=%00", "list-orders/cursor NUL", 400),
		get(targetOrder, "/orders?limit=%zz", "list-orders/malformed escape", 400),
		get(targetOrder, "/orders?limit=1;status=FAILED", "list-orders/semicolon separator", 400),
		get(targetPayment, "/payments/unknown-id", "GET /payments/{id}/unknown id", 404),
		get(targetPayment, "/payments?after=%00", "list-payments/after NUL", 400),
		get(targetPayment, "/payments?status=PAID", "list-payments/unknown status", 422),
		get(targetPayment, "/payments?limit=0", "list-payments/limit 0", 422),
		get(targetInventory, "/products/NOPE", "GET /products/{sku}/unknown", 404),
		get(targetInventory, "/products/BEANS/movements?after=-1", "list-movements/after negative", 422),
		get(targetInventory, "/products/BEANS/movements?limit=1001", "list-movements/limit 1001", 422),
		get(targetInventory, "/reservations?after=%00", "list-reservations/after NUL", 400),
		get(targetInventory, "/reservations?order_id=%FF", "list-reservations/order invalid UTF-8", 400),
		get(targetInventory, "/reservations?status=HELD", "list-reservations/unknown status", 422),
	)
	for _, target := range []string{targetAPI, targetOrder, targetPayment, targetInventory} {
		out = append(out,
			badCase{name: "DELETE /orders/method not allowed", target: target, method: http.MethodDelete, path: routeRoot(target), want: 405},
			get(target, "/no/such/route", "GET unknown route", 404),
		)
	}
	return out
}

func routeRoot(target string) string {
	switch target {
	case targetPayment:
		return "/payments"
	case targetInventory:
		return "/reservations"
	}
	return "/orders"
}

// rawCases put CR, LF and NUL inside header values, which net/http will not send.
func rawCases() []badCase {
	var out []badCase
	type op struct{ target, path, body string }
	ops := []op{
		{targetAPI, "/orders", `{"customer_id":"cust-1","payment_token":"tok_visa","lines":[{"sku":"BEANS","quantity":1}]}`},
		{targetOrder, "/orders", `{"order_id":"bi-raw","customer_id":"c-1","workflow_id":"w","lines":[{"sku":"BEANS","quantity":1}]}`},
		{targetPayment, "/payments", `{"order_id":"bi-raw","amount":100,"currency":"USD","payment_token":"tok_visa"}`},
		{targetInventory, "/reservations", `{"order_id":"bi-raw","lines":[{"sku":"BEANS","quantity":1}]}`},
	}
	for _, o := range ops {
		request := func(keyLine string) string {
			return "POST " + o.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
				keyLine + fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n\r\n", len(o.body)) + o.body
		}
		for _, c := range []struct{ name, line string }{
			{"bare CR inside the value", "Idempotency-Key: k-" + randomSuffix() + "\rX-Forged: 1\r\n"},
			{"bare LF splitting the value", "Idempotency-Key: k-" + randomSuffix() + "\nforged line\r\n"},
			{"CR LF then a line without colon", "Idempotency-Key: k-" + randomSuffix() + "\r\nforged line\r\n"},
			{"NUL inside the value", "Idempotency-Key: k-\x00" + randomSuffix() + "\r\n"},
			{"space before the colon", "Idempotency-Key : k-" + randomSuffix() + "\r\n"},
		} {
			out = append(out, badCase{
				name: "raw/" + c.name, target: o.target, raw: request(c.line),
				want: http.StatusBadRequest, plainText: true,
			})
		}
		// Go's server unfolds an obsolete folded header into one value with a space, which
		// the key's pattern refuses.
		out = append(out, badCase{
			name: "raw/obsolete line folding", target: o.target,
			raw: request("Idempotency-Key: k-" + randomSuffix() + "\r\n folded\r\n"), want: http.StatusUnprocessableEntity,
		})
		head := "POST " + o.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nIdempotency-Key: k-" + randomSuffix() + "\r\nConnection: close\r\n"
		out = append(out,
			badCase{name: "raw/malformed chunk size", target: o.target, want: http.StatusBadRequest,
				raw: head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + o.body + "\r\n0\r\n\r\n"},
			badCase{name: "raw/chunk longer than announced", target: o.target, want: http.StatusBadRequest,
				raw: head + "Transfer-Encoding: chunked\r\n\r\n2\r\n" + o.body + "\r\n0\r\n\r\n"},
			badCase{name: "raw/body shorter than Content-Length", target: o.target, want: http.StatusBadRequest, halfClose: true,
				raw: head + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(o.body)+100) + o.body},
		)
	}
	return out
}
