# sagaflow: `make run` runs the whole system locally, `make test` runs every test.
TEMPORAL_CLI_VERSION := v1.5.1
TEMPORAL_SERVER_VERSION := v1.29.1
GOLANGCI_LINT_VERSION := v2.15.0
GO ?= go
export GOFLAGS := -buildvcs=false

# Pinned tools are built once into ./bin, one folder per version, so a version bump rebuilds
# and an unchanged one is reused.
TEMPORAL_CLI := bin/temporal-$(TEMPORAL_CLI_VERSION)/temporal
TEMPORAL_SERVER := bin/temporal-server-$(TEMPORAL_SERVER_VERSION)/server
GOLANGCI_LINT := bin/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

.PHONY: run test test-faults build openapi lint lint-go lint-openapi tidy-check bench clean

$(TEMPORAL_CLI):
	@echo "building the temporal CLI $(TEMPORAL_CLI_VERSION) into ./bin (first time takes a few minutes)"
	GOBIN=$(CURDIR)/$(dir $@) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

# The harness and `sagaflow dev` look for bin/temporal.
bin/temporal: $(TEMPORAL_CLI)
	ln -sfn temporal-$(TEMPORAL_CLI_VERSION)/temporal $@

# The real Temporal server, for the tests of the connection's security: the CLI's dev server
# has no TLS. Go builds it as `server`.
$(TEMPORAL_SERVER):
	@echo "building the Temporal server $(TEMPORAL_SERVER_VERSION) into ./bin (first time takes several minutes)"
	GOBIN=$(CURDIR)/$(dir $@) $(GO) install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION)

# The tests look for bin/temporal-server.
bin/temporal-server: $(TEMPORAL_SERVER)
	ln -sfn temporal-server-$(TEMPORAL_SERVER_VERSION)/server $@

$(GOLANGCI_LINT):
	@echo "building golangci-lint $(GOLANGCI_LINT_VERSION) into ./bin (first time takes a few minutes)"
	GOBIN=$(CURDIR)/$(dir $@) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

build:
	$(GO) build -o bin/sagaflow ./cmd/sagaflow

run: bin/temporal build
	./bin/sagaflow dev

# Every test, on real PostgreSQL, Redis and a Temporal dev server the harness starts (and a
# real Temporal server with mutual TLS for the tests of the connection's security).
test: bin/temporal bin/temporal-server lint tidy-check
	$(GO) test -count=1 -timeout 20m ./...

# Static checks: vet, golangci-lint with the committed .golangci.yml, the OpenAPI linter.
lint: lint-go lint-openapi

lint-go: $(GOLANGCI_LINT)
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...

# go.mod and go.sum say exactly what the code imports.
tidy-check:
	$(GO) mod tidy -diff

# The fault suite: the whole system as real processes, crashed and faulted while orders
# flow, then audited (see README, "Fault suite"). Takes several minutes.
test-faults: bin/temporal
	@mkdir -p .run
	SAGAFLOW_FAULT_SUITE=1 SAGAFLOW_FAULT_REPORT=$(CURDIR)/.run/fault-report.md \
		$(GO) test -count=1 -timeout 20m -v -run TestFaultSuite ./test/faults/

# Regenerate the committed OpenAPI documents from the code.
openapi:
	$(GO) run ./cmd/sagaflow openapi --out api/openapi
	$(GO) tool oapi-codegen -config api/openapi/oapi-codegen.yaml api/openapi/public-3.0.yaml

# Every committed document, the 3.0 rendering of the public API included.
OPENAPI_DOCUMENTS := api/openapi/public.yaml api/openapi/public-3.0.yaml api/openapi/order.yaml api/openapi/payment.yaml api/openapi/inventory.yaml

lint-openapi:
	npx --yes @redocly/cli@2.77.0 lint --config api/openapi/redocly.yaml $(OPENAPI_DOCUMENTS)

# The benchmark: the whole system as separate processes, measured against Temporal's own
# ceiling on the same dev server; results, chart and logs go to .bench/. Flags: BENCH_FLAGS.
bench: bin/temporal build
	./bin/sagaflow bench $(BENCH_FLAGS)

clean:
	rm -rf bin .run .bench
