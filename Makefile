# hotcert: automatic TLS certificates for HAProxy, loaded without reloads.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PREFIX  ?= /usr/local

.PHONY: build test vet fmt demo deps install bench clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/hotcert ./cmd/hotcert
	$(GO) build -o bin/hotcert-demo ./cmd/hotcert-demo

# deps installs what the demo and the tests need on a fresh Debian machine.
deps:
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy; }
	$(GO) mod download

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# test runs every test: unit tests, and integration tests against a real
# HAProxy and an in-process Pebble CA.
test: deps vet
	$(GO) test -race -timeout 25m ./...

# demo runs hotcert on an embedded default: a local HAProxy on loopback
# ports and an in-process test CA. Ctrl-C stops everything.
demo: deps build
	./bin/hotcert-demo --hotcert ./bin/hotcert

bench:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./...

clean:
	rm -rf bin
