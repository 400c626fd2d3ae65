package temporaltls_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
	"github.com/sagaflow/sagaflow/test/testkeys"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/workers"
)

func TestMain(m *testing.M) { testtemporal.Main(m) }

// mtlsConfig is the configuration that connects to srv: its CA and the client certificate.
func mtlsConfig(srv *testtemporal.MTLS) temporalclient.Config {
	return temporalclient.Config{
		Address:             srv.Address,
		Namespace:           "default",
		TLSClientCertPath:   srv.PKI.ClientCert,
		TLSClientKeyPath:    srv.PKI.ClientKey,
		TLSServerCACertPath: srv.PKI.CA,
	}
}

// A failed Dial must say why well within the SDK's own bound, not hang.
const refusalBound = 10 * time.Second

func TestDialRefusals(t *testing.T) {
	srv := testtemporal.MTLSServer(t)
	cases := []struct {
		name   string
		mutate func(*temporalclient.Config)
		// want are words the error must hold: what failed and what to check.
		want []string
		// security: the error is ErrSecurity, which workers do not retry.
		security bool
	}{
		{
			name:     "no client certificate",
			mutate:   func(c *temporalclient.Config) { c.TLSClientCertPath, c.TLSClientKeyPath = "", "" },
			want:     []string{"TLS handshake with Temporal at " + srv.Address + " failed", "refused the client certificate", "TEMPORAL_TLS_CLIENT_CERT_PATH"},
			security: true,
		},
		{
			name: "a client certificate of another CA",
			mutate: func(c *temporalclient.Config) {
				c.TLSClientCertPath, c.TLSClientKeyPath = srv.PKI.OtherClientCert, srv.PKI.OtherClientKey
			},
			want:     []string{"TLS handshake", "refused the client certificate", "TEMPORAL_TLS_CLIENT_CERT_PATH"},
			security: true,
		},
		{
			name:     "a CA that did not sign the server's certificate",
			mutate:   func(c *temporalclient.Config) { c.TLSServerCACertPath = srv.PKI.OtherCA },
			want:     []string{"TLS handshake", "server's certificate is not trusted", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "x509"},
			security: true,
		},
		{
			name:     "a server name the certificate does not carry",
			mutate:   func(c *temporalclient.Config) { c.TLSServerName = "temporal.example.com" },
			want:     []string{"TLS handshake", "not trusted", "TEMPORAL_TLS_SERVER_NAME"},
			security: true,
		},
		{
			name: "no TLS at all",
			mutate: func(c *temporalclient.Config) {
				*c = temporalclient.Config{Address: c.Address, Namespace: c.Namespace}
			},
			want: []string{"TEMPORAL_TLS"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mtlsConfig(srv)
			tc.mutate(&cfg)
			start := time.Now()
			c, err := temporalclient.Dial(cfg, logging.Discard())
			took := time.Since(start)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			t.Logf("after %s: %v", took.Round(time.Millisecond), err)
			if took > refusalBound {
				t.Errorf("Dial took %s to fail, want under %s", took, refusalBound)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q", w)
				}
			}
			if got := errors.Is(err, temporalclient.ErrSecurity); got != tc.security {
				t.Errorf("errors.Is(err, ErrSecurity) = %v, want %v", got, tc.security)
			}
		})
	}
}

// TestWorkflowOverMutualTLS connects with the right certificate and CA, and runs a workflow
// and its activity through a worker over that connection.
func TestWorkflowOverMutualTLS(t *testing.T) {
	srv := testtemporal.MTLSServer(t)
	c, err := temporalclient.Dial(mtlsConfig(srv), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}

	queue := testtemporal.TaskQueue(t, "mtls")
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(greetWorkflow)
	w.RegisterActivity(greet)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: queue, TaskQueue: queue}, greetWorkflow, "mTLS")
	if err != nil {
		t.Fatalf("start the workflow: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if got != "hello over mTLS" {
		t.Fatalf("workflow result %q", got)
	}
}

func greetWorkflow(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, greet, name).Get(ctx, &out)
	return out, err
}

func greet(_ context.Context, name string) (string, error) { return "hello over " + name, nil }

// TestWorkersStopWithoutCertificate: worker pools wait for an unreachable Temporal, but not
// for one that refuses their certificate: Run returns the error instead of retrying.
func TestWorkersStopWithoutCertificate(t *testing.T) {
	srv := testtemporal.MTLSServer(t)
	temporal := mtlsConfig(srv)
	temporal.TLSClientCertPath, temporal.TLSClientKeyPath = "", ""
	key, err := payloadcodec.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	temporal.Config = payloadcodec.Config{Keys: payloadcodec.Secret(key), KeyID: "k1"}
	// A configuration that is whole but for the certificate.
	cfg := workers.Config{
		Config:                          temporal,
		SagasMaxConcurrentWorkflowTasks: 10,
		StopTimeout:                     time.Second,
		ServiceKeys:                     string(testkeys.New(t).Private[auth.IdentitySagaWorker]),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- workers.Run(ctx, cfg, []string{workers.PoolSagas}, logging.Discard()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "refused the client certificate") {
			t.Fatalf("Run = %v, want the refused certificate", err)
		}
	case <-time.After(2 * refusalBound):
		t.Fatal("Run still running: it retries a refused certificate")
	}
}
