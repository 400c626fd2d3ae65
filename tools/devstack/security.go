package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/codecserver"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/tools/devauth"
)

// codecAddr is where `make run` serves the payload codec to the Web UI and the CLI.
const codecAddr = "127.0.0.1:8089"

// payloadKeyFile keeps the development payload key between runs: the dev server's state
// file keeps histories across runs, and they must stay readable.
const payloadKeyFile = "payload-key"

// payloadKeys returns the development keyring (TEMPORAL_PAYLOAD_KEYS, _KEY_ID), making
// its key on first use.
func payloadKeys(authDir string) (payloadcodec.Config, error) {
	path := filepath.Join(authDir, payloadKeyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		entry, err := payloadcodec.GenerateKey("dev")
		if err != nil {
			return payloadcodec.Config{}, err
		}
		if err := os.MkdirAll(authDir, 0o700); err != nil {
			return payloadcodec.Config{}, err
		}
		if err := os.WriteFile(path, []byte(entry), 0o600); err != nil {
			return payloadcodec.Config{}, err
		}
		raw = []byte(entry)
	} else if err != nil {
		return payloadcodec.Config{}, err
	}
	entry := strings.TrimSpace(string(raw))
	id, _, _ := strings.Cut(entry, ":")
	cfg := payloadcodec.Config{Keys: payloadcodec.Secret(entry), KeyID: id}
	return cfg, cfg.Validate()
}

// serveIssuer serves the local issuer's OpenID configuration and keys until ctx ends.
func serveIssuer(ctx context.Context, issuer *devauth.Issuer, logger *slog.Logger) (stop func() error, err error) {
	ln, err := net.Listen("tcp", devauth.LocalIssuerAddr)
	if err != nil {
		return nil, fmt.Errorf("serve the development issuer on %s: %w", devauth.LocalIssuerAddr, err)
	}
	srv := httpserver.NewServer(issuer.Handler(), logger)
	go func() { _ = srv.Serve(ln) }() // ends with Shutdown below
	return func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}, nil
}

// codecServer is the codec server `make run` starts for the Web UI (through a per-run path
// secret, since the dev server's UI cannot send credentials) and for operators' tokens.
type codecServer struct {
	cfg    codecserver.Config
	check  codecserver.Authenticator
	secret string
}

func newCodecServer(ctx context.Context, keys payloadcodec.Config, uiPort int, logger *slog.Logger) (*codecServer, error) {
	secret, err := codecserver.NewPathSecret()
	if err != nil {
		return nil, err
	}
	v, err := auth.NewOIDCVerifier(ctx, auth.OIDCConfig{
		Issuer: devauth.LocalIssuerURL, Audience: devauth.DefaultAudience,
		Algorithms: []string{"RS256"}, ClockSkew: 30 * time.Second, JWKSRefresh: 15 * time.Minute, JWKSMinRefresh: 10 * time.Second,
	}, nil, logger)
	if err != nil {
		return nil, err
	}
	cfg := codecserver.Config{
		HTTPAddr:       codecAddr,
		CORSOrigins:    fmt.Sprintf("http://127.0.0.1:%d,http://localhost:%d", uiPort, uiPort),
		PathSecret:     payloadcodec.Secret(secret),
		Config:         keys,
		ShutdownTiming: httpserver.ShutdownTiming{Timeout: 5 * time.Second},
	}
	return &codecServer{cfg: cfg, check: auth.RequestChecker(v, auth.ScopeOrdersReadAll), secret: secret}, nil
}

// uiEndpoint is the codec endpoint handed to the Web UI and the CLI.
func (c *codecServer) uiEndpoint() string { return "http://" + codecAddr + "/" + c.secret }

func (c *codecServer) run(ctx context.Context, logger *slog.Logger) error {
	return codecserver.Run(ctx, c.cfg, logger, c.check)
}
