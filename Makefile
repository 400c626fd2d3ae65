# sagaflow: `make run` runs the whole system locally, `make test` runs every test.
TEMPORAL_CLI_VERSION := v1.5.1
GO ?= go
export GOFLAGS := -buildvcs=false

.PHONY: run test test-faults build openapi lint-openapi bench clean

bin/temporal:
	@echo "building the temporal CLI $(TEMPORAL_CLI_VERSION) into ./bin (first time takes a few minutes)"
	GOBIN=$(CURDIR)/bin $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

build:
	$(GO) build -o bin/sagaflow ./cmd/sagaflow

run: bin/temporal build
	./bin/sagaflow dev

# Every test, on real PostgreSQL, Redis and a Temporal dev server the harness starts.
test: bin/temporal
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) lint-openapi

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

lint-openapi:
	npx --yes @redocly/cli@2.77.0 lint --config api/openapi/redocly.yaml api/openapi/public.yaml api/openapi/order.yaml api/openapi/payment.yaml api/openapi/inventory.yaml

# The benchmark: the whole system as separate processes, measured against Temporal's own
# ceiling on the same dev server; results, chart and logs go to .bench/. Flags: BENCH_FLAGS.
bench: bin/temporal build
	./bin/sagaflow bench $(BENCH_FLAGS)

clean:
	rm -rf bin .run .bench
