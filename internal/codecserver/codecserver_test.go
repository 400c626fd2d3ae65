package codecserver_test

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/sagaflow/sagaflow/internal/codecserver"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/tools/localinfra"
)

const (
	token  = "operator-token-1"
	origin = "http://127.0.0.1:8233"
)

// bearer is the test's authenticator: a real check of the Authorization header against
// one token, where production checks an OIDC token.
func bearer(r *http.Request) error {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		return errors.New("unknown token")
	}
	return nil
}

func keys(t *testing.T) payloadcodec.Config {
	t.Helper()
	k, err := payloadcodec.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	return payloadcodec.Config{Keys: payloadcodec.Secret(k), KeyID: "k1"}
}

type server struct {
	url    string
	secret string
	codec  *payloadcodec.Codec
	log    *testenv.LogBuffer
}

// serve runs a codec server with a path secret and one allowed origin until the test ends.
func serve(t *testing.T) *server {
	t.Helper()
	secret, err := codecserver.NewPathSecret()
	if err != nil {
		t.Fatal(err)
	}
	cfg := codecserver.Config{CORSOrigins: origin + ", https://ui.example.com", PathSecret: payloadcodec.Secret(secret), Config: keys(t)}
	codec, err := cfg.Codec()
	if err != nil {
		t.Fatal(err)
	}
	log := &testenv.LogBuffer{}
	h, err := codecserver.NewHandler(cfg, codec, bearer, slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &server{url: srv.URL, secret: secret, codec: codec, log: log}
}

func payloads(t *testing.T, values ...any) []*commonpb.Payload {
	t.Helper()
	ps, err := converter.GetDefaultDataConverter().ToPayloads(values...)
	if err != nil {
		t.Fatal(err)
	}
	return ps.Payloads
}

// remote is the SDK's own client of the codec protocol, as the CLI and workers use it.
func remote(endpoint string, header http.Header) converter.PayloadCodec {
	return converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
		Endpoint: endpoint,
		ModifyRequest: func(r *http.Request) error {
			for k, v := range header {
				r.Header[k] = v
			}
			return nil
		},
	})
}

// TestRoundTrip: payloads encoded over HTTP decode with the keyring and back over HTTP,
// with a bearer token and under the path secret.
func TestRoundTrip(t *testing.T) {
	s := serve(t)
	in := payloads(t, map[string]string{"payment_token": "tok_visa_SECRET123"}, "cust-SECRET-42", 3)
	for name, c := range map[string]converter.PayloadCodec{
		"bearer token": remote(s.url, http.Header{"Authorization": {"Bearer " + token}, "X-Namespace": {"default"}}),
		"path secret":  remote(s.url+"/"+s.secret, http.Header{"X-Namespace": {"default"}}),
	} {
		t.Run(name, func(t *testing.T) {
			enc, err := c.Encode(in)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range enc {
				if string(p.Metadata[converter.MetadataEncoding]) != payloadcodec.Encoding || strings.Contains(p.String(), "SECRET") {
					t.Fatalf("encoded over HTTP: %v", p)
				}
			}
			// The server encrypted with the keyring: the local codec decodes it, and the
			// server decodes what the local codec encrypted.
			local, err := s.codec.Decode(enc)
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := s.codec.Encode(in)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := c.Decode(sealed)
			if err != nil {
				t.Fatal(err)
			}
			for i := range in {
				if !proto.Equal(local[i], in[i]) || !proto.Equal(dec[i], in[i]) {
					t.Errorf("payload %d: local %v, remote %v, want %v", i, local[i], dec[i], in[i])
				}
			}
		})
	}
	if strings.Contains(s.log.String(), s.secret) {
		t.Errorf("the log shows the path secret:\n%s", s.log.String())
	}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url string, header http.Header, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// TestRefusals: without valid credentials every encode and decode is a 401 problem that
// asks for a bearer token, readable by an allowed origin; other misuse gets its own problem.
func TestRefusals(t *testing.T) {
	s := serve(t)
	enc, err := s.codec.Encode(payloads(t, "cust-SECRET-42"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(&commonpb.Payloads{Payloads: enc})
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret, err := codecserver.NewPathSecret()
	if err != nil {
		t.Fatal(err)
	}
	fromUI := http.Header{"Origin": {origin}, "Content-Type": {"application/json"}, "X-Namespace": {"default"}}
	with := func(h http.Header, k, v string) http.Header {
		c := h.Clone()
		c.Set(k, v)
		return c
	}
	tests := []struct {
		name       string
		method     string
		path       string
		header     http.Header
		body       string
		wantStatus int
		wantType   string // the problem type; "" when the answer is not a problem
	}{
		{"decode without credentials", http.MethodPost, "/decode", fromUI, string(body), 401, "/problems/unauthorized"},
		{"encode without credentials", http.MethodPost, "/encode", fromUI, string(body), 401, "/problems/unauthorized"},
		{"wrong bearer token", http.MethodPost, "/decode", with(fromUI, "Authorization", "Bearer nope"), string(body), 401, "/problems/unauthorized"},
		{"basic credentials", http.MethodPost, "/decode", with(fromUI, "Authorization", "Basic b3A6b3A="), string(body), 401, "/problems/unauthorized"},
		{"wrong path secret", http.MethodPost, "/" + wrongSecret + "/decode", fromUI, string(body), 401, "/problems/unauthorized"},
		{"path secret cut short", http.MethodPost, "/" + s.secret[:20] + "/decode", fromUI, string(body), 401, "/problems/unauthorized"},
		// A valid token does not rescue a wrong path secret: the path decides.
		{"wrong path secret with a token", http.MethodPost, "/" + wrongSecret + "/decode", with(fromUI, "Authorization", "Bearer "+token), string(body), 401, "/problems/unauthorized"},
		{"right bearer token", http.MethodPost, "/decode", with(fromUI, "Authorization", "Bearer "+token), string(body), 200, ""},
		{"right path secret", http.MethodPost, "/" + s.secret + "/decode", fromUI, string(body), 200, ""},
		{"body too large", http.MethodPost, "/decode", with(fromUI, "Authorization", "Bearer "+token), strings.Repeat(" ", codecserver.MaxBodyBytes+1), 413, "/problems/body-too-large"},
		{"GET", http.MethodGet, "/decode", fromUI, "", 405, "/problems/method-not-allowed"},
		{"unknown path", http.MethodPost, "/" + s.secret + "/decode/more", fromUI, string(body), 404, "/problems/not-found"},
		{"health needs no credentials", http.MethodGet, "/healthz", nil, "", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, tc.method, s.url+tc.path, tc.header, tc.body)
			if a.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", a.status, tc.wantStatus, a.body)
			}
			if tc.header.Get("Origin") == origin && a.header.Get("Access-Control-Allow-Origin") != origin {
				t.Errorf("no CORS headers for the UI: %v", a.header)
			}
			if tc.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q, want a Bearer challenge", a.header.Get("WWW-Authenticate"))
			}
			if tc.wantType == "" {
				return
			}
			var p struct {
				Type   string `json:"type"`
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q, want application/problem+json", ct)
			}
			if err := json.Unmarshal([]byte(a.body), &p); err != nil || p.Type != tc.wantType || p.Status != tc.wantStatus || p.Detail == "" {
				t.Errorf("problem %s (%v), want type %s", a.body, err, tc.wantType)
			}
			if strings.Contains(a.body, "SECRET") {
				t.Errorf("a refusal shows the payload: %s", a.body)
			}
		})
	}
	if strings.Contains(s.log.String(), s.secret) || strings.Contains(s.log.String(), wrongSecret) {
		t.Errorf("the log shows a path secret:\n%s", s.log.String())
	}
}

// TestCORS: a preflight from an allowed origin learns it may POST with the UI's headers and
// credentials; any other origin learns nothing, and no answer allows every origin.
func TestCORS(t *testing.T) {
	s := serve(t)
	preflight := func(origin string) http.Header {
		return http.Header{
			"Origin":                         {origin},
			"Access-Control-Request-Method":  {"POST"},
			"Access-Control-Request-Headers": {"content-type,x-namespace"},
		}
	}
	tests := []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
		wantOrigin string
	}{
		{"allowed origin", "/decode", preflight(origin), 204, origin},
		{"second allowed origin, under the path secret", "/" + s.secret + "/decode", preflight("https://ui.example.com"), 204, "https://ui.example.com"},
		// Preflights carry no credentials, so a wrong secret cannot be told apart here;
		// the POST that follows is refused.
		{"allowed origin, any secret", "/not-the-secret-but-long-enough-0123456789/encode", preflight(origin), 204, origin},
		{"other origin", "/decode", preflight("http://evil.example"), 403, ""},
		{"same host, other port", "/decode", preflight("http://127.0.0.1:9999"), 403, ""},
		{"origin with a trailing slash", "/decode", preflight(origin + "/"), 403, ""},
		{"null origin", "/decode", preflight("null"), 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, http.MethodOptions, s.url+tc.path, tc.header, "")
			if a.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", a.status, tc.wantStatus, a.body)
			}
			h := a.header
			if got := h.Get("Access-Control-Allow-Origin"); got != tc.wantOrigin {
				t.Fatalf("Access-Control-Allow-Origin %q, want %q", got, tc.wantOrigin)
			}
			if !strings.Contains(h.Get("Vary"), "Origin") {
				t.Errorf("Vary %q: caches must key on the origin", h.Get("Vary"))
			}
			if tc.wantOrigin == "" {
				if h.Get("Access-Control-Allow-Methods") != "" || h.Get("Access-Control-Allow-Credentials") != "" {
					t.Errorf("a refused origin got CORS grants: %v", h)
				}
				return
			}
			if h.Get("Access-Control-Allow-Methods") != "POST" || h.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("methods %q credentials %q", h.Get("Access-Control-Allow-Methods"), h.Get("Access-Control-Allow-Credentials"))
			}
			allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
			for _, want := range []string{"content-type", "x-namespace", "authorization"} {
				if !strings.Contains(allowed, want) {
					t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowed, want)
				}
			}
		})
	}
}

// TestConfig: each variable's bad values are refused with its name.
func TestConfig(t *testing.T) {
	k1, err := payloadcodec.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := codecserver.NewPathSecret()
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"TEMPORAL_PAYLOAD_KEYS": k1, "TEMPORAL_PAYLOAD_KEY_ID": "k1"}
	plus := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" means valid
		check   func(codecserver.Config) bool
	}{
		{name: "defaults", env: base, check: func(c codecserver.Config) bool {
			return c.HTTPAddr == "127.0.0.1:8089" && c.CORSOrigins == "" && c.PathSecret == "" && c.Timeout == 20*time.Second
		}},
		{name: "everything", env: plus("CODEC_HTTP_ADDR", ":9000", "CODEC_CORS_ORIGINS", "http://127.0.0.1:8233,https://temporal.example.com:8443", "CODEC_PATH_SECRET", secret),
			check: func(c codecserver.Config) bool { return c.HTTPAddr == ":9000" && string(c.PathSecret) == secret }},
		{name: "no keys", env: map[string]string{}, wantErr: "TEMPORAL_PAYLOAD_KEYS"},
		{name: "bad keys", env: plus("TEMPORAL_PAYLOAD_KEY_ID", "k2"), wantErr: "TEMPORAL_PAYLOAD_KEY_ID"},
		{name: "address without port", env: plus("CODEC_HTTP_ADDR", "8089"), wantErr: "CODEC_HTTP_ADDR"},
		{name: "any origin", env: plus("CODEC_CORS_ORIGINS", "*"), wantErr: "CODEC_CORS_ORIGINS"},
		{name: "origin with a path", env: plus("CODEC_CORS_ORIGINS", "http://127.0.0.1:8233/"), wantErr: "CODEC_CORS_ORIGINS"},
		{name: "origin without scheme", env: plus("CODEC_CORS_ORIGINS", "127.0.0.1:8233"), wantErr: "CODEC_CORS_ORIGINS"},
		{name: "short path secret", env: plus("CODEC_PATH_SECRET", "hunter2"), wantErr: "CODEC_PATH_SECRET"},
		{name: "path secret with a slash", env: plus("CODEC_PATH_SECRET", secret[:20]+"/"+secret[20:]), wantErr: "CODEC_PATH_SECRET"},
		{name: "no shutdown time", env: plus("SHUTDOWN_TIMEOUT", "0s"), wantErr: "SHUTDOWN_TIMEOUT"},
	}
	vars := []string{
		"CODEC_HTTP_ADDR", "CODEC_CORS_ORIGINS", "CODEC_PATH_SECRET", "TEMPORAL_PAYLOAD_KEYS", "TEMPORAL_PAYLOAD_KEY_ID",
		"SHUTDOWN_DRAIN_DELAY", "SHUTDOWN_TIMEOUT",
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.SetOnlyEnv(t, vars, tc.env)
			var cfg codecserver.Config
			if err := envconfig.Process("", &cfg); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows the path secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
			if strings.Contains(fmt.Sprintf("%+v", cfg), secret) {
				t.Error("printing the config shows the path secret")
			}
		})
	}
}

// TestRun serves on a real port, answers health checks, and stops when its context ends.
func TestRun(t *testing.T) {
	port, err := localinfra.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := codecserver.Config{HTTPAddr: fmt.Sprintf("127.0.0.1:%d", port), Config: keys(t)}
	cfg.Timeout = 5 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- codecserver.Run(ctx, cfg, slog.New(slog.DiscardHandler), bearer) }()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close() // only the status is read
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("codec server not answering: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := do(t, http.MethodPost, url+"/decode", nil, `{"payloads":[]}`); a.status != http.StatusUnauthorized {
		t.Errorf("decode without credentials answered %d", a.status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not stop")
	}

	if err := codecserver.Run(context.Background(), codecserver.Config{HTTPAddr: cfg.HTTPAddr}, slog.New(slog.DiscardHandler), bearer); err == nil ||
		!strings.Contains(err.Error(), "TEMPORAL_PAYLOAD_KEYS") {
		t.Errorf("Run without keys: %v", err)
	}
	if _, err := codecserver.NewHandler(cfg, nil, nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("NewHandler accepted no authenticator")
	}
}
