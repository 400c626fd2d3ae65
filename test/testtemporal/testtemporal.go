// Package testtemporal gives tests one Temporal dev server per test binary, with the saga's
// search attributes registered. TEST_TEMPORAL_ADDRESS points tests at another server.
// Tests of the connection's security get a real Temporal server that requires mutual TLS
// (MTLSServer), also one per test binary.
package testtemporal

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/tools/localinfra"
	"github.com/sagaflow/sagaflow/workflows"
)

var temporal struct {
	once   sync.Once
	server *localinfra.TemporalServer
	addr   string
	err    error
}

// TemporalAddress returns the address of a Temporal server for this test binary: the
// one in TEST_TEMPORAL_ADDRESS, or a dev server started once and stopped by Main.
func TemporalAddress(t testing.TB) string {
	t.Helper()
	if v := os.Getenv("TEST_TEMPORAL_ADDRESS"); v != "" {
		return v
	}
	temporal.once.Do(func() {
		bin, err := localinfra.FindBinary()
		if err != nil {
			temporal.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		temporal.server, temporal.err = localinfra.StartTemporal(ctx, localinfra.TemporalConfig{
			Binary:           bin,
			SearchAttributes: workflows.SearchAttributeTypes(),
			DynamicConfig:    localinfra.FastDispatch(),
		})
		if temporal.err == nil {
			temporal.addr = temporal.server.HostPort
		}
	})
	if temporal.err != nil {
		t.Fatalf("testtemporal: Temporal dev server: %v", temporal.err)
	}
	return temporal.addr
}

// TemporalClient dials the test Temporal server; the client closes when the test ends.
func TemporalClient(t testing.TB) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: TemporalAddress(t), Logger: quietLogger{}})
	if err != nil {
		t.Fatalf("testtemporal: dial Temporal: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// TaskQueue returns a task queue name private to this test.
func TaskQueue(t testing.TB, base string) string {
	return base + "-" + strings.ReplaceAll(t.Name(), "/", "_") + "-" + testenv.Suffix()
}

// MTLS is a running Temporal server whose frontend requires mutual TLS, with the
// certificates it trusts.
type MTLS struct {
	Address string              // the frontend, 127.0.0.1:PORT
	PKI     *localinfra.TestPKI // its server certificate, and a client certificate it accepts
	Log     string              // the server's log file
}

var mtls struct {
	once   sync.Once
	dir    string
	server *localinfra.TemporalServer
	env    *MTLS
	err    error
}

// MTLSServer returns the mutual-TLS Temporal server of this test binary (namespace
// "default"), started once and stopped by Main. When the calling test fails, the last
// lines of the server's log are logged.
func MTLSServer(t testing.TB) *MTLS {
	t.Helper()
	mtls.once.Do(func() {
		mtls.err = startMTLS()
	})
	if mtls.err != nil {
		t.Fatalf("testtemporal: Temporal server with mutual TLS: %v", mtls.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of the Temporal server's log %s:\n%s", mtls.env.Log, localinfra.LogTail(mtls.env.Log, 40))
		}
	})
	return mtls.env
}

func startMTLS() error {
	bin, err := localinfra.FindServerBinary()
	if err != nil {
		return err
	}
	if mtls.dir, err = os.MkdirTemp("", "sagaflow-temporal-mtls-"); err != nil {
		return err
	}
	pki, err := localinfra.NewTestPKI(mtls.dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	mtls.server, err = localinfra.StartMTLSTemporal(ctx, localinfra.MTLSTemporalConfig{
		Binary:        bin,
		Dir:           mtls.dir,
		ServerCert:    pki.ServerCert,
		ServerKey:     pki.ServerKey,
		ClientCAs:     []string{pki.CA},
		ClientCert:    pki.ClientCert,
		ClientKey:     pki.ClientKey,
		ServerCA:      pki.CA,
		DynamicConfig: localinfra.FastDispatch(),
	})
	if err != nil {
		return err
	}
	mtls.env = &MTLS{Address: mtls.server.HostPort, PKI: pki, Log: mtls.server.Log}
	return nil
}

// Main runs the tests of a package and stops the servers it may have started. Use it as
// `func TestMain(m *testing.M) { testtemporal.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	if temporal.server != nil {
		if err := temporal.server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testtemporal: stop Temporal:", err)
		}
	}
	if mtls.server != nil {
		if err := mtls.server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testtemporal: stop the mutual-TLS Temporal server:", err)
		}
	}
	if mtls.dir != "" {
		if code != 0 {
			// Kept for a look at the server's log and configuration.
			fmt.Fprintln(os.Stderr, "testtemporal: the mutual-TLS Temporal server's files are in", mtls.dir)
		} else if err := os.RemoveAll(mtls.dir); err != nil {
			fmt.Fprintln(os.Stderr, "testtemporal:", err)
		}
	}
	os.Exit(code)
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}
