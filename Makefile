# hexfield — build, test and run the whole network.
#
#   make devnet   the whole network on this machine (local chain, oracles, hotspots, sensors)
#   make test     every test, including the real Solana runtime through the localnet
#   make bench    the benchmarks each issue names
#   make gaming   the verifier's adversarial scenario suite, one table (issue 11)
#   make lint     gofmt, go vet and staticcheck
#   make fuzz     every fuzz target, FUZZTIME executions each
#   make build    all binaries, plus hotspotd's Raspberry Pi cross builds
#   make proto    regenerate wire's protobuf code (needs protoc)

GO          ?= go
BIN         := bin
LOCALNET    := oracle/solana/localnet
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# A count, not a duration: Go 1.26 fuzzing can fail a duration run with
# "context deadline exceeded" (golang/go#75804).
FUZZTIME    ?= 200000x
BENCHTIME   ?= 1s
TESTFLAGS   ?= -shuffle=on -timeout 25m
DEVNET_FLAGS ?=

.PHONY: all test bench gaming lint fuzz build proto devnet localnet clean

all: build

# The localnet's npm packages; the tests that need them skip with a message when they are missing.
localnet: $(LOCALNET)/node_modules/.package-lock.json

$(LOCALNET)/node_modules/.package-lock.json: $(LOCALNET)/package.json $(LOCALNET)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(LOCALNET) --no-audit --no-fund; \
	else echo "npm not found: tests that need the Solana localnet will be skipped"; fi

test: localnet
	$(GO) test $(TESTFLAGS) ./...

# The issues' benchmarks. Small ones run for BENCHTIME; the big ones (an
# epoch of 100k hotspots, 100k payouts, QUIC ingest, hotspotd at 200
# uplinks/s) run a fixed number of times, each with its baseline in the
# same run.
bench: localnet
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./wire/ ./radio/... ./hotspot/
	$(GO) test -run '^$$' -bench 'VerifyPoC|Charging' -benchmem -benchtime $(BENCHTIME) ./verifier/
	$(GO) test -run '^$$' -bench 'ComputeEpoch|Density' -benchtime 1x -timeout 30m ./verifier/
	$(GO) test -run '^$$' -bench 'Ingest|GroupCommit' -benchtime 100000x -timeout 30m ./oracle/
	$(GO) test -run '^$$' -bench 'Hotspotd' -benchtime 4000x -timeout 30m ./e2e/
	$(GO) test -run '^$$' -bench 'Payout100k' -benchtime 2x -timeout 30m ./oracle/solana/

# Every attack class and honest population of issue 11 with three seeds; prints
# scenario, class, seeds, caught by, withheld % and honest loss %. Run in the
# package directory so go test streams the table; make test runs a fast subset.
gaming:
	cd verifier && $(GO) test -count=1 -run '^TestGaming$$' -timeout 60m -gaming.full

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Every Fuzz target in the module, FUZZTIME each (go test runs one fuzz target at a time).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for target in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

build:
	$(GO) build -o $(BIN)/ ./cmd/...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/hotspotd-linux-arm64 ./cmd/hotspotd
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/hotspotd-linux-armv7 ./cmd/hotspotd
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/hotspotd-linux-armv6 ./cmd/hotspotd
	@ls -l $(BIN)/hotspotd-linux-*

proto:
	cd wire && protoc --plugin=protoc-gen-go=$$(cd .. && $(GO) tool -n protoc-gen-go) -I . \
	  --go_out=. --go_opt=paths=source_relative *.proto

# The binary, not go run: go run exits 1 when interrupted, whatever the
# program's status; hexfield devnet prints its final summary at Ctrl-C and
# exits 0 (make itself still reports the interrupt, as make does).
# DEVNET_FLAGS passes flags, e.g. make devnet DEVNET_FLAGS='-epochs 3'.
devnet: localnet
	$(GO) build -o $(BIN)/hexfield ./cmd/hexfield && exec $(BIN)/hexfield devnet $(DEVNET_FLAGS)

clean:
	rm -rf $(BIN)
