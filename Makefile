# respring build and test entry points. `make test` is the test command.
GO       ?= go
FUZZTIME ?= 10s
# Short fuzz runs inside `make test`: the seed corpus plus a few seconds per target.
TESTFUZZTIME ?= 3s
TAGS     ?=
TAGFLAG  := $(if $(TAGS),-tags $(TAGS),)

# Packages without goroutines of their own run without -race (their zero-allocation
# tests are !race); packages with concurrency run with -race, and their allocation
# tests once more without it.
PURE_PKGS := ./parser/... ./writer/... ./asm/... ./fuzz/...
CONC_PKGS := ./ring/... ./driver/... ./internal/...
FUZZ_TARGETS := FuzzParse FuzzSplit FuzzRoundTrip FuzzKernels

.PHONY: deps test test-purego test-unit test-race test-alloc test-fuzz fuzz soak bench lint tidy-check

# redis-server and redis-sentinel, which the tests start; a quick no-op when present.
deps:
	@./.ci/install-deps

test: test-unit test-race test-alloc test-fuzz

# Each test step needs deps first (so also under make -j, and run on its own).
test-unit test-race test-alloc test-fuzz: deps

test-purego:
	$(MAKE) test TAGS=purego

test-unit:
	$(GO) vet $(TAGFLAG) ./...
	# The driver builds on macOS and the BSDs too (no TCP_USER_TIMEOUT, no output
	# poller there), and on Windows (gnet reads on goroutines there; every read and
	# write goes through gnet): type-check it, and the tests, for darwin and windows.
	GOOS=darwin $(GO) vet $(TAGFLAG) ./...
	GOOS=windows $(GO) vet $(TAGFLAG) ./...
	$(GO) test $(TAGFLAG) -shuffle=on -count=1 -timeout 10m $(PURE_PKGS)
	cd bench && $(GO) test -count=1 ./cmd/...

test-race:
	$(GO) test $(TAGFLAG) -race -shuffle=on -count=1 -timeout 15m $(CONC_PKGS)

test-alloc:
	$(GO) test $(TAGFLAG) -count=1 -run 'Alloc' $(CONC_PKGS)

test-fuzz:
	@GO=$(GO) ./.ci/fuzz-short "$(TAGFLAG)" $(TESTFUZZTIME) $(FUZZ_TARGETS)

# Each fuzz target for FUZZTIME (default 10s): make fuzz FUZZTIME=10m
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t for $(FUZZTIME)"; \
		$(GO) test $(TAGFLAG) -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./fuzz || exit 1; \
	done

# The chaos soak of driver/soak_linux_test.go (not part of make test) for SOAK (default
# 3m); SOAK_SEED repeats an earlier run's random choices: make soak SOAK=10m
SOAK ?= 3m
soak: deps
	RESPRING_SOAK=$(SOAK) RESPRING_SOAK_SEED=$(SOAK_SEED) $(GO) test $(TAGFLAG) -race -count=1 -v -timeout 0 -run '^TestSoak$$' ./driver

# Side-by-side benchmark of respring, rueidis, go-redis and redigo against a throwaway
# redis-server, with redis-benchmark's reference figures (bench/README.md). Quick run:
# make bench BENCH_COUNT=1 BENCH_TIME=200ms BENCH_SKIP_10K=1
bench:
	bash bench/run.sh

lint: tidy-check
	$(GO) vet ./...
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...
	cd bench && $(GO) vet ./... && PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

# go.mod and go.sum of both modules are as `go mod tidy` leaves them.
tidy-check:
	$(GO) mod tidy -diff
	cd bench && $(GO) mod tidy -diff
