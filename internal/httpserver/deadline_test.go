package httpserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

type slowInput struct {
	Body struct {
		Name string `json:"name"`
	}
}

type slowOutput struct {
	Body struct {
		Name string `json:"name"`
	}
}

// TestHandlersOutliveTheReadDeadlines: an operation that works longer than the server's
// ReadTimeout or its own body read timeout keeps its context and its answer, and the
// keep-alive connection serves the next request. A read deadline left on the connection
// used to cancel the request (the server's idle read failed) and drop the connection.
func TestHandlersOutliveTheReadDeadlines(t *testing.T) {
	cases := []struct {
		name            string
		readTimeout     time.Duration
		bodyReadTimeout time.Duration
	}{
		{name: "past the server's ReadTimeout", readTimeout: 200 * time.Millisecond},
		{name: "past the operation's body read timeout", readTimeout: time.Minute, bodyReadTimeout: 200 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			router := NewRouter(logger)
			api := NewAPI(router, "test", "1.0.0", "")
			huma.Register(api, huma.Operation{
				OperationID: "slow", Method: http.MethodPost, Path: "/slow",
				BodyReadTimeout: tc.bodyReadTimeout,
			}, func(ctx context.Context, in *slowInput) (*slowOutput, error) {
				select {
				case <-time.After(600 * time.Millisecond):
				case <-ctx.Done():
					return nil, huma.Error503ServiceUnavailable("cancelled")
				}
				out := &slowOutput{}
				out.Body.Name = in.Body.Name
				return out, nil
			})
			srv := NewServer(router, logger)
			srv.ReadTimeout = tc.readTimeout
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { _ = srv.Close() })

			var newConns atomic.Int32
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for i, name := range []string{"first", "second"} {
				trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
					if !info.Reused {
						newConns.Add(1)
					}
				}}
				req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
					http.MethodPost, "http://"+ln.Addr().String()+"/slow", strings.NewReader(`{"name":"`+name+`"}`))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
				body, _ := io.ReadAll(resp.Body)
				if err := resp.Body.Close(); err != nil {
					t.Logf("request %d: close body: %v", i+1, err)
				}
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), name) {
					t.Fatalf("request %d: %d %s, want 200 echoing %q", i+1, resp.StatusCode, body, name)
				}
			}
			if n := newConns.Load(); n != 1 {
				t.Errorf("%d connections for two requests, want the first one kept alive", n)
			}
		})
	}
}
