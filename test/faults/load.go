package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sagaflow/sagaflow/api"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/test/contract"
	"github.com/sagaflow/sagaflow/tools/devauth"
)

// Catalog products the generator orders. Stock is ample, so no order fails for stock and
// every order's outcome is known in advance.
const (
	SKUMug     = "SKU-F-MUG"
	SKUBeans   = "SKU-F-BEANS"
	SKUFilters = "SKU-F-FILTERS"
	// SKUMachine costs more than the approval threshold the suite configures.
	SKUMachine = "SKU-F-MACHINE"
)

// CatalogProduct is one product the suite seeds.
type CatalogProduct struct {
	SKU   string
	Name  string
	Price int64
	Stock int64
}

// Catalog lists the products the suite seeds.
func Catalog() []CatalogProduct {
	return []CatalogProduct{
		{SKUMug, "Stoneware mug", 1500, 100000},
		{SKUBeans, "Espresso beans, 1 kg", 2450, 100000},
		{SKUFilters, "Paper filters", 650, 100000},
		{SKUMachine, "Espresso machine", 249000, 100000},
	}
}

// ApprovalThreshold is what the suite's API holds orders at: only SKUMachine reaches it.
const ApprovalThreshold = 100000

// Kind is what an order is meant to do, and so how it must end.
type Kind string

// Order kinds.
const (
	Happy       Kind = "happy"        // paid and confirmed
	Declined    Kind = "declined"     // card declined: FAILED
	NoFunds     Kind = "no-funds"     // insufficient funds: FAILED
	HeldApprove Kind = "held-approve" // waits for approval, approved: CONFIRMED
	HeldReject  Kind = "held-reject"  // waits for approval, rejected: FAILED
	HeldCancel  Kind = "held-cancel"  // waits for approval, cancelled: CANCELLED
)

// Expected is the terminal status an order of this kind must reach.
func (k Kind) Expected() orderclient.Status {
	switch k {
	case Happy, HeldApprove:
		return orderclient.StatusConfirmed
	case HeldCancel:
		return orderclient.StatusCancelled
	}
	return orderclient.StatusFailed
}

func (k Kind) held() bool { return k == HeldApprove || k == HeldReject || k == HeldCancel }

// Order is one order the generator placed (or tried to).
type Order struct {
	Key  string
	Kind Kind
	Body api.PlaceOrderRequest
	// ID is the order id the API answered; "" when the order was never accepted.
	ID string
	// Attempts counts POST /orders requests sent for the key; Statuses their answers
	// (0 for a transport error).
	Attempts int
	Statuses []int
	// Copies is how many identical requests are sent at once (0 means 1).
	Copies int
	// Decided is true once the approve/reject/cancel decision was accepted.
	Decided bool
	Err     error
}

// Mix is how many orders of each kind a stream holds.
type Mix map[Kind]int

// DefaultMix is the stream most scenarios run: mostly happy orders, some declines, and
// held orders answered each way.
func DefaultMix(n int) Mix {
	m := Mix{Declined: n / 10, NoFunds: n / 20, HeldApprove: n / 10, HeldReject: n / 20, HeldCancel: n / 20}
	rest := n
	for _, c := range m {
		rest -= c
	}
	m[Happy] = rest
	return m
}

// Load places a stream of orders through the public API, like a well-behaved client:
// every order has its own Idempotency-Key, and an answer that invites a retry (429, 5xx,
// 409 in flight, a transport error) is retried with the same key and body after
// Retry-After or a short backoff. Held orders get their decision once they wait for it.
type Load struct {
	apiURL string
	http   *http.Client
	tokens *devauth.Tokens
	prefix string
	// RetryFor bounds how long one order keeps being retried.
	RetryFor time.Duration

	mu         sync.Mutex
	mismatches []error // answers (and requests) outside the public API's document
	orders     []*Order
	codes      map[int]int // answers to POST /orders by status (0 = transport error)
	next       int         // number of the next order's key
	wg         sync.WaitGroup
}

// NewLoad returns a generator against the API at apiURL; prefix makes its keys unique.
// Each request carries a token from tokens (nil: none), as its client would: the order's
// customer places and follows it, an operator decides held orders. Every request it sends
// and every answer it gets are held to the public API's committed OpenAPI document;
// Mismatches returns what was not.
func NewLoad(apiURL, prefix string, tokens *devauth.Tokens) *Load {
	l := &Load{
		apiURL:   apiURL,
		tokens:   tokens,
		prefix:   prefix,
		RetryFor: 3 * time.Minute,
		codes:    map[int]int{},
	}
	var transport http.RoundTripper
	if c, err := contract.For("public"); err != nil {
		l.mismatches = append(l.mismatches, err)
	} else {
		transport = c.WithoutAuthentication().Transport(l.mismatch, nil)
	}
	l.http = &http.Client{Timeout: 15 * time.Second, Transport: transport}
	return l
}

func (l *Load) mismatch(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mismatches = append(l.mismatches, err)
}

// Mismatches returns every exchange the public API's document does not allow.
func (l *Load) Mismatches() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.mismatches...)
}

// Orders builds the orders of the mix, shuffled deterministically by seed, with keys no
// earlier call handed out. Not safe for concurrent use.
func (l *Load) Orders(mix Mix, seed uint64) []*Order {
	var kinds []Kind
	for _, k := range []Kind{Happy, Declined, NoFunds, HeldApprove, HeldReject, HeldCancel} {
		for range mix[k] {
			kinds = append(kinds, k)
		}
	}
	r := rand.New(rand.NewPCG(seed, 7))
	r.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	out := make([]*Order, 0, len(kinds))
	for i, k := range kinds {
		o := &Order{Key: fmt.Sprintf("%s-%03d", l.prefix, l.next), Kind: k}
		if l.next%5 == 4 {
			// Every fifth order is sent twice at once: one order, one saga, whatever happens.
			o.Copies = 2
		}
		l.next++
		o.Body = api.PlaceOrderRequest{CustomerID: fmt.Sprintf("cust-%d", i%7), PaymentToken: "tok_visa"}
		switch k {
		case Declined:
			o.Body.PaymentToken = "tok_chargeDeclined"
		case NoFunds:
			o.Body.PaymentToken = "tok_insufficientFunds"
		}
		if k.held() {
			o.Body.Lines = []api.NewOrderLine{{SKU: SKUMachine, Quantity: 1}}
		} else {
			skus := []string{SKUMug, SKUBeans, SKUFilters}
			n := 1 + r.IntN(len(skus))
			for j := range n {
				o.Body.Lines = append(o.Body.Lines, api.NewOrderLine{SKU: skus[(i+j)%len(skus)], Quantity: int64(1 + r.IntN(3))})
			}
		}
		out = append(out, o)
	}
	return out
}

// Run places orders spread evenly over span, each in its own goroutine, and returns at
// once; Wait waits until every order was placed (or given up) and every held order got
// its decision.
func (l *Load) Run(ctx context.Context, orders []*Order, span time.Duration) {
	l.mu.Lock()
	l.orders = append(l.orders, orders...)
	l.mu.Unlock()
	gap := time.Duration(0)
	if len(orders) > 1 {
		gap = span / time.Duration(len(orders)-1)
	}
	start := time.Now()
	l.wg.Add(len(orders))
	go func() {
		for i, o := range orders {
			if d := time.Until(start.Add(time.Duration(i) * gap)); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
			go func() {
				defer l.wg.Done()
				l.drive(ctx, o)
			}()
		}
	}()
}

// Wait blocks until every order of every Run was driven to its end.
func (l *Load) Wait() { l.wg.Wait() }

// Placed returns every order the generator handled.
func (l *Load) Placed() []*Order {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Order(nil), l.orders...)
}

// Accepted returns a copy of every order the API has accepted so far.
func (l *Load) Accepted() []Order {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Order
	for _, o := range l.orders {
		if o.ID != "" {
			out = append(out, Order{Key: o.Key, Kind: o.Kind, Body: o.Body, ID: o.ID})
		}
	}
	return out
}

// Codes returns how POST /orders was answered, by status (0 = transport error).
func (l *Load) Codes() map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int]int{}
	for k, v := range l.codes {
		out[k] = v
	}
	return out
}

func (l *Load) drive(ctx context.Context, o *Order) {
	// Copies of the same request race each other, as a client retrying too early would.
	errs := make([]error, max(o.Copies, 1))
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = l.place(ctx, o) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		o.Err = err
		return
	}
	if o.Kind.held() {
		if err := l.decide(ctx, o); err != nil {
			o.Err = err
		}
	}
}

// place sends POST /orders until the API accepts the order.
func (l *Load) place(ctx context.Context, o *Order) error {
	deadline := time.Now().Add(l.RetryFor)
	backoff := 100 * time.Millisecond
	for {
		status, body, hdr, err := l.post(ctx, "/orders", o.Key, o.Body)
		l.mu.Lock()
		o.Attempts++
		o.Statuses = append(o.Statuses, status)
		l.codes[status]++
		l.mu.Unlock()
		if err == nil && (status == http.StatusAccepted || status == http.StatusOK) {
			var out api.Order
			if err := json.Unmarshal(body, &out); err != nil {
				return fmt.Errorf("order %s: answer unreadable: %w", o.Key, err)
			}
			// The id is the customer's (the token's subject) and the key's.
			if want := api.OrderIDForKey(o.Body.CustomerID, o.Key); out.ID != want {
				return fmt.Errorf("order %s: answered id %s, want %s", o.Key, out.ID, want)
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			if o.ID != "" && o.ID != out.ID {
				return fmt.Errorf("order %s: copies answered ids %s and %s", o.Key, o.ID, out.ID)
			}
			o.ID = out.ID
			return nil
		}
		retryable := err != nil || status == http.StatusTooManyRequests || status >= 500 || status == http.StatusConflict
		if !retryable {
			return fmt.Errorf("order %s: refused with %d: %s", o.Key, status, body)
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("order %s: still not accepted after %s (last %d): %w", o.Key, l.RetryFor, status, err)
			}
			return fmt.Errorf("order %s: still not accepted after %s (last %d)", o.Key, l.RetryFor, status)
		}
		wait := backoff
		if s, perr := strconv.Atoi(hdr.Get("Retry-After")); perr == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		backoff = min(2*backoff, 2*time.Second)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// decide waits until a held order is AWAITING_APPROVAL and sends its decision.
func (l *Load) decide(ctx context.Context, o *Order) error {
	action := map[Kind]string{HeldApprove: "approve", HeldReject: "reject", HeldCancel: "cancel"}[o.Kind]
	deadline := time.Now().Add(l.RetryFor)
	for {
		if time.Now().After(deadline) {
			return fmt.Errorf("order %s: decision %s not accepted within %s", o.ID, action, l.RetryFor)
		}
		if st, err := l.status(ctx, o); err == nil && st == orderclient.StatusAwaitingApproval {
			status, body, _, err := l.post(ctx, "/orders/"+o.ID+"/"+action, "", api.DecisionRequest{Reason: string(o.Kind)})
			if err == nil && (status == http.StatusAccepted || status == http.StatusOK) {
				o.Decided = true
				return nil
			}
			if err == nil && status < 500 && status != http.StatusConflict && status != http.StatusTooManyRequests {
				return fmt.Errorf("order %s: %s answered %d: %s", o.ID, action, status, body)
			}
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// status reads the order as its customer.
func (l *Load) status(ctx context.Context, o *Order) (orderclient.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.apiURL+"/orders/"+o.ID, nil)
	if err != nil {
		return "", err
	}
	if err := l.authorize(req, customer(o.Body.CustomerID)); err != nil {
		return "", err
	}
	r, err := l.do(req)
	if err != nil {
		return "", err
	}
	if r.Status != http.StatusOK {
		return "", fmt.Errorf("GET order %s: %d", o.ID, r.Status)
	}
	out, err := r.Order()
	if err != nil {
		return "", err
	}
	return out.Status, nil
}

// Response is one answer of the API.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Order decodes the body as an order.
func (r Response) Order() (api.Order, error) {
	var o api.Order
	err := json.Unmarshal(r.Body, &o)
	return o, err
}

// Post sends one POST (no retry); key, when set, is the Idempotency-Key. An order is
// placed by its customer; anything else is sent by an operator.
func (l *Load) Post(ctx context.Context, path, key string, body any) (Response, error) {
	status, raw, hdr, err := l.post(ctx, path, key, body)
	return Response{Status: status, Header: hdr, Body: raw}, err
}

// Get sends one GET (no retry), as an operator, who may read any order.
func (l *Load) Get(ctx context.Context, path string) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.apiURL+path, nil)
	if err != nil {
		return Response{}, err
	}
	if err := l.authorize(req, operator); err != nil {
		return Response{}, err
	}
	return l.do(req)
}

// caller names whose token a request carries.
type caller struct{ customerID string } // "" is the suite's operator

var operator = caller{}

func customer(id string) caller { return caller{customerID: id} }

// authorize adds the caller's bearer token to req.
func (l *Load) authorize(req *http.Request, who caller) error {
	if l.tokens == nil {
		return nil
	}
	var token string
	var err error
	if who.customerID != "" {
		token, err = l.tokens.Customer(who.customerID)
	} else {
		token, err = l.tokens.Operator("fault-suite")
	}
	if err != nil {
		return fmt.Errorf("mint a token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return nil
}

// post sends a JSON POST and returns the status (0 on a transport error), body and headers.
func (l *Load) post(ctx context.Context, path, key string, body any) (int, []byte, http.Header, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.apiURL+path, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	who := operator
	if placed, ok := body.(api.PlaceOrderRequest); ok {
		who = customer(placed.CustomerID)
	}
	if err := l.authorize(req, who); err != nil {
		return 0, nil, nil, err
	}
	r, err := l.do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	return r.Status, r.Body, r.Header, nil
}

// do sends req and reads the whole answer.
func (l *Load) do(req *http.Request) (Response, error) {
	resp, err := l.http.Do(req)
	if err != nil {
		return Response{}, err
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}, err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
