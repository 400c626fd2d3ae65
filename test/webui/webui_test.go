// Package webui_test shows that an operator reads encrypted sagas in the Temporal Web UI
// through the codec server: a headless Chromium loads a saga's page and must find its
// decoded input, while a UI without a codec endpoint must show none of it.
package webui_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sagaflow/sagaflow/internal/codecserver"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/secrets"
	"github.com/sagaflow/sagaflow/test/system"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/tools/localinfra"
	"github.com/sagaflow/sagaflow/workflows"
)

const customer = "cust-SECRET-42"

// TestWebUIShowsDecodedInput starts two Temporal dev servers with their Web UI, one told to
// decode through a codec server (with a path secret, as `make run` hands it), one not; runs
// one encrypted saga on each; and loads each saga's page in headless Chromium. The UI with
// the codec shows the customer id and SKU of the saga's input; the other shows neither.
func TestWebUIShowsDecodedInput(t *testing.T) {
	browser := chromium(t)
	bin, err := localinfra.FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	key, err := payloadcodec.GenerateKey("ui-1")
	if err != nil {
		t.Fatal(err)
	}
	keys := payloadcodec.Config{Keys: payloadcodec.Secret(key), KeyID: "ui-1"}
	codec, err := keys.Codec()
	if err != nil {
		t.Fatal(err)
	}
	ports, err := localinfra.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	uiOrigin := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	secret, err := codecserver.NewPathSecret()
	if err != nil {
		t.Fatal(err)
	}
	codecLog := &testenv.LogBuffer{}
	h, err := codecserver.NewHandler(codecserver.Config{CORSOrigins: uiOrigin, PathSecret: payloadcodec.Secret(secret)}, codec,
		func(*http.Request) error { return errors.New("the dev UI sends no token") }, slog.New(slog.NewTextHandler(codecLog, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cs := httptest.NewServer(h)
	t.Cleanup(cs.Close)

	withCodec := startTemporal(t, bin, ports[0], cs.URL+"/"+secret)
	withoutCodec := startTemporal(t, bin, ports[1], "")
	// The system's own worker pools poll this server too; the sagas below run on pools of
	// their own, with the keyring.
	t.Setenv("TEST_TEMPORAL_ADDRESS", withCodec.HostPort)
	sys := system.Start(t, func(string) *slog.Logger { return logging.Discard() })
	sku := "SKU-SECRET-UI-" + testenv.Suffix()
	sys.Seed(t, []system.Product{{SKU: sku, Name: "Widget", Price: 1000, Stock: 10}})

	for _, tc := range []struct {
		name   string
		server *localinfra.TemporalServer
		decode bool
	}{
		{name: "with-codec", server: withCodec, decode: true},
		{name: "without-codec", server: withoutCodec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sagas := secrets.Deploy(t, sys, tc.server.HostPort, keys, "webui")
			run := sagas.Start(t, workflows.OrderInput{
				OrderID: "o-ui-" + testenv.Suffix(), CustomerID: customer, PaymentToken: payclient.TokenVisa,
				Lines: []workflows.OrderLine{{SKU: sku, Quantity: 2}}, RequestID: "req-ui",
			})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var res workflows.SagaResult
			if err := run.Get(ctx, &res); err != nil {
				t.Fatal(err)
			}
			if res.Status != orderclient.StatusConfirmed {
				t.Fatalf("saga ended %s (%s)", res.Status, res.FailureReason)
			}

			url := fmt.Sprintf("%s/namespaces/default/workflows/%s/%s/history", tc.server.UIURL, run.GetID(), run.GetRunID())
			// The page is ready when its Input panel shows the saga's input: decoded, or as
			// the encrypted payload itself (base64 metadata) when the UI cannot decode.
			ready := customer
			if !tc.decode {
				ready = base64.StdEncoding.EncodeToString([]byte(payloadcodec.Encoding))
			}
			text, shot, err := readPage(t, browser, url, ready)
			path := filepath.Join(t.TempDir(), tc.name+".png")
			if dir := os.Getenv("WEBUI_SCREENSHOT_DIR"); dir != "" {
				path = filepath.Join(dir, tc.name+".png")
			}
			if err := os.WriteFile(path, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot of %s: %s", url, path)
			if err != nil {
				t.Fatalf("the page never showed %q: %v\npage text:\n%s", ready, err, text)
			}
			secretText := []string{customer, sku, payclient.TokenVisa}
			for _, s := range secretText {
				if shown := strings.Contains(text, s); shown != tc.decode {
					t.Errorf("page shows %q: %v, want %v\npage text:\n%s", s, shown, tc.decode, text)
				}
			}
		})
	}
	// The browser fetched the decoded payloads from the codec server, under its path secret.
	if log := codecLog.String(); !strings.Contains(log, "path=/{secret}/decode status=200") {
		t.Errorf("the codec server decoded nothing for the UI; its log:\n%s", log)
	}
	if strings.Contains(codecLog.String(), secret) {
		t.Errorf("the codec server logged its path secret")
	}
}

// chromium finds the browser; CI installs it (.ci/run), so a missing one fails the test.
func chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (%v): install it with `apt-get install -y chromium`, as .ci/run does", err)
	}
	return path
}

// startTemporal runs a dev server with its Web UI on uiPort, decoding through codec when
// it is set, until the test ends.
func startTemporal(t *testing.T, bin string, uiPort int, codec string) *localinfra.TemporalServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := localinfra.StartTemporal(ctx, localinfra.TemporalConfig{
		Binary: bin, UIPort: uiPort, UICodecEndpoint: codec,
		SearchAttributes: workflows.SearchAttributeTypes(),
		DynamicConfig:    localinfra.FastDispatch(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop Temporal: %v", err)
		}
	})
	return srv
}

// readPage loads url in a fresh headless Chromium and waits until the page's text holds
// ready; it returns the text and a screenshot either way, with the wait's error.
func readPage(t *testing.T, browser, url, ready string) (string, []byte, error) {
	t.Helper()
	opts := slices.Concat(chromedp.DefaultExecAllocatorOptions[:], []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1600),
	})
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	_, waitErr := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf("document.body.innerText.includes(%q)", ready),
		chromedp.WithPollingTimeout(45*time.Second)))
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerText"))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	return text, shot, waitErr
}
