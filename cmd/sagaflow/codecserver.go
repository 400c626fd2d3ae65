package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/kelseyhightower/envconfig"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/codecserver"
)

// runCodecServer serves the payload codec to the Temporal Web UI and CLI. Callers prove
// who they are with an operator's access token (AUTH_* as for the API; the Web UI passes
// the signed-in operator's token with codec.passAccessToken) holding orders:read_all, or
// through CODEC_PATH_SECRET for a UI that cannot send credentials.
func runCodecServer(ctx context.Context, logger *slog.Logger) error {
	var cfg codecserver.Config
	if err := loadConfig(&cfg); err != nil {
		return err
	}
	var oidc auth.OIDCConfig
	if err := envconfig.Process("", &oidc); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	check := refuseBearerTokens
	switch {
	case oidc.Configured():
		v, err := auth.NewOIDCVerifier(ctx, oidc, nil, logger)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		check = auth.RequestChecker(v, auth.ScopeOrdersReadAll)
	case cfg.PathSecret == "":
		return errors.New("configuration: set AUTH_ISSUER and AUTH_AUDIENCE (operators' tokens) or CODEC_PATH_SECRET: the codec server never decrypts for anonymous callers")
	}
	return codecserver.Run(ctx, cfg, logger, check)
}

// refuseBearerTokens is the authenticator when only the path secret lets callers in.
func refuseBearerTokens(*http.Request) error {
	return errors.New("bearer tokens are not accepted: no issuer is configured (AUTH_ISSUER)")
}
