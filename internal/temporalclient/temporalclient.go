// Package temporalclient dials Temporal the same way in every sagaflow process: structured
// logs through slog, the request id propagated into workflows and activities, and the
// connection secured as the environment says (TLS, mutual TLS, API key).
package temporalclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/internal/correlation"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
)

// Config says where Temporal is and how to connect to it. Embed it in a component's Config
// to read it from the environment; the variables are the ones Temporal's own tools read.
type Config struct {
	Address   string `envconfig:"TEMPORAL_ADDRESS" default:"127.0.0.1:7233"`
	Namespace string `envconfig:"TEMPORAL_NAMESPACE" default:"default"`

	// TLS turns TLS on with no client certificate: the server's certificate is verified
	// against the system's roots (or TLSServerCACertPath).
	TLS bool `envconfig:"TEMPORAL_TLS" default:"false"`
	// TLSClientCertPath and TLSClientKeyPath are the client certificate and key of mutual
	// TLS (PEM), set together. They are re-read when they change.
	TLSClientCertPath string `envconfig:"TEMPORAL_TLS_CLIENT_CERT_PATH"`
	TLSClientKeyPath  string `envconfig:"TEMPORAL_TLS_CLIENT_KEY_PATH"`
	// TLSServerCACertPath is the CA (PEM) the server's certificate must chain to, instead
	// of the system's roots. Read once at start.
	TLSServerCACertPath string `envconfig:"TEMPORAL_TLS_SERVER_CA_CERT_PATH"`
	// TLSServerName is the name the server's certificate must carry, when it is not the
	// host of Address.
	TLSServerName string `envconfig:"TEMPORAL_TLS_SERVER_NAME"`
	// TLSDisableHostVerification skips verifying the server's certificate altogether (its
	// chain and its name), as Temporal's own tools do. For local use only: anyone between
	// us and the server can then read and change the traffic.
	TLSDisableHostVerification bool `envconfig:"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION" default:"false"`
	// APIKey is sent as "Authorization: Bearer KEY" on every call (Temporal Cloud API
	// keys). It turns TLS on.
	APIKey string `envconfig:"TEMPORAL_API_KEY"`

	// The payload keys (TEMPORAL_PAYLOAD_KEYS, TEMPORAL_PAYLOAD_KEY_ID): every payload a
	// client writes is encrypted, so histories hold no token, customer or line in clear.
	payloadcodec.Config
}

// EncryptionRequired refuses a configuration without payload keys: components outside
// local use must not write sagas in clear.
func (c Config) EncryptionRequired() error {
	if !c.Enabled() {
		return errors.New("TEMPORAL_PAYLOAD_KEYS must hold the payload encryption keys (generate one with `sagaflow keys payload`)")
	}
	return nil
}

// SecurityVariables names the variables of the connection's security. A tool that runs
// components against a local server of its own (plaintext) drops them from the environment
// it passes on, so an operator's Temporal Cloud settings do not break the local run.
func SecurityVariables() []string {
	return []string{
		"TEMPORAL_TLS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH",
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_NAME",
		"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "TEMPORAL_API_KEY",
	}
}

// TLSEnabled reports whether the connection uses TLS: TEMPORAL_TLS, or any TLS setting or
// an API key (a key must not cross the network in the clear), as Temporal's tools do.
func (c Config) TLSEnabled() bool {
	return c.TLS || c.TLSClientCertPath != "" || c.TLSClientKeyPath != "" || c.TLSServerCACertPath != "" ||
		c.TLSServerName != "" || c.TLSDisableHostVerification || c.APIKey != ""
}

// Validate names the first variable whose value cannot work. It reads no file: Options
// does, and names the variable of a file it cannot use.
func (c Config) Validate() error {
	switch {
	case strings.TrimSpace(c.Address) == "":
		return errors.New("TEMPORAL_ADDRESS must not be empty")
	case strings.TrimSpace(c.Namespace) == "":
		return errors.New("TEMPORAL_NAMESPACE must not be empty")
	case (c.TLSClientCertPath == "") != (c.TLSClientKeyPath == ""):
		return errors.New("TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must be set together")
	case strings.ContainsFunc(c.APIKey, isSpaceOrControl):
		// A key pasted with its trailing newline would make every call fail with an
		// unreadable gRPC metadata error.
		return errors.New("TEMPORAL_API_KEY must not contain spaces or control characters")
	case strings.ContainsFunc(c.TLSServerName, isSpaceOrControl):
		return errors.New("TEMPORAL_TLS_SERVER_NAME must not contain spaces or control characters")
	}
	return c.Config.Validate()
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// Options returns the client options every sagaflow process uses. It reads the TLS files:
// an error names the variable of the file it could not use.
func Options(cfg Config, logger *slog.Logger) (client.Options, error) {
	tlsConfig, err := newTLSConfig(cfg, logger)
	if err != nil {
		return client.Options{}, err
	}
	dc, err := cfg.DataConverter()
	if err != nil {
		return client.Options{}, err
	}
	fc, err := cfg.FailureConverter()
	if err != nil {
		return client.Options{}, err
	}
	opts := client.Options{
		HostPort:           cfg.Address,
		Namespace:          cfg.Namespace,
		Logger:             tlog.NewStructuredLogger(logger),
		ContextPropagators: []workflow.ContextPropagator{correlation.NewPropagator()},
		// Set here, the one place every client and worker takes its options from, so no
		// process can write a payload the others cannot read.
		DataConverter:    dc,
		FailureConverter: fc,
		ConnectionOptions: client.ConnectionOptions{
			TLS: tlsConfig,
			// The SDK gzips every request by default (and the server its answers). Our
			// messages are a few kilobytes at most; compressing them cost a quarter of a
			// worker's CPU time per workflow for no gain worth having.
			GrpcCompression: &client.GrpcCompressionNone{},
		},
	}
	if cfg.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.APIKey)
	}
	return opts, nil
}

// dialTimeout bounds Dial. The SDK's own call at connection (GetSystemInfo) has a 5 s
// deadline, and returns the connection's error at once when it fails (refused, TLS); a
// server that accepts the connection and never answers takes those 5 s.
const dialTimeout = 15 * time.Second

// Dial connects to Temporal and checks that the server answers. An error wraps ErrSecurity
// when retrying cannot help: a TLS file is unusable, the TLS handshake failed or the server
// refused the credentials.
func Dial(cfg Config, logger *slog.Logger) (client.Client, error) {
	opts, err := Options(cfg, logger)
	if err != nil {
		return nil, securityError{fmt.Errorf("connect to Temporal at %s: %w", cfg.Address, err)}
	}
	if cfg.TLSDisableHostVerification {
		logger.Warn("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is set: the Temporal server's certificate is not verified",
			"address", cfg.Address)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		var probe func() error
		if tlsConf := opts.ConnectionOptions.TLS; tlsConf != nil {
			probe = func() error { return probeTLS(ctx, cfg.Address, tlsConf) }
		}
		return nil, dialError(cfg, err, probe)
	}
	return c, nil
}
