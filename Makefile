# justredis — see README.md. Every target works on a fresh machine: the ones
# that need redis-server call scripts/ensure-redis.sh first, which installs
# Debian's package when we are root and explains what to do otherwise.

SHELL := /usr/bin/env bash
GO ?= go

# Every module of the workspace, as ./dir/... patterns.
MODULE_DIRS := $(shell $(GO) list -m -f '{{.Dir}}' | sed 's|^$(CURDIR)|.|')
PKGS := $(addsuffix /...,$(MODULE_DIRS))

FUZZTIME ?= 30s
BENCHFLAGS ?=
TEST_TIMEOUT ?= 14m
TESTFLAGS ?=

.PHONY: all test vet fmt fmtcheck run bench bench-go fuzz ensure-redis clean

all: test

## test: vet, gofmt check, go test -race over every module (the CI command);
## then the client's whole suite again through a proxy that slices every
## write into 1-byte pieces (partial reads and writes everywhere); then the
## allocation budgets once more without -race (the race detector's
## sync.Pool drops objects on purpose, so budgets are only meaningful without it).
test: ensure-redis vet fmtcheck
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) $(PKGS)
	JUSTREDIS_SLICER=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) ./client/...
	$(GO) test -count=1 -run 'AllocationBudget' $(PKGS)

## vet: go vet over every module; and each module's go.mod must cover its
## own imports, tests included, without the workspace (GOWORK=off is what a
## project that requires the module resolves).
vet:
	$(GO) vet $(PKGS)
	@for d in $(MODULE_DIRS); do \
		(cd $$d && GOWORK=off GOFLAGS=-mod=readonly $(GO) list -test ./... >/dev/null) || \
		{ echo "$$d: go.mod does not cover the module's imports on its own (GOWORK=off)"; exit 1; }; \
	done

fmtcheck:
	@out=$$(gofmt -l $(MODULE_DIRS)); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $(MODULE_DIRS)

## run: the quickstart against a private redis-server.
run: ensure-redis
	$(GO) run ./client/cmd/quickstart

## bench: the side-by-side comparison with go-redis, rueidis and radix
## (bench/README.md; 12 to 15 minutes, BENCHFLAGS=-quick for a minute).
bench: ensure-redis
	$(GO) run ./bench $(BENCHFLAGS)

## bench-go: the go test benchmarks of every module.
bench-go: ensure-redis
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: every fuzz target of the workspace for FUZZTIME each.
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh $(MODULE_DIRS)

ensure-redis:
	@./scripts/ensure-redis.sh

clean:
	$(GO) clean -testcache
