package localinfra

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// FindServerBinary returns $TEMPORAL_SERVER, or bin/temporal-server in the nearest folder
// above the working directory that holds go.mod.
func FindServerBinary() (string, error) {
	return findRepoBinary("TEMPORAL_SERVER", "temporal-server", "Temporal server")
}

// MTLSTemporalConfig says how to start the real Temporal server (not the CLI's dev server,
// which has no TLS) with a frontend that requires mutual TLS. Its state is in memory
// (SQLite); the services talk to each other in the clear, on 127.0.0.1 only.
type MTLSTemporalConfig struct {
	Binary string // the Temporal server (FindServerBinary)
	Dir    string // its configuration and log go here
	// Namespace is registered at start ("" registers "default").
	Namespace string
	// ServerCert and ServerKey are the frontend's certificate (PEM files); ClientCAs are
	// the CAs whose client certificates it accepts.
	ServerCert, ServerKey string
	ClientCAs             []string
	// ClientCert and ClientKey are a client certificate the frontend accepts, and ServerCA
	// the CA of its certificate: the server's own system worker connects with them, and
	// so does the start, to check health and register the namespace.
	ClientCert, ClientKey, ServerCA string
	// DynamicConfig values, key → JSON value, as TemporalConfig's.
	DynamicConfig map[string]string
}

// temporalServerPorts are the ports of one server: each service's gRPC and membership
// ports (the frontend's gRPC port is the one clients use).
type temporalServerPorts struct {
	Frontend, FrontendMembership int
	History, HistoryMembership   int
	Matching, MatchingMembership int
	Worker, WorkerMembership     int
}

// serverConfigTemplate is the server's configuration (go.temporal.io/server/common/config),
// shaped after the server's own development-sqlite.yaml. Every value goes through json:
// a JSON string or number is a YAML scalar too.
var serverConfigTemplate = template.Must(template.New("config").Funcs(template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}).Parse(`log:
  stdout: true
  level: info
persistence:
  defaultStore: sqlite-default
  visibilityStore: sqlite-visibility
  numHistoryShards: 1
  datastores:
{{- range $store := .Stores}}
    {{$store}}:
      sql:
        pluginName: sqlite
        databaseName: temporal
        connectAddr: localhost
        connectProtocol: tcp
        connectAttributes:
          mode: memory
          cache: private
        maxConns: 1
        maxIdleConns: 1
        maxConnLifetime: 1h
{{- end}}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
  tls:
    frontend:
      server:
        certFile: {{json .Cfg.ServerCert}}
        keyFile: {{json .Cfg.ServerKey}}
        requireClientAuth: true
        clientCaFiles: {{json .Cfg.ClientCAs}}
      client:
        serverName: localhost
        rootCaFiles: [{{json .Cfg.ServerCA}}]
    systemWorker:
      certFile: {{json .Cfg.ClientCert}}
      keyFile: {{json .Cfg.ClientKey}}
      client:
        serverName: localhost
        rootCaFiles: [{{json .Cfg.ServerCA}}]
services:
  frontend:
    rpc: {grpcPort: {{.Ports.Frontend}}, membershipPort: {{.Ports.FrontendMembership}}, bindOnIP: 127.0.0.1}
  history:
    rpc: {grpcPort: {{.Ports.History}}, membershipPort: {{.Ports.HistoryMembership}}, bindOnIP: 127.0.0.1}
  matching:
    rpc: {grpcPort: {{.Ports.Matching}}, membershipPort: {{.Ports.MatchingMembership}}, bindOnIP: 127.0.0.1}
  worker:
    rpc: {grpcPort: {{.Ports.Worker}}, membershipPort: {{.Ports.WorkerMembership}}, bindOnIP: 127.0.0.1}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: {{json .FrontendAddress}}
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: {{json .DynamicConfigFile}}
  pollInterval: 10s
`))

// writeServerConfig writes the server's configuration as DIR/config/development.yaml
// (what `--root DIR --config config --env development` reads) and its dynamic config.
func writeServerConfig(cfg MTLSTemporalConfig, ports temporalServerPorts) error {
	configDir := filepath.Join(cfg.Dir, "config")
	if err := os.MkdirAll(configDir, 0o755); err != nil {
		return err
	}
	var dyn strings.Builder
	for _, k := range sortedKeys(cfg.DynamicConfig) {
		fmt.Fprintf(&dyn, "%s:\n  - value: %s\n", k, cfg.DynamicConfig[k])
	}
	dynamicConfigFile := filepath.Join(configDir, "dynamicconfig.yaml")
	if err := os.WriteFile(dynamicConfigFile, []byte(dyn.String()), 0o644); err != nil {
		return err
	}
	var out bytes.Buffer
	err := serverConfigTemplate.Execute(&out, map[string]any{
		"Cfg":               cfg,
		"Ports":             ports,
		"Stores":            []string{"sqlite-default", "sqlite-visibility"},
		"FrontendAddress":   net.JoinHostPort("127.0.0.1", strconv.Itoa(ports.Frontend)),
		"DynamicConfigFile": dynamicConfigFile,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(configDir, "development.yaml"), out.Bytes(), 0o644)
}

// StartMTLSTemporal launches the server, waits until its frontend answers health checks
// over mutual TLS and registers the namespace. Its output goes to DIR/temporal-server.log;
// a failed start's error ends with the log's last lines.
func StartMTLSTemporal(ctx context.Context, cfg MTLSTemporalConfig) (*TemporalServer, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	free, err := FreePorts(8)
	if err != nil {
		return nil, err
	}
	ports := temporalServerPorts{free[0], free[1], free[2], free[3], free[4], free[5], free[6], free[7]}
	if err := writeServerConfig(cfg, ports); err != nil {
		return nil, fmt.Errorf("temporal server configuration: %w", err)
	}
	conn, err := clientTLS(cfg)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(cfg.Dir, "temporal-server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logFile.Close() }() // the child has its own descriptor
	cmd := exec.Command(cfg.Binary, "--root", cfg.Dir, "--config", "config", "--env", "development",
		"--allow-no-auth", "start")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s := &TemporalServer{cmd: cmd, done: make(chan error, 1), name: "temporal server",
		HostPort: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports.Frontend)), Log: logPath}
	go func() { s.done <- cmd.Wait() }()
	err = s.waitHealthy(ctx, 60*time.Second, conn)
	if err == nil {
		err = registerNamespace(ctx, s.HostPort, conn, cfg.Namespace)
	}
	if err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("%w\nlast lines of %s:\n%s", err, logPath, LogTail(logPath, 30))
	}
	return s, nil
}

// clientTLS is the connection of the start's own checks: the client certificate, and the
// server's certificate verified against ServerCA.
func clientTLS(cfg MTLSTemporalConfig) (client.ConnectionOptions, error) {
	cert, err := tls.LoadX509KeyPair(cfg.ClientCert, cfg.ClientKey)
	if err != nil {
		return client.ConnectionOptions{}, fmt.Errorf("temporal server client certificate: %w", err)
	}
	pem, err := os.ReadFile(cfg.ServerCA)
	if err != nil {
		return client.ConnectionOptions{}, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return client.ConnectionOptions{}, fmt.Errorf("%s holds no PEM certificate", cfg.ServerCA)
	}
	return client.ConnectionOptions{TLS: &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
	}}, nil
}

// registerNamespace registers the namespace and waits until the server serves it.
func registerNamespace(ctx context.Context, hostPort string, conn client.ConnectionOptions, namespace string) error {
	nc, err := client.NewNamespaceClient(client.Options{HostPort: hostPort, Logger: quietLogger{}, ConnectionOptions: conn})
	if err != nil {
		return err
	}
	defer nc.Close()
	err = nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        namespace,
		WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", namespace, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := nc.Describe(ctx, namespace)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s not served: %w", namespace, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// LogTail returns the last n lines of the file at path, or why it cannot. A line is cut at
// 500 bytes: the server's error lines carry whole stack traces.
func LogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	for i, line := range lines {
		if len(line) > 500 {
			lines[i] = line[:500] + " [cut]"
		}
	}
	return strings.Join(lines, "\n")
}
