package localinfra

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
)

// TemporalConfig says how to start the Temporal development server (the pinned `temporal`
// CLI built into ./bin).
type TemporalConfig struct {
	Binary    string // path to the temporal CLI
	IP        string // address the frontend binds (default 127.0.0.1)
	Port      int    // frontend gRPC port; 0 picks a free one
	UIPort    int    // Web UI port; 0 runs headless
	DBFile    string // SQLite state file; "" keeps state in memory
	Namespace string // extra namespace to create ("" only the default one)
	// UICodecEndpoint is the codec server the Web UI decodes payloads through ("" none).
	UICodecEndpoint string
	// SearchAttributes to register, name → type (Keyword, Bool, Int, ...).
	SearchAttributes map[string]string
	// DynamicConfig values, key → JSON value.
	DynamicConfig map[string]string
	Stdout        io.Writer
	Stderr        io.Writer
}

// FastDispatch is dynamic config for the single-shard dev server. By default its history
// queues poll at most 20 times a second and task queues have 4 partitions; measured on a
// workflow of five no-op activities that gives p50 550 ms with 2 s stalls when a task lands
// on a partition nobody polls. With these values the same workflow takes p50 50 ms, max 97 ms.
// The CLI also turns on a refresh of the search attribute cache on every read (so attributes
// created at run time are usable at once); every workflow start, upsert and visibility write
// then reads the store under one lock. Ours are all registered at start, so the cache's
// normal refresh (every minute) is enough: measured, five upserts cost the server 28 ms of
// CPU with the refresh and 5 ms without.
// Tests, `make run` and the benchmark use the same values.
func FastDispatch() map[string]string {
	return map[string]string{
		"history.transferProcessorMaxPollRPS":            "10000",
		"history.timerProcessorMaxPollRPS":               "10000",
		"matching.numTaskqueueReadPartitions":            "1",
		"matching.numTaskqueueWritePartitions":           "1",
		"system.forceSearchAttributesCacheRefreshOnRead": "false",
	}
}

// FileStatePragmas are the SQLite settings of a state file. SQLite's defaults (a rollback
// journal, a full sync per commit) make every Temporal write wait on the disk: measured with
// a workflow of five no-op activities, p50 205 ms one at a time and under 5 workflows a
// second. A write-ahead log synced at checkpoints survives a crash of the server process,
// which is what a state file is for here (only a crash of the machine may lose the last
// commits), and runs the same workflow at p50 66 ms, close to the in-memory store.
func FileStatePragmas() []string {
	return []string{"journal_mode=WAL", "synchronous=NORMAL"}
}

// TemporalServer is a running dev server this process started.
type TemporalServer struct {
	cmd      *exec.Cmd
	done     chan error
	name     string // in errors: "temporal dev server", "temporal server"
	HostPort string
	UIURL    string
	// Log is the file the server writes its output to ("" when the caller took it).
	Log string
}

// FindBinary returns $TEMPORAL_CLI, or bin/temporal in the nearest folder above the
// working directory that holds go.mod.
func FindBinary() (string, error) {
	return findRepoBinary("TEMPORAL_CLI", "temporal", "temporal CLI")
}

// findRepoBinary returns $envVar, or bin/NAME in the nearest folder above the working
// directory that holds go.mod (`make bin/NAME` builds it).
func findRepoBinary(envVar, name, what string) (string, error) {
	if p := os.Getenv(envVar); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "bin", name)
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("%s not found at %s: run `make bin/%s`", what, p, name)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found: set %s or run from the repository", what, envVar)
		}
		dir = parent
	}
}

// temporalArgs returns the CLI arguments for cfg (with ports already chosen).
func temporalArgs(cfg TemporalConfig) []string {
	args := []string{"server", "start-dev", "--ip", cfg.IP, "--port", strconv.Itoa(cfg.Port), "--log-level", "warn"}
	if cfg.UIPort > 0 {
		args = append(args, "--ui-port", strconv.Itoa(cfg.UIPort))
		if cfg.UICodecEndpoint != "" {
			args = append(args, "--ui-codec-endpoint", cfg.UICodecEndpoint)
		}
	} else {
		args = append(args, "--headless")
	}
	if cfg.DBFile != "" {
		args = append(args, "--db-filename", cfg.DBFile)
		for _, p := range FileStatePragmas() {
			args = append(args, "--sqlite-pragma", p)
		}
	}
	if cfg.Namespace != "" && cfg.Namespace != "default" {
		args = append(args, "--namespace", cfg.Namespace)
	}
	for _, k := range sortedKeys(cfg.SearchAttributes) {
		args = append(args, "--search-attribute", k+"="+cfg.SearchAttributes[k])
	}
	for _, k := range sortedKeys(cfg.DynamicConfig) {
		args = append(args, "--dynamic-config-value", k+"="+cfg.DynamicConfig[k])
	}
	return args
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// StartTemporal launches the server and waits until its frontend answers health checks.
func StartTemporal(ctx context.Context, cfg TemporalConfig) (*TemporalServer, error) {
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	if cfg.Port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		cfg.Port = p
	}
	if cfg.DBFile != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.DBFile), 0o755); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(cfg.Binary, temporalArgs(cfg)...)
	cmd.Stdout, cmd.Stderr = cfg.Stdout, cfg.Stderr
	// Own process group, so a Ctrl-C aimed at our terminal reaches us first and we stop it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start temporal dev server: %w", err)
	}
	s := &TemporalServer{cmd: cmd, done: make(chan error, 1), name: "temporal dev server", HostPort: net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port))}
	if cfg.UIPort > 0 {
		s.UIURL = fmt.Sprintf("http://%s", net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.UIPort)))
	}
	go func() { s.done <- cmd.Wait() }()
	if err := s.waitHealthy(ctx, 60*time.Second, client.ConnectionOptions{}); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// waitHealthy dials the frontend with conn until it answers health checks.
func (s *TemporalServer) waitHealthy(ctx context.Context, limit time.Duration, conn client.ConnectionOptions) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case err := <-s.done:
			s.done <- err
			if err == nil {
				return fmt.Errorf("%s exited during start", s.name)
			}
			return fmt.Errorf("%s exited during start: %w", s.name, err)
		default:
		}
		c, err := client.Dial(client.Options{HostPort: s.HostPort, Logger: quietLogger{}, ConnectionOptions: conn})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s at %s not healthy after %s: %w", s.name, s.HostPort, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// PID is the server's process id.
func (s *TemporalServer) PID() int { return s.cmd.Process.Pid }

// Stop ends the server: SIGTERM, then SIGKILL if it has not exited within 10 s.
func (s *TemporalServer) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		return nil
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		err := <-s.done
		s.done <- err
		return nil
	}
}

// Kill ends the server at once with SIGKILL, as a crash would.
func (s *TemporalServer) Kill() {
	_ = s.cmd.Process.Kill()
	err := <-s.done
	s.done <- err
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}
