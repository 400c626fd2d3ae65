package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/sagaflow/sagaflow/api"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/tools/devauth"
	"github.com/sagaflow/sagaflow/workflows"
)

// Scenario names.
const (
	ScenarioHappy    = "happy"
	ScenarioMix      = "mix"
	ScenarioHotSKUs  = "hot-skus"
	ScenarioApproval = "approval"
)

// Scenarios lists every order scenario.
func Scenarios() []string {
	return []string{ScenarioHappy, ScenarioMix, ScenarioHotSKUs, ScenarioApproval}
}

// The bench catalog: plenty of ordinary SKUs (no order of them reaches the default
// APPROVAL_THRESHOLD of 100000), three hot ones, one that is never in stock and one
// expensive enough to need approval.
const (
	benchSKUs     = 50
	skuPrefix     = "BENCH-"
	hotSKUPrefix  = "BENCH-HOT-"
	shortSKU      = "BENCH-SHORT"
	approvalSKU   = "BENCH-BIG"
	approvalPrice = 150000
	benchStock    = 1_000_000_000
)

// CatalogProduct is one product the bench loads.
type CatalogProduct struct {
	SKU   string
	Price int64
	Stock int64
}

// Catalog returns the products every scenario orders from.
func Catalog() []CatalogProduct {
	var out []CatalogProduct
	for i := 1; i <= benchSKUs; i++ {
		out = append(out, CatalogProduct{SKU: fmt.Sprintf("%s%03d", skuPrefix, i), Price: int64(500 + 37*i), Stock: benchStock})
	}
	for i := 1; i <= 3; i++ {
		out = append(out, CatalogProduct{SKU: hotSKUPrefix + strconv.Itoa(i), Price: int64(900 + i), Stock: benchStock})
	}
	out = append(out,
		CatalogProduct{SKU: shortSKU, Price: 4200, Stock: 0},
		CatalogProduct{SKU: approvalSKU, Price: approvalPrice, Stock: benchStock},
	)
	return out
}

// LoadCatalog creates the bench products through the inventory service.
func LoadCatalog(ctx context.Context, inv *invclient.Client) error {
	for _, p := range Catalog() {
		if _, err := inv.UpsertProduct(ctx, p.SKU, invclient.UpsertProductRequest{Name: "Bench " + p.SKU, UnitPrice: p.Price, Currency: "USD"}); err != nil {
			return fmt.Errorf("upsert %s: %w", p.SKU, err)
		}
		if p.Stock > 0 {
			if _, err := inv.Restock(ctx, p.SKU, "bench-catalog/"+p.SKU, invclient.RestockRequest{Quantity: p.Stock}); err != nil {
				return fmt.Errorf("restock %s: %w", p.SKU, err)
			}
		}
	}
	return nil
}

// orderLine and placeOrder are the public API's request body.
type orderLine struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

type placeOrder struct {
	CustomerID   string      `json:"customer_id"`
	PaymentToken string      `json:"payment_token"`
	Lines        []orderLine `json:"lines"`
}

// customers is how many customers place the bench's orders, in turn.
const customers = 500

// customerID is the customer who places the seq-th order.
func customerID(seq int) string { return "bench-" + strconv.Itoa(seq%customers) }

// orderPlan is one order of a scenario and what must become of it.
type orderPlan struct {
	body    placeOrder
	expect  orderclient.Status
	approve bool
}

// plan returns the seq-th order of a scenario. Orders are drawn from a generator seeded
// by seq, so a run is reproducible.
func plan(scenario string, seq int) orderPlan {
	rnd := rand.New(rand.NewPCG(uint64(seq), 0x5a6af10e))
	p := orderPlan{
		body:   placeOrder{CustomerID: customerID(seq), PaymentToken: payclient.TokenVisa},
		expect: orderclient.StatusConfirmed,
	}
	pick := func(prefix string, n, lines int) {
		for _, i := range rnd.Perm(n)[:lines] {
			sku := prefix + strconv.Itoa(i+1)
			if prefix == skuPrefix {
				sku = fmt.Sprintf("%s%03d", prefix, i+1)
			}
			p.body.Lines = append(p.body.Lines, orderLine{SKU: sku, Quantity: int64(1 + rnd.IntN(3))})
		}
	}
	switch scenario {
	case ScenarioHotSKUs:
		pick(hotSKUPrefix, 3, 1+rnd.IntN(3))
	case ScenarioApproval:
		p.body.Lines = []orderLine{{SKU: approvalSKU, Quantity: 1}}
		p.approve = true
	default:
		pick(skuPrefix, benchSKUs, 1+rnd.IntN(3))
	}
	if scenario == ScenarioMix {
		switch draw := rnd.IntN(100); {
		case draw < 10:
			p.body.PaymentToken = payclient.TokenChargeDeclined
			p.expect = orderclient.StatusFailed
		case draw < 15:
			p.body.Lines = append(p.body.Lines, orderLine{SKU: shortSKU, Quantity: 1})
			p.expect = orderclient.StatusFailed
		}
	}
	return p
}

// apiOrder is the part of the public API's order the bench reads.
type apiOrder struct {
	ID            string             `json:"id"`
	Status        orderclient.Status `json:"status"`
	FailureReason string             `json:"failure_reason"`
	History       []struct {
		To string    `json:"to"`
		At time.Time `json:"at"`
	} `json:"history"`
}

// Orders places orders through the public API and follows each to its terminal state.
type Orders struct {
	apiURL string
	http   *http.Client
	// temporal, when set, is used to wait for a held order's saga to finish after its
	// approval (one long poll instead of polling the API); the final state is still read
	// through the API.
	temporal client.Client
	// wait is the Prefer: wait=N the bench asks for; the API caps it at ORDER_WAIT_MAX.
	wait time.Duration
	// follow bounds how long an order may take to reach its terminal state.
	follow time.Duration
	// keyPrefix makes the idempotency keys of one bench run unique.
	keyPrefix string
	// tokens gives each request its caller's bearer token (nil: none): the customer
	// places and follows an order, an operator approves it.
	tokens *devauth.Tokens
}

// NewOrders returns an order placer for the API at apiURL, whose callers' tokens come
// from tokens (nil sends none).
func NewOrders(apiURL string, temporal client.Client, keyPrefix string, tokens *devauth.Tokens) *Orders {
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2048,
		MaxIdleConnsPerHost: 2048,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Orders{
		apiURL:    strings.TrimRight(apiURL, "/"),
		http:      &http.Client{Transport: transport, Timeout: 70 * time.Second},
		temporal:  temporal,
		wait:      30 * time.Second,
		follow:    60 * time.Second,
		keyPrefix: keyPrefix,
		tokens:    tokens,
	}
}

// WarmTokens mints every customer's token and the operator's before the measurement, so
// no measured request waits for a signature.
func (o *Orders) WarmTokens() error {
	if o.tokens == nil {
		return nil
	}
	for seq := range customers {
		if _, err := o.tokens.Customer(customerID(seq)); err != nil {
			return err
		}
	}
	_, err := o.tokens.Operator(benchOperator)
	return err
}

// benchOperator approves the held orders.
const benchOperator = "bench"

// bearer returns the Authorization header of a customer ("" for the operator).
func (o *Orders) bearer(customer string) (map[string]string, error) {
	if o.tokens == nil {
		return map[string]string{}, nil
	}
	token, err := o.tokens.Operator(benchOperator)
	if customer != "" {
		token, err = o.tokens.Customer(customer)
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"Authorization": "Bearer " + token}, nil
}

// Key is the idempotency key of one operation of a run.
func (o *Orders) Key(run string, seq int) string {
	return o.keyPrefix + "-" + run + "-" + strconv.Itoa(seq)
}

// Op returns the operation that places the seq-th order of scenario with the idempotency
// key o.Key(run, seq).
func (o *Orders) Op(scenario, run string) Op {
	return func(ctx context.Context, seq int, start time.Time) Outcome {
		p := plan(scenario, seq)
		key := o.Key(run, seq)
		out := o.place(ctx, key, p, start)
		if out.Err == "" && out.Status != string(p.expect) {
			out.Err = "unexpected-" + strings.ToLower(out.Status)
			if out.Status == "" {
				out.Err = "not-terminal"
			}
		}
		return out
	}
}

func (o *Orders) place(ctx context.Context, key string, p orderPlan, start time.Time) Outcome {
	// The id the API derives for the token's subject; the answer's own id replaces it (an
	// API run without authentication, bench --insecure, derives it from the key alone).
	out := Outcome{ID: api.OrderIDForKey(p.body.CustomerID, key)}
	body, err := json.Marshal(p.body)
	if err != nil {
		return fail(out, "encode", err)
	}
	auth, err := o.bearer(p.body.CustomerID)
	if err != nil {
		return fail(out, "token", err)
	}
	headers := map[string]string{"Idempotency-Key": key, "Content-Type": "application/json"}
	maps.Copy(headers, auth)
	if !p.approve {
		headers["Prefer"] = "wait=" + strconv.Itoa(int(o.wait/time.Second))
	}
	status, raw, err := o.do(ctx, http.MethodPost, "/orders", headers, body)
	if err != nil {
		return fail(out, "transport", err)
	}
	var order apiOrder
	switch status {
	case http.StatusOK, http.StatusAccepted:
		out.Accepted = true
		if err := json.Unmarshal(raw, &order); err != nil {
			return fail(out, "decode", err)
		}
		if order.ID != "" {
			out.ID = order.ID
		}
	default:
		return failStatus(out, "http-", status, raw)
	}
	deadline := start.Add(o.follow)
	if p.approve {
		if out, ok := o.approve(ctx, out, deadline); !ok {
			return out
		}
		if o.temporal != nil {
			wctx, cancel := context.WithDeadline(ctx, deadline)
			err := o.temporal.GetWorkflow(wctx, workflows.WorkflowID(out.ID), "").Get(wctx, nil)
			cancel()
			if err != nil {
				return fail(out, "saga-wait", err)
			}
		}
	}
	for !order.Status.IsTerminal() {
		if time.Now().After(deadline) {
			out.Detail = "still " + string(order.Status) + " after " + o.follow.String()
			out.Err = "not-terminal"
			return out
		}
		if order.Status != "" {
			time.Sleep(50 * time.Millisecond)
		}
		status, raw, err := o.do(ctx, http.MethodGet, "/orders/"+out.ID, auth, nil)
		if err != nil {
			return fail(out, "transport", err)
		}
		if status != http.StatusOK {
			return failStatus(out, "get-http-", status, raw)
		}
		if err := json.Unmarshal(raw, &order); err != nil {
			return fail(out, "decode", err)
		}
	}
	out.Status = string(order.Status)
	if order.Status != p.expect {
		out.Detail = order.FailureReason
	}
	prev, prevName := start, "post"
	for _, h := range order.History {
		out.Steps = append(out.Steps, Step{Name: prevName + "→" + h.To, Duration: h.At.Sub(prev)})
		prev, prevName = h.At, h.To
	}
	out.Steps = append(out.Steps, Step{Name: prevName + "→answer", Duration: time.Since(prev)})
	return out
}

// approve sends the approve decision once the order waits for it (409 until then), the
// way an operator's tool would: a first try shortly after placing it, then every 100 ms.
// Each try reads the saga's state, so trying faster would mostly load the system.
func (o *Orders) approve(ctx context.Context, out Outcome, deadline time.Time) (Outcome, bool) {
	body := []byte(`{"reason":"load test"}`)
	headers, err := o.bearer("")
	if err != nil {
		return fail(out, "token", err), false
	}
	headers["Content-Type"] = "application/json"
	time.Sleep(50 * time.Millisecond)
	for {
		status, raw, err := o.do(ctx, http.MethodPost, "/orders/"+out.ID+"/approve", headers, body)
		if err != nil {
			return fail(out, "transport", err), false
		}
		switch status {
		case http.StatusAccepted:
			return out, true
		case http.StatusConflict:
			if time.Now().After(deadline) {
				return failStatus(out, "approve-http-", status, raw), false
			}
			time.Sleep(100 * time.Millisecond)
		default:
			return failStatus(out, "approve-http-", status, raw), false
		}
	}
}

func (o *Orders) do(ctx context.Context, method, path string, headers map[string]string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, o.apiURL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	return resp.StatusCode, raw, err
}

func fail(out Outcome, kind string, err error) Outcome {
	out.Err, out.Detail = kind, err.Error()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		out.Err = kind + "-timeout"
	}
	return out
}

func failStatus(out Outcome, prefix string, status int, raw []byte) Outcome {
	out.Err = prefix + strconv.Itoa(status)
	out.Detail = string(raw)
	if len(out.Detail) > 300 {
		out.Detail = out.Detail[:300]
	}
	return out
}
