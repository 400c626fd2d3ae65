package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/sagaflow/sagaflow/internal/codecserver"
)

// runCodecServer serves the payload codec to the Temporal Web UI and CLI.
func runCodecServer(ctx context.Context, logger *slog.Logger) error {
	var cfg codecserver.Config
	if err := loadConfig(&cfg); err != nil {
		return err
	}
	// No bearer-token verifier is wired in yet, so the path secret is the only way in:
	// without it the server would refuse every request.
	if cfg.PathSecret == "" {
		return errors.New("configuration: CODEC_PATH_SECRET is required until a bearer-token verifier is configured")
	}
	return codecserver.Run(ctx, cfg, logger, refuseBearerTokens)
}

// refuseBearerTokens is the authenticator while no token verifier is configured.
func refuseBearerTokens(*http.Request) error {
	return errors.New("bearer tokens are not accepted: no token verifier is configured")
}
