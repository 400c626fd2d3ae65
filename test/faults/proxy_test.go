package faults

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// upstream counts the requests it served and answers with the request's path.
type upstream struct {
	srv    *httptest.Server
	served atomic.Int32
	delay  time.Duration
}

func newUpstream(t *testing.T, delay time.Duration) *upstream {
	u := &upstream{delay: delay}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(u.delay)
		u.served.Add(1)
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func send(t *testing.T, c *http.Client, url, key string) (int, string, http.Header, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	return resp.StatusCode, string(body), resp.Header, nil
}

func TestProxyModes(t *testing.T) {
	cases := []struct {
		name       string
		rule       Rule
		wantStatus int   // 0: the call fails without an answer
		wantServed int32 // requests the upstream served
	}{
		{"pass", Rule{Mode: Pass}, http.StatusCreated, 1},
		{"5xx", Rule{Mode: Fail5xx}, http.StatusServiceUnavailable, 0},
		{"5xx with status", Rule{Mode: Fail5xx, Status: http.StatusBadGateway}, http.StatusBadGateway, 0},
		{"hang", Rule{Mode: Hang}, 0, 0},
		{"commit then drop", Rule{Mode: CommitThenDrop}, 0, 1},
		{"rule for another step", Rule{Mode: Fail5xx, Step: "void-payment"}, http.StatusCreated, 1},
		{"rule for this step", Rule{Mode: Fail5xx, Step: "capture-payment"}, http.StatusServiceUnavailable, 0},
		{"rule for another path", Rule{Mode: Fail5xx, PathPrefix: "/reservations"}, http.StatusCreated, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, 0)
			p, err := NewProxy(up.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			p.SetRules(tc.rule)
			// A fresh connection per call, so the transport cannot quietly resend.
			c := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
			status, body, hdr, err := send(t, c, p.URL+"/payments/o-1/capture", "order-o-1/capture-payment")
			if tc.wantStatus == 0 {
				if err == nil {
					t.Fatalf("answered %d, want no answer", status)
				}
			} else if err != nil || status != tc.wantStatus {
				t.Fatalf("answered %d (%v), want %d", status, err, tc.wantStatus)
			}
			if tc.wantStatus == http.StatusCreated && (body != "POST /payments/o-1/capture" || hdr.Get("X-Upstream") != "yes") {
				t.Fatalf("forwarded answer %q, headers %v", body, hdr)
			}
			// Give a dropped call's upstream request time to land.
			time.Sleep(50 * time.Millisecond)
			if got := up.served.Load(); got != tc.wantServed {
				t.Fatalf("upstream served %d, want %d", got, tc.wantServed)
			}
		})
	}
}

func TestProxyOncePerKeyAndHeal(t *testing.T) {
	up := newUpstream(t, 0)
	p, err := NewProxy(up.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetRules(Rule{Mode: Fail5xx, OncePerKey: true})
	c := &http.Client{Timeout: time.Second}
	for i, want := range []int{http.StatusServiceUnavailable, http.StatusCreated, http.StatusCreated} {
		if status, _, _, err := send(t, c, p.URL+"/x", "k-1"); err != nil || status != want {
			t.Fatalf("call %d on k-1: %d %v, want %d", i, status, err, want)
		}
	}
	if status, _, _, _ := send(t, c, p.URL+"/x", "k-2"); status != http.StatusServiceUnavailable {
		t.Fatalf("first call on k-2: %d, want 503", status)
	}
	p.SetRules(Rule{Mode: Fail5xx})
	if status, _, _, _ := send(t, c, p.URL+"/x", ""); status != http.StatusServiceUnavailable {
		t.Fatalf("after SetRules: %d, want 503", status)
	}
	p.Heal()
	if status, _, _, _ := send(t, c, p.URL+"/x", ""); status != http.StatusCreated {
		t.Fatalf("after Heal: %d, want 201", status)
	}
	st := p.Stats()
	if st.Requests != 6 || st.Injected[Fail5xx] != 3 {
		t.Fatalf("stats %+v, want 6 requests and 3 injected 5xx", st)
	}
}

// The proxy finishes a forwarded request when its caller gives up, and counts a repeat
// that arrives while the first is still being served.
func TestProxyFinishesAbandonedRequestsAndCountsOverlaps(t *testing.T) {
	up := newUpstream(t, 300*time.Millisecond)
	p, err := NewProxy(up.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	impatient := &http.Client{Timeout: 100 * time.Millisecond}
	if _, _, _, err := send(t, impatient, p.URL+"/x", "k"); err == nil {
		t.Fatal("the impatient call got an answer")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if status, _, _, err := send(t, &http.Client{Timeout: time.Second}, p.URL+"/x", "k"); err != nil || status != http.StatusCreated {
			t.Errorf("repeat: %d %v", status, err)
		}
	})
	wg.Wait()
	if got := up.served.Load(); got != 2 {
		t.Fatalf("upstream served %d, want 2 (the abandoned request too)", got)
	}
	if st := p.Stats(); st.Overlaps != 1 {
		t.Fatalf("overlaps %d, want 1", st.Overlaps)
	}
}

func TestProxyCloseReleasesHangs(t *testing.T) {
	up := newUpstream(t, 0)
	p, err := NewProxy(up.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	p.SetRules(Rule{Mode: Hang})
	done := make(chan error, 1)
	go func() {
		_, _, _, err := send(t, &http.Client{Timeout: 10 * time.Second}, p.URL+"/x", "")
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go p.Close()
	select {
	case err := <-done:
		// Only that the call returned matters: how it ends depends on Close's timing.
		t.Logf("the hanging call returned: %v", err)
	case <-ctx.Done():
		t.Fatal("a hanging request outlived Close")
	}
}
