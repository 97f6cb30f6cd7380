# sparkplane — run `make help`.
SHELL := /bin/bash
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
BIN := bin/sparkplane

.PHONY: help demo demo-autoscaled build image test unit e2e spark lint generate fuzz bench k8s-replace clean

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

demo: build ## Run the local multi-zone demo (no Docker, no cluster needed)
	./$(BIN) demo

demo-autoscaled: build ## The demo from zero nodes on the real Karpenter (first run builds it, ~5 min)
	./$(BIN) demo --autoscaler karpenter

build: ## Build bin/sparkplane (every command, with the developer commands local and demo)
	$(GO) build -ldflags "-X github.com/sparkplane/sparkplane/pkg/cli.Version=$$(git describe --tags --always --dirty 2>/dev/null || echo dev) -X github.com/sparkplane/sparkplane/pkg/cli.Commit=$$(git rev-parse HEAD 2>/dev/null)" -o $(BIN) ./cmd/sparkplane

image: ## Build the container image (cmd/sparkplane-image: no local/demo, no etcd; no Docker needed) into bin/sparkplane-image.tar; see docs/image.md
	GO=$(GO) ./hack/build-image.sh

test: lint ## Lint, then run every test (unit, fuzz seeds, integration on a real control plane)
	$(GO) test -count=1 -timeout 30m ./...

unit: ## Every unit test of pkg/ (-short skips the tests that start a control plane or need Spark)
	$(GO) test -short -count=1 ./pkg/...

e2e: ## End-to-end tests only: real Spark on the local cluster, static and autoscaled by Karpenter (needs Java 17)
	$(GO) test -count=1 -v -timeout 30m ./test/e2e/ ./test/autoscaled/

spark: ## Install Spark (PyPI pyspark) into .cache/ and print SPARK_HOME
	./hack/install-spark.sh

lint: ## gofmt, go vet, staticcheck, generated code up to date
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	GO=$(GO) ./hack/update-codegen.sh --verify

generate: ## Regenerate the DeepCopy methods (deepcopy-gen); commit the result
	GO=$(GO) ./hack/update-codegen.sh

fuzz: ## Fuzz the decision cores, the admission handler and the gang reservation decoder for 60s each
	$(GO) test ./pkg/placement -run XXX -fuzz FuzzDecide -fuzztime 60s
	$(GO) test ./pkg/webhook -run XXX -fuzz FuzzAdmissionBody -fuzztime 60s
	$(GO) test ./pkg/gang -run XXX -fuzz FuzzDecodeReservation -fuzztime 60s

bench: ## Benchmarks (~65 min): decision cores, webhook, placement by strategy (online, busy, scheduler alone), deadlock, autoscaled; see docs/benchmarks.md
	$(GO) test ./pkg/placement -run XXX -bench Decide -benchmem
	$(GO) test ./pkg/gang -run XXX -bench Fit -benchmem
	$(GO) run ./bench webhook
	$(GO) run ./bench placement -nodes 500,1000,2000 -pods 1000 -strategies a,b,c,d,e,a,d+ -plot docs/benchmarks-placement.png
	$(GO) run ./bench placement -nodes 1000,2000 -pods 1000 -background 20 -strategies a,b,c,d,e,a -plot docs/benchmarks-placement-busy.png
	$(GO) run ./bench placement -nodes 1000,2000 -pods 1000 -backlog -strategies a,b,c,d,e,a
	$(GO) run ./bench placement -nodes 1000 -pods 1000 -background 50 -strategies a,c,d,e,a
	$(GO) run ./bench placement -nodes 1000 -pods 1000 -background 100 -strategies a,c,d,e,a
	$(GO) run ./bench placement -nodes 1000,2000 -pods 1000 -strategies a,b,d,e,a,d -score-percent 100
	$(GO) run ./bench placement -nodes 5000 -pods 1000 -strategies a,b,d,e,a
	$(GO) run ./bench deadlock -apps 100 -nodes 50 -timeline 4s
	$(GO) run ./bench autoscaled -apps 3 -strategies off,webhook,sparkplane
	$(GO) run ./bench autoscaled -mode sim -apps 10 -executors 4 -strategies off,webhook,off,webhook

k8s-replace: ## Regenerate the k8s.io replace block: make k8s-replace VERSION=v1.36.3
	./hack/update-k8s-replace.sh $(VERSION)
	$(GO) mod tidy

clean: ## Remove build output
	rm -rf bin
