# hotcert: automatic TLS certificates for HAProxy, loaded without reloads.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PREFIX  ?= /usr/local
# go.mod names the toolchain (a patch release with the standard library's
# security fixes); let go fetch it through the module proxy if needed.
export GOTOOLCHAIN ?= auto
# TAGS picks the lego DNS providers compiled in: empty for the default ten,
# lego_none for none, lego_custom for the set scripts/lego-providers wrote
# (docs/benchmarks.md, "DNS providers: binary size and build time").
TAGS    ?=

.PHONY: build test check vet fmt demo deps install bench clean vulncheck

build:
	$(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o bin/hotcert ./cmd/hotcert
	$(GO) build -o bin/hotcert-demo ./cmd/hotcert-demo

# deps installs what the demo and the tests need on a fresh Debian machine:
# HAProxy, BIND 9 (the dns-01 tests' authoritative server), etcd (the
# cluster tests' store; Debian's etcd-server, /usr/bin/etcd),
# systemd-analyze (the unit file check), strace (the system calls the
# daemon makes, against the unit's SystemCallFilter=) and promtool (the
# alert rules' tests; Debian's prometheus), then the Go modules.
# etcd-server's and prometheus' installs start their services (etcd on
# 127.0.0.1:2379, Prometheus on :9090) only where systemd runs and
# policy-rc.d allows it; `systemctl disable --now etcd prometheus` stops
# them. Without systemd nothing starts, and the install succeeds all the same.
APT_NEEDS := haproxy:haproxy named:bind9 nsupdate:bind9-dnsutils etcd:etcd-server systemd-analyze:systemd strace:strace promtool:prometheus
deps:
	@missing=""; for pair in $(APT_NEEDS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
		command -v $$cmd >/dev/null 2>&1 || test -x /usr/sbin/$$cmd || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	$(GO) mod download

# vet fails when go.mod or go.sum is not tidy, when gofmt would change a
# file, when go vet finds something, or when staticcheck does. staticcheck
# is pinned by the tool directive in go.mod and comes through the module
# proxy.
vet:
	$(GO) mod tidy -diff
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# test runs every test: unit tests, and integration tests against a real
# HAProxy and an in-process Pebble CA.
test: deps vet
	$(GO) test -race -timeout 25m ./...

# check runs the unit tests for the edit-test loop: no apt, no integration
# package, benchmarks' HAProxy runs skipped (-short), and Pebble validating
# without its random sleeps. Tests that need a tool that is not installed
# skip (unless CI=true).
check:
	PEBBLE_VA_NOSLEEP=1 $(GO) test -short -timeout 5m $$($(GO) list ./... | grep -v /integration)

# demo runs hotcert on an embedded default: a local HAProxy on loopback
# ports and an in-process test CA. Ctrl-C stops everything. NODES=3 runs a
# cluster instead: one etcd, three HAProxy on 127.0.0.2-4 (same ports on
# each address) and a hotcert beside each.
NODES ?= 1
demo: APT_NEEDS = haproxy:haproxy $(if $(filter-out 1,$(NODES)),etcd:etcd-server)
demo: deps build
	./bin/hotcert-demo --hotcert ./bin/hotcert --nodes $(NODES)

# install puts the binary in $(PREFIX)/bin, the systemd unit in
# /etc/systemd/system, example configs in /etc/hotcert (never overwriting
# them) and the reference and operations guide in $(PREFIX)/share/doc/hotcert.
# Without DESTDIR it also creates the hotcert user, its state dir
# /var/lib/hotcert and /etc/haproxy/hotcert with certs/ in it (owned by
# hotcert, group haproxy when that group exists, so that HAProxy can enter
# it; the unit may write there and nowhere else in /etc/haproxy), and
# reloads systemd.
DESTDIR ?=
UNITDIR ?= /etc/systemd/system
DOCDIR  := $(PREFIX)/share/doc/hotcert
install: build
	install -D -m 0755 bin/hotcert $(DESTDIR)$(PREFIX)/bin/hotcert
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)/etc/hotcert $(DESTDIR)$(DOCDIR)/examples
	sed 's|/usr/local/bin/hotcert|$(PREFIX)/bin/hotcert|; s|/usr/local/share/doc/hotcert|$(DOCDIR)|g' \
		packaging/hotcert.service > $(DESTDIR)$(UNITDIR)/hotcert.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/hotcert.service
	for f in hotcert.yaml domains.yaml; do \
		test -e $(DESTDIR)/etc/hotcert/$$f || install -m 0644 configs/examples/$$f $(DESTDIR)/etc/hotcert/$$f; done
	install -m 0644 docs/reference.md docs/operations.md README.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 configs/examples/* $(DESTDIR)$(DOCDIR)/examples/
	@if [ -z "$(DESTDIR)" ]; then \
		id -u hotcert >/dev/null 2>&1 || useradd --system --home-dir /var/lib/hotcert --no-create-home \
			--shell /usr/sbin/nologin hotcert; \
		! getent group haproxy >/dev/null || usermod -a -G haproxy hotcert; \
		install -d -o hotcert -g hotcert -m 0700 /var/lib/hotcert; \
		grp=hotcert; ! getent group haproxy >/dev/null || grp=haproxy; \
		install -d -o hotcert -g $$grp -m 0750 /etc/haproxy/hotcert /etc/haproxy/hotcert/certs; \
		! command -v systemctl >/dev/null || systemctl daemon-reload || true; \
		echo "installed; edit /etc/hotcert/hotcert.yaml, then: systemctl enable --now hotcert"; \
	fi

# vulncheck runs govulncheck with a database built from golang.org/x/vulndb.
vulncheck:
	./scripts/vulncheck

bench:
	$(GO) test -run '^$$' -bench . -benchtime 20x ./...

clean:
	rm -rf bin
