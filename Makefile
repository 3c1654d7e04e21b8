# Sieve: `make demo` runs the demo, `make test` runs every test. Everything else is a step of those.
# One collector version everywhere: ocb, core and contrib v0.159.0 (stable core modules v1.65.0),
# pinned in builder-config.yaml, go.mod and internal/tools/go.mod.

SHELL := /bin/bash
GO ?= go
TOOLS := $(CURDIR)/.tools/bin
OCB := $(TOOLS)/builder
MDATAGEN := $(TOOLS)/mdatagen
STATICCHECK := $(TOOLS)/staticcheck
SIEVE_BIN := $(CURDIR)/bin/sieve
export SIEVE_BIN
# One build configuration for everything: bin/sieve is static (the container image needs it), and
# the tests, the testbed and the baseline compile with the same setting so they reuse its packages
# instead of compiling the whole collector a second time with cgo.
export CGO_ENABLED := 0

# Sieve's own component folders; each holds a metadata.yaml that mdatagen turns into code.
COMPONENT_DIRS := $(sort $(dir $(wildcard processors/*/metadata.yaml exporters/*/metadata.yaml connectors/*/metadata.yaml extensions/*/metadata.yaml receivers/*/metadata.yaml)))
# Folders whose content is generated: checked for drift against their sources.
GENERATED := cmd/collector dashboards deploy/kubernetes/base/configs $(COMPONENT_DIRS)

.PHONY: all demo test bench faults soak fuzz fuzz-short build image generate check-generated deps tools unit-test e2e-test lint clean

all: build

## demo: install what is missing, build, and run the demo against real Loki and Prometheus.
demo: deps build
	cd testbed && $(GO) run ./cmd/demo -sieve $(SIEVE_BIN) -config $(CURDIR)/configs/demo.yaml $(DEMO_FLAGS)

## test: unit tests, generated-code drift, and the end-to-end tests on real backends.
test: deps tools check-generated build unit-test fuzz-short e2e-test
	@echo "make test: all passed"

tools: $(OCB) $(MDATAGEN) $(STATICCHECK)
$(OCB) $(MDATAGEN) $(STATICCHECK): internal/tools/go.mod internal/tools/go.sum
	@echo ">> building pinned tools (ocb, mdatagen, staticcheck)"
	cd internal/tools && $(GO) build -o $(TOOLS)/ go.opentelemetry.io/collector/cmd/builder go.opentelemetry.io/collector/cmd/mdatagen honnef.co/go/tools/cmd/staticcheck

deps:
	@bash testbed/scripts/install-deps.sh

## generate: regenerate cmd/collector from builder-config.yaml and every component's mdatagen code.
generate: tools
	@echo ">> mdatagen"
	@for d in $(COMPONENT_DIRS); do (cd $$d && $(MDATAGEN) metadata.yaml) || exit 1; done
	@echo ">> dashboards and rules"
	$(GO) run ./dashboards/gen
	@echo ">> kubernetes ConfigMap sources (copies of configs/, read by kustomize)"
	@mkdir -p deploy/kubernetes/base/configs && cp configs/agent.yaml configs/gateway.yaml configs/policy.yaml deploy/kubernetes/base/configs/
	@echo ">> ocb (sources only)"
	@mkdir -p cmd/collector
	$(OCB) --config builder-config.yaml --skip-compilation > .tools/ocb.log 2>&1 || { cat .tools/ocb.log; exit 1; }

## check-generated: fails when committed generated code differs from what the generators produce.
check-generated: tools
	@rm -rf .tools/generated-before && mkdir -p .tools/generated-before
	@for d in $(GENERATED); do mkdir -p .tools/generated-before/$$d && cp -r $$d/. .tools/generated-before/$$d/; done
	@$(MAKE) --no-print-directory generate
	@status=0; for d in $(GENERATED); do diff -ru .tools/generated-before/$$d $$d || status=1; done; \
	if [ $$status -ne 0 ]; then echo "generated code was out of date: it is regenerated now, review and commit it"; exit 1; fi
	@echo ">> generated code is up to date"

## build: bin/sieve from the ocb sources in cmd/collector.
build: $(SIEVE_BIN)
$(SIEVE_BIN): $(shell find cmd/collector internal processors exporters connectors extensions receivers -name '*.go' -o -name 'go.mod' -o -name 'go.sum' 2>/dev/null) go.mod go.sum
	@echo ">> building bin/sieve (several minutes on a cold cache)"
	cd cmd/collector && $(GO) build -trimpath -ldflags='-s -w' -o $(SIEVE_BIN) .

## image: the container image $(IMAGE) (FROM scratch, static bin/sieve, non-root) built with
## podman through scripts/podman.sh, which installs podman and runc when missing; see deploy/container.md.
IMAGE ?= localhost/sieve:dev
image: build
	IMAGE=$(IMAGE) bash scripts/build-image.sh

## bench: Sieve against the upstream baseline collector on every pipeline, same machine, same
## run (builds the baseline with ocb the first time); rewrites BENCHMARKS.md and BENCHMARKS.json.
bench: build
	@mkdir -p .tools/bin
	@# After bin/sieve, not beside it: the baseline and the bench command then reuse the packages
	@# it compiled instead of compiling them a second time on the same two cores (measured from
	@# scratch: 16.1 min for the three builds side by side).
	@bash testbed/baseline/build.sh > .tools/baseline-bin 2> .tools/baseline-build.log & base=$$!; \
	(cd testbed && $(GO) build -o $(CURDIR)/.tools/bin/bench ./cmd/bench) || { kill $$base 2>/dev/null; exit 1; }; \
	wait $$base || { cat .tools/baseline-build.log; exit 1; }
	cd testbed && BASELINE_BIN="$$(cat $(CURDIR)/.tools/baseline-bin)" $(CURDIR)/.tools/bin/bench -md $(CURDIR)/BENCHMARKS.md -json $(CURDIR)/BENCHMARKS.json

## faults: the long reliability suite on bin/sieve (fault injection, kill -9 loops, hostile
## input, 60 s load runs per signal and protocol); `make test` runs the short versions.
faults: deps build
	cd testbed && SIEVE_LONG=1 $(GO) test -count=1 -p 1 -timeout 90m -v ./reliability/...

## soak: SOAK_DURATION (default 1h) at a steady rate; reports the RSS and goroutine slopes.
SOAK_DURATION ?= 1h
soak: build
	cd testbed && SIEVE_SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -timeout 0 -v -run TestSoak ./reliability/load/

## fuzz: every fuzz target for FUZZTIME each (default 1m); fuzz-short is the 5 s run of `make test`.
FUZZTIME ?= 1m
fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh
fuzz-short:
	FUZZTIME=5s bash scripts/fuzz.sh

unit-test:
	$(GO) test -count=1 ./...

e2e-test: build
	cd testbed && $(GO) test -count=1 -timeout 30m ./...

## lint: go vet and staticcheck on every module.
lint: tools
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd testbed && $(GO) vet ./... && $(STATICCHECK) ./...

clean:
	rm -rf bin .tools/generated-before
