// Package stack runs the whole system as separate processes of the real binary: the
// Temporal dev server with a state file, the three services, each worker pool and the API,
// each with its own port, fresh databases, log file and, as in production, its own
// service key. The public API trusts an access-token issuer served in this process, whose
// tokens Tokens mints for the stack's callers. The fault suite and the benchmark use it to
// kill, restart and measure components one by one. It stops only the processes it
// started, by PID.
package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
	"github.com/sagaflow/sagaflow/tools/devauth"
	"github.com/sagaflow/sagaflow/tools/localinfra"
	"github.com/sagaflow/sagaflow/workers"
	"github.com/sagaflow/sagaflow/workflows"
)

// Component names.
const (
	Order           = "order"
	Payment         = "payment"
	Inventory       = "inventory"
	API             = "api"
	WorkerSagas     = "worker-sagas"
	WorkerOrders    = "worker-orders"
	WorkerPayments  = "worker-payments"
	WorkerInventory = "worker-inventory"
)

// Components lists every component in start order.
func Components() []string {
	return []string{Order, Payment, Inventory, WorkerSagas, WorkerOrders, WorkerPayments, WorkerInventory, API}
}

// Options configure a stack.
type Options struct {
	Binary           string // the built sagaflow binary
	TemporalBinary   string
	StateDir         string // logs and Temporal's state file go here
	AdminDatabaseURL string // server-level DSN; the stack creates and drops its own databases
	// ServiceAdminDatabaseURL puts a service's database on another server (service name →
	// server-level DSN), e.g. a private cluster a test may stop without touching the others.
	ServiceAdminDatabaseURL map[string]string
	RedisURL                string
	// Env is added to every component's environment; ComponentEnv to one component's.
	Env          map[string]string
	ComponentEnv map[string]map[string]string
	// ServiceURLOverride lets a caller put something (e.g. a fault-injecting proxy) between
	// the workers and a service: component name → URL the workers and API use instead.
	ServiceURLOverride map[string]string
	// ServiceURLWrap, when set, is called once per service with the service's own URL
	// (known only once the stack picked its ports) and returns the URL the workers and API
	// use instead, e.g. that of a proxy started in front of it.
	ServiceURLWrap func(component, serviceURL string) (string, error)
}

// Stack is a running system.
type Stack struct {
	opts     Options
	temporal *localinfra.TemporalServer
	tport    int
	dbNames  []string
	dbAdmin  map[string]string // database name → server-level DSN it lives on
	dsns     map[string]string
	ports    map[string]int
	procs    map[string]*Proc
	TempAddr string
	// PayloadKeys are the keys every process of the stack encrypts saga payloads with: a
	// client reading the sagas needs them too.
	PayloadKeys payloadcodec.Config
	APIURL      string
	OrderURL    string
	PayURL      string
	InvURL      string
	healthURL   map[string]string

	// Keys are the stack's service keys: each component signs with its identity's, and the
	// services trust them all.
	Keys devauth.ServiceKeys
	// Tokens mints the public API's access tokens (customers, operators).
	Tokens    *devauth.Tokens
	issuer    *devauth.Issuer
	issuerSrv *http.Server
	admin     *auth.Signer
	adminHTTP *http.Client
}

// Proc is one component process.
type Proc struct {
	Name string
	args []string
	env  []string
	log  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	// waitErr is how the last run ended (cmd.Wait's error), set before done is closed.
	waitErr error
}

// Start brings the whole system up and waits until every component is ready.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, err
	}
	s := &Stack{opts: opts, dsns: map[string]string{}, dbAdmin: map[string]string{}, ports: map[string]int{}, procs: map[string]*Proc{}, healthURL: map[string]string{}}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	run := strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 36)
	for _, svc := range []string{Order, Payment, Inventory} {
		name := "sagaflow_stack_" + run + "_" + svc
		admin := opts.AdminDatabaseURL
		if u, ok := opts.ServiceAdminDatabaseURL[svc]; ok {
			admin = u
		}
		dsn, err := localinfra.CreateDatabase(ctx, admin, name)
		if err != nil {
			return nil, err
		}
		s.dbNames = append(s.dbNames, name)
		s.dbAdmin[name] = admin
		s.dsns[svc] = dsn
	}
	var err error
	if err := s.startIssuer(); err != nil {
		return nil, err
	}
	if s.Keys, err = devauth.NewServiceKeys(); err != nil {
		return nil, err
	}
	if s.admin, err = auth.NewSigner(s.Keys.Private[auth.IdentityAdmin]); err != nil {
		return nil, err
	}
	s.adminHTTP = svcclient.NewHTTPClient()
	if s.tport, err = localinfra.FreePort(); err != nil {
		return nil, err
	}
	if err := s.startTemporal(ctx); err != nil {
		return nil, err
	}
	ports, err := localinfra.FreePorts(len(Components()))
	if err != nil {
		return nil, err
	}
	for i, c := range Components() {
		s.ports[c] = ports[i]
	}
	local := func(c string) string { return "http://127.0.0.1:" + strconv.Itoa(s.ports[c]) }
	s.OrderURL, s.PayURL, s.InvURL, s.APIURL = local(Order), local(Payment), local(Inventory), local(API)
	wrapped := map[string]string{}
	for _, c := range []string{Order, Payment, Inventory} {
		if u, ok := opts.ServiceURLOverride[c]; ok {
			wrapped[c] = u
		} else if opts.ServiceURLWrap != nil {
			u, err := opts.ServiceURLWrap(c, local(c))
			if err != nil {
				return nil, err
			}
			wrapped[c] = u
		} else {
			wrapped[c] = local(c)
		}
	}
	serviceURL := func(c string) string { return wrapped[c] }
	// Every process encrypts saga payloads with the stack's key, as a deployment does.
	key, err := payloadcodec.GenerateKey("stack")
	if err != nil {
		return nil, err
	}
	s.PayloadKeys = payloadcodec.Config{Keys: payloadcodec.Secret(key), KeyID: "stack"}
	common := map[string]string{
		"TEMPORAL_PAYLOAD_KEYS":   key,
		"TEMPORAL_PAYLOAD_KEY_ID": "stack",
		"TEMPORAL_ADDRESS":        s.TempAddr,
		"REDIS_URL":               opts.RedisURL,
		"SHUTDOWN_DRAIN_DELAY":    "0s",
		"LOG_LEVEL":               "info",
	}
	for _, c := range Components() {
		env := map[string]string{}
		for k, v := range common {
			env[k] = v
		}
		var args []string
		addr := "127.0.0.1:" + strconv.Itoa(s.ports[c])
		switch c {
		case Order, Payment, Inventory:
			prefix := map[string]string{Order: "ORDER", Payment: "PAYMENT", Inventory: "INVENTORY"}[c]
			env[prefix+"_HTTP_ADDR"] = addr
			env[prefix+"_DATABASE_URL"] = s.dsns[c]
			env["SERVICE_AUTH_TRUSTED_KEYS"] = string(s.Keys.Trusted)
			args = []string{"service", c}
			s.healthURL[c] = local(c) + "/readyz"
		case API:
			env["API_HTTP_ADDR"] = addr
			env["ORDER_SERVICE_URL"] = serviceURL(Order)
			env["INVENTORY_SERVICE_URL"] = serviceURL(Inventory)
			env["API_SERVICE_KEY"] = string(s.Keys.Private[auth.IdentityAPI])
			env["AUTH_ISSUER"] = s.issuer.URL
			env["AUTH_AUDIENCE"] = s.issuer.Audience
			env["AUTH_JWKS_URL"] = s.issuer.URL + devauth.JWKSPath
			args = []string{"api"}
			s.healthURL[c] = local(c) + "/readyz"
		default:
			pool := c[len("worker-"):]
			env["WORKER_HEALTH_ADDR"] = addr
			env["ORDER_SERVICE_URL"] = serviceURL(Order)
			env["PAYMENT_SERVICE_URL"] = serviceURL(Payment)
			env["INVENTORY_SERVICE_URL"] = serviceURL(Inventory)
			// Only its own pool's key, as a container of that pool gets.
			env["WORKER_SERVICE_KEYS"] = string(s.Keys.Private[workers.PoolIdentity(pool)])
			args = []string{"worker", "--pool", pool}
			s.healthURL[c] = local(c) + "/readyz"
		}
		for k, v := range opts.Env {
			env[k] = v
		}
		for k, v := range opts.ComponentEnv[c] {
			env[k] = v
		}
		p := &Proc{Name: c, args: args, env: environ(env), log: filepath.Join(opts.StateDir, c+".log")}
		s.procs[c] = p
		if err := p.Start(opts.Binary); err != nil {
			return nil, err
		}
	}
	for _, c := range Components() {
		if err := s.WaitReady(ctx, c, 60*time.Second); err != nil {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

// startIssuer serves an access-token issuer on a loopback port of this process: the one
// the stack's API trusts.
func (s *Stack) startIssuer() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	issuer, err := devauth.NewIssuer("http://"+ln.Addr().String(), devauth.DefaultAudience)
	if err != nil {
		_ = ln.Close() // the issuer's error is the one to report
		return err
	}
	s.issuer, s.Tokens = issuer, devauth.NewTokens(issuer)
	s.issuerSrv = &http.Server{Handler: issuer.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.issuerSrv.Serve(ln) }() // ends with ErrServerClosed at Stop
	return nil
}

// AdminHTTP returns an HTTP client that calls the service named service as admin, the
// identity of operators' tools: they keep the catalog and read everything for the audit.
func (s *Stack) AdminHTTP(service string) *http.Client {
	return s.admin.Client(s.adminHTTP, service)
}

// environ is this process's environment with extra on top, less the Temporal connection's
// security variables: the stack's dev server speaks plaintext.
func environ(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(temporalclient.SecurityVariables(), name) {
			env = append(env, kv)
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	return env
}

func (s *Stack) startTemporal(ctx context.Context) error {
	log, err := os.OpenFile(filepath.Join(s.opts.StateDir, "temporal.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	srv, err := localinfra.StartTemporal(ctx, localinfra.TemporalConfig{
		Binary:           s.opts.TemporalBinary,
		Port:             s.tport,
		DBFile:           filepath.Join(s.opts.StateDir, "temporal.db"),
		SearchAttributes: workflows.SearchAttributeTypes(),
		DynamicConfig:    localinfra.FastDispatch(),
		Stdout:           log,
		Stderr:           log,
	})
	if err != nil {
		_ = log.Close() // the start's error is the one to report
		return err
	}
	s.temporal = srv
	s.TempAddr = srv.HostPort
	return nil
}

// Temporal returns the running dev server.
func (s *Stack) Temporal() *localinfra.TemporalServer { return s.temporal }

// KillTemporal ends the dev server with SIGKILL, as a crash would.
func (s *Stack) KillTemporal() { s.temporal.Kill() }

// RestartTemporal starts the dev server again on the same port and state file.
func (s *Stack) RestartTemporal(ctx context.Context) error { return s.startTemporal(ctx) }

// Proc returns a component's process.
func (s *Stack) Proc(name string) *Proc { return s.procs[name] }

// DatabaseURL returns a service's database DSN.
func (s *Stack) DatabaseURL(service string) string { return s.dsns[service] }

// PIDs returns the PID of every running component.
func (s *Stack) PIDs() map[string]int {
	out := map[string]int{}
	for name, p := range s.procs {
		if pid := p.PID(); pid > 0 {
			out[name] = pid
		}
	}
	if s.temporal != nil {
		out["temporal"] = s.temporal.PID()
	}
	return out
}

// WaitReady waits until a component's /readyz answers 200.
func (s *Stack) WaitReady(ctx context.Context, name string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(s.healthURL[name])
		if err == nil {
			_ = resp.Body.Close() // only the status is read
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p := s.procs[name]; p != nil && p.Exited() {
			return fmt.Errorf("%s exited during start (%s); see %s", name, p.exitStatus(), p.log)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s; see %s", name, limit, s.procs[name].log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Restart starts a stopped or killed component again and waits until it is ready.
func (s *Stack) Restart(ctx context.Context, name string) error {
	if err := s.procs[name].Start(s.opts.Binary); err != nil {
		return err
	}
	return s.WaitReady(ctx, name, 60*time.Second)
}

// Stop stops every component (SIGTERM, then SIGKILL), the dev server, and drops the databases.
func (s *Stack) Stop() {
	comps := Components()
	for i := len(comps) - 1; i >= 0; i-- {
		if p := s.procs[comps[i]]; p != nil {
			p.Stop(10 * time.Second)
		}
	}
	if s.temporal != nil {
		_ = s.temporal.Stop()
	}
	if s.issuerSrv != nil {
		_ = s.issuerSrv.Close() // nothing is left to call it
	}
	for _, name := range s.dbNames {
		_ = localinfra.DropDatabase(context.Background(), s.dbAdmin[name], name)
	}
}

// Start runs the process; it must not be running.
func (p *Proc) Start(binary string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !closed(p.done) {
		return fmt.Errorf("%s is already running", p.Name)
	}
	log, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(binary, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = log.Close() // the start's error is the one to report
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		// The process wrote the log through its own descriptor; this one has nothing to flush.
		_ = log.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// exitStatus says how the process ended, once Exited reports it has.
func (p *Proc) exitStatus() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waitErr == nil {
		return "exit status 0"
	}
	return p.waitErr.Error()
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// PID is the process id, or 0 when it is not running.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || closed(p.done) {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && closed(p.done)
}

// Kill ends the process at once with SIGKILL and waits for it.
func (p *Proc) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || closed(done) {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Stop sends SIGTERM and waits up to grace before SIGKILL.
func (p *Proc) Stop(grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || closed(done) {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// LogPath is where the process writes its output.
func (p *Proc) LogPath() string { return p.log }

// Build compiles the sagaflow binary into dir and returns its path. moduleRoot is the
// repository root (the folder holding go.mod).
func Build(ctx context.Context, moduleRoot, dir string) (string, error) {
	out := filepath.Join(dir, "sagaflow")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/sagaflow")
	cmd.Dir = moduleRoot
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, msg)
	}
	return out, nil
}

// ModuleRoot returns the nearest folder above the working directory that holds go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
