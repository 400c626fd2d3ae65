// Package temporalclient dials Temporal the same way in every sagaflow process: structured
// logs through slog and the request id propagated into workflows and activities.
package temporalclient

import (
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/internal/correlation"
)

// Config says where Temporal is. Embed it in a component's Config to read it from the
// environment.
type Config struct {
	Address   string `envconfig:"TEMPORAL_ADDRESS" default:"127.0.0.1:7233"`
	Namespace string `envconfig:"TEMPORAL_NAMESPACE" default:"default"`
}

// Options returns the client options every sagaflow process uses.
func Options(cfg Config, logger *slog.Logger) client.Options {
	return client.Options{
		HostPort:           cfg.Address,
		Namespace:          cfg.Namespace,
		Logger:             tlog.NewStructuredLogger(logger),
		ContextPropagators: []workflow.ContextPropagator{correlation.NewPropagator()},
		// The SDK gzips every request by default (and the server its answers). Our
		// messages are a few kilobytes at most; compressing them cost a quarter of a
		// worker's CPU time per workflow for no gain worth having.
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}},
	}
}

// Dial connects to Temporal and checks that the server answers.
func Dial(cfg Config, logger *slog.Logger) (client.Client, error) {
	c, err := client.Dial(Options(cfg, logger))
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", cfg.Address, cfg.Namespace, err)
	}
	return c, nil
}
