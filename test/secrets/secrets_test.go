package secrets_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/sagaflow/sagaflow/internal/codecserver"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/secrets"
	"github.com/sagaflow/sagaflow/test/system"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/workflows"
)

func TestMain(m *testing.M) { testtemporal.Main(m) }

const customer = "cust-SECRET-42"

// TestHistoriesHoldNoSecrets runs sagas that end each way (confirmed, declined, approved
// after a hold, out of stock) with the payload codec, and proves that nothing Temporal
// keeps of them (every history event and the execution's description: memo, search
// attributes, summary) shows the payment token, the customer id or a SKU, and that every
// payload but the context headers is encrypted. The same sagas without the codec are the
// control: there the same scan finds every one of them, so the check can fail. Decoding
// with the keyring, locally and through the codec server, gives the input back.
func TestHistoriesHoldNoSecrets(t *testing.T) {
	sys := system.Start(t, func(string) *slog.Logger { return logging.Discard() })
	suffix := testenv.Suffix()
	skuA, skuB, skuShort := "SKU-SECRET-A-"+suffix, "SKU-SECRET-B-"+suffix, "SKU-SECRET-C-"+suffix
	sys.Seed(t, []system.Product{
		{SKU: skuA, Name: "Widget", Price: 1000, Stock: 100},
		{SKU: skuB, Name: "Gadget", Price: 500, Stock: 100},
		{SKU: skuShort, Name: "Rarity", Price: 700, Stock: 1},
	})
	key, err := payloadcodec.GenerateKey("test-1")
	if err != nil {
		t.Fatal(err)
	}
	keys := payloadcodec.Config{Keys: payloadcodec.Secret(key), KeyID: "test-1"}

	scenarios := []struct {
		name       string
		token      string
		lines      []workflows.OrderLine
		threshold  int64
		interact   func(t *testing.T, s *secrets.Sagas, id string)
		wantStatus orderclient.Status
	}{
		{name: "confirmed", token: payclient.TokenVisa,
			lines:      []workflows.OrderLine{{SKU: skuA, Quantity: 2}, {SKU: skuB, Quantity: 1}},
			wantStatus: orderclient.StatusConfirmed},
		{name: "declined", token: payclient.TokenChargeDeclined,
			lines:      []workflows.OrderLine{{SKU: skuA, Quantity: 1}},
			wantStatus: orderclient.StatusFailed},
		{name: "approved", token: payclient.TokenMastercard, threshold: 2000,
			lines: []workflows.OrderLine{{SKU: skuA, Quantity: 3}},
			interact: func(t *testing.T, s *secrets.Sagas, id string) {
				s.WaitFor(t, id, func(st workflows.SagaStatus) bool { return st.Status == orderclient.StatusAwaitingApproval })
				// The signal's reason names the customer: signal inputs are payloads too.
				if err := s.Client.SignalWorkflow(context.Background(), id, "", workflows.SignalApprove,
					workflows.Decision{By: "alice", Reason: "known customer " + customer}); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: orderclient.StatusConfirmed},
		// The failure reason and the activity's failure details name the SKU.
		{name: "out-of-stock", token: payclient.TokenVisa,
			lines:      []workflows.OrderLine{{SKU: skuShort, Quantity: 5}},
			wantStatus: orderclient.StatusFailed},
	}

	modes := []struct {
		name      string
		keys      payloadcodec.Config
		encrypted bool
	}{
		{name: "with the codec", keys: keys, encrypted: true},
		{name: "without the codec (control)", keys: payloadcodec.Config{}},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			sagas := secrets.Deploy(t, sys, testtemporal.TemporalAddress(t), mode.keys, "secrets")
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					in := workflows.OrderInput{
						OrderID: "o-" + sc.name + "-" + testenv.Suffix(), CustomerID: customer,
						Lines: sc.lines, PaymentToken: sc.token, RequestID: "req-" + sc.name,
						ApprovalThreshold: sc.threshold, ApprovalTimeout: time.Hour,
					}
					run := sagas.Start(t, in)
					if sc.interact != nil {
						sc.interact(t, sagas, run.GetID())
					}
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					var res workflows.SagaResult
					if err := run.Get(ctx, &res); err != nil {
						t.Fatal(err)
					}
					if res.Status != sc.wantStatus {
						t.Fatalf("saga ended %s (%s), want %s", res.Status, res.FailureReason, sc.wantStatus)
					}

					rec := secrets.Read(t, sagas.Client, run)
					want := []string{sc.token, customer}
					for _, l := range sc.lines {
						want = append(want, l.SKU)
					}
					found := rec.Found(want...)
					if !mode.encrypted {
						if !slices.Equal(found, want) {
							t.Fatalf("the control run shows %q of %q: the scan cannot see what it looks for", found, want)
						}
						return
					}
					if len(found) > 0 {
						t.Errorf("the history shows %q in clear", found)
					}
					for _, path := range rec.ClearPayloads() {
						// Context headers carry the request id (the correlation propagator's own
						// converter); search attributes are indexed in clear by design.
						if !strings.Contains(path, ".header.") && !strings.Contains(path, ".search_attributes.") {
							t.Errorf("payload in clear: %s", path)
						}
					}
					if attrs := rec.Describe.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields(); attrs[workflows.SearchCustomerID.GetName()] != nil {
						t.Errorf("the saga indexed the customer id: %v", attrs)
					}
					checkDecodes(t, sagas, rec, in, keys)
				})
			}
		})
	}
}

// checkDecodes: the keyring gives back the saga's input and summary from the recorded
// history, both in process and through the codec server the Web UI uses.
func checkDecodes(t *testing.T, sagas *secrets.Sagas, rec secrets.Record, in workflows.OrderInput, keys payloadcodec.Config) {
	t.Helper()
	in.TaskQueues = sagas.Queues
	started := rec.Events[0]
	if started.GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED {
		t.Fatalf("first event %s", started.GetEventType())
	}
	input := started.GetWorkflowExecutionStartedEventAttributes().GetInput()
	var got workflows.OrderInput
	if err := sagas.DataConverter.FromPayloads(input, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("decoded input %+v, want %+v", got, in)
	}
	var summary string
	if err := sagas.DataConverter.FromPayload(rec.Describe.GetExecutionConfig().GetUserMetadata().GetSummary(), &summary); err != nil || summary != secrets.Summary(in) {
		t.Errorf("decoded summary %q (%v), want %q", summary, err, secrets.Summary(in))
	}

	secret, err := codecserver.NewPathSecret()
	if err != nil {
		t.Fatal(err)
	}
	codec, err := keys.Codec()
	if err != nil {
		t.Fatal(err)
	}
	h, err := codecserver.NewHandler(codecserver.Config{PathSecret: payloadcodec.Secret(secret)}, codec,
		func(*http.Request) error { return errors.New("no tokens in this test") }, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL + "/" + secret})
	decoded, err := remote.Decode(input.GetPayloads())
	if err != nil {
		t.Fatal(err)
	}
	var viaServer workflows.OrderInput
	if err := converter.GetDefaultDataConverter().FromPayloads(&commonpb.Payloads{Payloads: decoded}, &viaServer); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(viaServer, in) {
		t.Errorf("input decoded by the codec server %+v, want %+v", viaServer, in)
	}
}
