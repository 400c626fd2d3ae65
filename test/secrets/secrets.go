// Package secrets runs sagas on a deployment of their own, with or without the payload
// codec, and reads back everything Temporal keeps of each (every history event and the
// execution's description), so tests can prove what a history shows in clear.
package secrets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/test/system"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/workers"
	"github.com/sagaflow/sagaflow/workflows"
)

// Sagas is a Temporal client with one keyring's converters and every worker pool on task
// queues of its own, over the system's services: what a deployment with those keys runs.
type Sagas struct {
	Client        client.Client
	DataConverter converter.DataConverter
	Queues        workflows.TaskQueues
}

// Deploy dials the Temporal server at hostPort with keys' converters (the SDK's defaults
// when keys is empty) and runs every worker pool on private queues named after name, until
// the test ends.
func Deploy(t testing.TB, sys *system.System, hostPort string, keys payloadcodec.Config, name string) *Sagas {
	t.Helper()
	dc, err := keys.DataConverter()
	if err != nil {
		t.Fatal(err)
	}
	c, err := temporalclient.Dial(temporalclient.Config{Address: hostPort, Namespace: "default", Config: keys}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	queues := workflows.TaskQueues{
		Sagas:     testtemporal.TaskQueue(t, name+"-sagas"),
		Orders:    testtemporal.TaskQueue(t, name+"-orders"),
		Payments:  testtemporal.TaskQueue(t, name+"-payments"),
		Inventory: testtemporal.TaskQueue(t, name+"-inventory"),
	}
	group, err := workers.New(c, workers.Options{
		Pools: []string{workers.PoolAll}, Queues: queues,
		// Each pool calls as its own identity, as system.Start's pools do.
		Local:       workers.Clients(sys.ClientsAs(workers.PoolIdentity(workers.PoolSagas))),
		Orders:      sys.ClientsAs(workers.PoolIdentity(workers.PoolOrders)).Orders,
		Payments:    sys.ClientsAs(workers.PoolIdentity(workers.PoolPayments)).Payments,
		Inventory:   sys.ClientsAs(workers.PoolIdentity(workers.PoolInventory)).Inventory,
		StopTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := group.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(group.Stop)
	return &Sagas{Client: c, DataConverter: dc, Queues: queues}
}

// Summary is the saga's static summary, as the public API writes it.
func Summary(in workflows.OrderInput) string {
	return fmt.Sprintf("Order %s for customer %s (%d lines)", in.OrderID, in.CustomerID, len(in.Lines))
}

// Start starts a saga the way the public API does: static summary and details naming the
// customer and lines, the request's fingerprint in the memo, and OrderStatus (but no
// CustomerId) as a search attribute.
func (s *Sagas) Start(t testing.TB, in workflows.OrderInput) client.WorkflowRun {
	t.Helper()
	in.TaskQueues = s.Queues
	var details strings.Builder
	fmt.Fprintf(&details, "Customer: %s\n\nLines:\n", in.CustomerID)
	for _, l := range in.Lines {
		fmt.Fprintf(&details, "- %s × %d\n", l.SKU, l.Quantity)
	}
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	fp := sha256.Sum256(body)
	run, err := s.Client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID:                    workflows.WorkflowID(in.OrderID),
		TaskQueue:             s.Queues.Sagas,
		StaticSummary:         Summary(in),
		StaticDetails:         details.String(),
		Memo:                  map[string]any{"request_fingerprint": hex.EncodeToString(fp[:])},
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SearchOrderStatus.ValueSet(string(orderclient.StatusPending))),
	}, workflows.OrderSagaName, in)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// WaitFor polls the saga's status query until cond holds.
func (s *Sagas) WaitFor(t testing.TB, workflowID string, cond func(workflows.SagaStatus) bool) workflows.SagaStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := s.Client.QueryWorkflow(context.Background(), workflowID, "", workflows.QueryStatus)
		if err == nil {
			var st workflows.SagaStatus
			if err := v.Get(&st); err != nil {
				t.Fatal(err)
			}
			if cond(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("saga %s: condition not reached in 30s (last error %v)", workflowID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Record is everything Temporal keeps of one run, raw as the server sends it.
type Record struct {
	Events   []*historypb.HistoryEvent
	Describe *workflowservice.DescribeWorkflowExecutionResponse
	// Raw is every event and the description, protobuf-encoded, one after the other.
	Raw []byte
}

// Read fetches the run's whole history and its description.
func Read(t testing.TB, c client.Client, run client.WorkflowRun) Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var r Record
	iter := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		r.Events = append(r.Events, ev)
		b, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		r.Raw = append(r.Raw, b...)
	}
	desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(desc)
	if err != nil {
		t.Fatal(err)
	}
	r.Describe, r.Raw = desc, append(r.Raw, b...)
	return r
}

// Found lists the strings of want that appear anywhere in the record's raw bytes.
func (r Record) Found(want ...string) []string {
	var found []string
	for _, w := range want {
		if strings.Contains(string(r.Raw), w) {
			found = append(found, w)
		}
	}
	return found
}

// ClearPayloads lists, by field path, the payloads of the record that are not encrypted.
func (r Record) ClearPayloads() []string {
	var out []string
	for i, ev := range r.Events {
		clearPayloads(ev.ProtoReflect(), fmt.Sprintf("event %d (%s)", i+1, ev.GetEventType()), &out)
	}
	clearPayloads(r.Describe.ProtoReflect(), "describe", &out)
	return out
}

func clearPayloads(m protoreflect.Message, path string, out *[]string) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != payloadcodec.Encoding {
			*out = append(*out, path)
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := path + "." + string(fd.Name())
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					clearPayloads(mv.Message(), name+"["+k.String()+"]", out)
					return true
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				for i := range v.List().Len() {
					clearPayloads(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", name, i), out)
				}
			}
		case fd.Message() != nil:
			clearPayloads(v.Message(), name, out)
		}
		return true
	})
}
