# depositflow: `make dev` runs the product, `make test` runs every test.
# What a fresh machine lacks is installed here: PostgreSQL server binaries
# from Debian's packages, and the Go tools into .tools/ (never into go.mod:
# the temporal CLI does not build beside the server module the tests use).

SHELL := /bin/bash
TOOLS := $(CURDIR)/.tools
SQLC_VERSION := v1.31.1
TEMPORAL_CLI_VERSION := v1.5.1
WORKFLOWCHECK_VERSION := v0.6.0
STRIPE_MOCK_VERSION := v0.203.0
GO_TEST_FLAGS ?= -count=1 -timeout 20m

.PHONY: all build dev test unit check check-tools generate tools postgres histories screenshots chaos bench bench-topology clean

all: build

build:
	go build -o bin/deposits ./cmd/deposits

## dev: Temporal + Web UI, PostgreSQL, an SMTP sink and the worker, in the foreground.
dev: postgres $(TOOLS)/temporal build
	PATH="$(TOOLS):$$PATH" ./bin/deposits dev

## test: static checks, then unit, activity and end-to-end tests on real components.
## The end-to-end tests are a module of their own (e2e/go.mod): the Temporal
## server they run is their dependency, never the product's.
test: postgres check
	go test $(GO_TEST_FLAGS) ./...
	cd e2e && go test $(GO_TEST_FLAGS) ./...

## unit: the fast tests only (no PostgreSQL, no Temporal server).
unit:
	go test ./internal/money ./templates ./workflows

## check: vet, workflowcheck on the workflows, generated code up to date,
## api/openapi.yaml linted (a valid OpenAPI document, the server's routes,
## unique operationIds, closed response schemas, the server's types in step)
## and its validator able to fail.
check: check-tools
	gofmt -l . | (! grep .) || (echo "gofmt would change the files above"; exit 1)
	go mod tidy -diff || (echo "go.mod is not tidy: run go mod tidy"; exit 1)
	cd e2e && go mod tidy -diff || (echo "e2e/go.mod is not tidy: run go mod tidy in e2e"; exit 1)
	go vet ./...
	cd e2e && go vet ./...
	$(TOOLS)/workflowcheck ./workflows/...
	$(TOOLS)/sqlc diff || (echo "db/ is not what sqlc generates from queries/: run make generate"; exit 1)
	go test -count=1 -run 'TestOpenAPI|TestUnauthenticated' ./internal/api
	go test -count=1 ./internal/contract

## generate: regenerate db/ from queries/ and the migrations.
generate: $(TOOLS)/sqlc
	$(TOOLS)/sqlc generate

tools: check-tools $(TOOLS)/temporal $(TOOLS)/stripe-mock

check-tools: $(TOOLS)/sqlc $(TOOLS)/workflowcheck

$(TOOLS)/sqlc:
	GOBIN=$(TOOLS) go install github.com/sqlc-dev/sqlc/cmd/sqlc@$(SQLC_VERSION)

$(TOOLS)/workflowcheck:
	GOBIN=$(TOOLS) go install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)

$(TOOLS)/temporal:
	GOBIN=$(TOOLS) go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

# Stripe's API as a local server: the card-hold tests start it (stateless,
# it answers with fixture objects).
$(TOOLS)/stripe-mock:
	GOBIN=$(TOOLS) go install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)

## postgres: the PostgreSQL server binaries (the project runs its own throwaway clusters).
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then \
		echo "Installing PostgreSQL server binaries (apt-get install postgresql)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; \
	fi

clean:
	rm -rf bin

## chaos: 500 leases while the worker is SIGKILLed 10 times, PostgreSQL restarts
## and the SMTP server is gone for 60 s; ends with one line a script can read
## (make test runs a shorter version: 200 leases, a 15 s mail outage).
CHAOS_LEASES ?= 500
CHAOS_KILLS ?= 10
CHAOS_SMTP_OUTAGE ?= 60s
chaos: postgres
	@cd e2e && CHAOS_LEASES=$(CHAOS_LEASES) CHAOS_KILLS=$(CHAOS_KILLS) CHAOS_SMTP_OUTAGE=$(CHAOS_SMTP_OUTAGE) CHAOS_OUT=$(CURDIR)/.chaos-result \
		go test -count=1 -timeout 30m -run 'TestChaos$$' . > $(CURDIR)/.chaos.log 2>&1; rc=$$?; \
		cat $(CURDIR)/.chaos-result 2>/dev/null || tail -50 $(CURDIR)/.chaos.log; exit $$rc

## bench: throughput against a bare workflow of the same shape, event
## latency, settlement to webhook delivered (BENCH_WEBHOOKS leases, default
## BENCH_EVENTS up to 500), refund computation from a 500-row ledger, history events per
## lease, worker memory with idle leases, a reconcile pass over
## BENCH_RECONCILE leases with 1% changed; a PASS/FAIL table and
## $(BENCH_OUT)/results.json. Not part of make test. BENCH_IDLE=2000 for a quick
## look. Temporal is the temporal CLI's dev server with its store in a SQLite
## file on disk (100,000 idle leases outgrow the tests' in-memory store);
## BENCH_TEMPORAL_CLI= (empty) runs on the in-process server instead.
BENCH_LEASES ?= 2000
BENCH_EVENTS ?= 1000
BENCH_IDLE ?= 100000
BENCH_RECONCILE ?= 100000
BENCH_WEBHOOKS ?=
BENCH_OUT ?= $(CURDIR)/bench
BENCH_TEMPORAL_CLI ?= $(TOOLS)/temporal
bench: postgres $(BENCH_TEMPORAL_CLI)
	set -o pipefail; cd e2e && BENCH=1 BENCH_TOPOLOGY_LEASES=$(BENCH_TOPOLOGY_LEASES) BENCH_TOPOLOGY_EVENTS=$(BENCH_TOPOLOGY_EVENTS) BENCH_TOPOLOGY_IDLE=$(BENCH_TOPOLOGY_IDLE) E2E_TEMPORAL_CLI=$(BENCH_TEMPORAL_CLI) BENCH_WORKER_ARGS="$(BENCH_WORKER_ARGS)" BENCH_LEASES=$(BENCH_LEASES) BENCH_EVENTS=$(BENCH_EVENTS) BENCH_IDLE=$(BENCH_IDLE) BENCH_RECONCILE=$(BENCH_RECONCILE) BENCH_WEBHOOKS=$(BENCH_WEBHOOKS) BENCH_OUT=$(BENCH_OUT) \
		go test -count=1 -timeout 180m -run 'TestBench$$' -v . | grep --line-buffered -Ev '^(\{|20[0-9]{2}/)'

## bench-topology: the bench's topology column alone (make bench runs it
## too): lifecycles per second with one worker and two, API event latency
## and idle-lease starts per second on the dev server and on temporal-server
## on PostgreSQL with mutual TLS; cores by process, CPU profiles; $(BENCH_OUT)/topology.json.
BENCH_TOPOLOGY_LEASES ?= 300
BENCH_TOPOLOGY_EVENTS ?= 200
BENCH_TOPOLOGY_IDLE ?= 1000
bench-topology: postgres $(BENCH_TEMPORAL_CLI)
	set -o pipefail; cd e2e && BENCH=1 E2E_TEMPORAL_CLI=$(BENCH_TEMPORAL_CLI) BENCH_TOPOLOGY_LEASES=$(BENCH_TOPOLOGY_LEASES) BENCH_TOPOLOGY_EVENTS=$(BENCH_TOPOLOGY_EVENTS) BENCH_TOPOLOGY_IDLE=$(BENCH_TOPOLOGY_IDLE) BENCH_OUT=$(BENCH_OUT) \
		go test -count=1 -timeout 60m -run 'TestBenchTopology$$' -v . | grep --line-buffered -Ev '^(\{|20[0-9]{2}/)'

## screenshots: the tenant's page as the browser test sees it, into docs/.
screenshots: postgres
	cd e2e && TENANT_SCREENSHOTS=1 go test -count=1 -run 'TestTenantDisputesOnThePage' .

## histories: record the workflow histories that the replay test replays.
## Record after a deliberate, versioned change to the workflow, and keep the
## older recordings (v0_* ... v3_*): they prove runs started by older code still replay.
histories: postgres
	cd e2e && RECORD_HISTORIES=1 go test -count=1 -run 'TestLifecycleWithDeductions|TestBalanceOwedIssuesAnInvoice|TestManagerDecisions|TestReturnedPaymentAmendmentsAndSplitRefund|TestStatutoryDeadlinesEndToEnd|TestForgedSignalsMoveNoMoney|TestBooksDisagreeStopsTheSettlement|TestThresholdCountsTheTotalNotEachAction|TestPoundsForAnEnglishLease|TestWebhookDeadEndpointIsDisabled|TestTenantDisputesOnThePage|TestTransferToAnotherPropertysLease|TestSeed002RefundableWithPartialRefundTransferAndInvoice' .
