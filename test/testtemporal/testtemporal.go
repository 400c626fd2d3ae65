// Package testtemporal gives tests one Temporal dev server per test binary, with the saga's
// search attributes registered. TEST_TEMPORAL_ADDRESS points tests at another server.
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

// Main runs the tests of a package and stops the dev server it may have started.
// Use it as `func TestMain(m *testing.M) { testtemporal.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	if temporal.server != nil {
		if err := temporal.server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testtemporal: stop Temporal:", err)
		}
	}
	os.Exit(code)
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}
