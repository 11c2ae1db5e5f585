# TinyChat: the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
DOTNET ?= dotnet
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-fast build format publish bench bench-quick bench-storage bench-cluster growth soak browser clean irctest irc-deps node postgres nginx promtool cluster

# From the repository's own chat.config.json and static/, so data lands in ./data (next to the config file).
run:
	$(DOTNET) run --project TinyChat -c Release -- --config chat.config.json --static static

build:
	$(DOTNET) build TinyChat.sln -c Debug

# A local PostgreSQL (Debian's packages, data in ./data/pg, as the postgres user when run as root, on a free port or
# PG_PORT) and two nodes sharing it on http://localhost:4001 and :4002; Ctrl+C stops all three (docs/cluster.md).
cluster: postgres
	./scripts/cluster.sh

# Installs what the tests need that a fresh machine lacks (Debian's chromium for the browser tests, Debian's
# nodejs/npm and the pinned phoenix.js for the Phoenix tests, Debian's postgresql for the PostgreSQL store and
# cluster tests, Debian's nginx for the TLS deployment test), checks formatting, then runs every test.
test: browser irc-deps node postgres nginx promtool
	$(DOTNET) format TinyChat.sln --verify-no-changes
	@log=$$(mktemp); set -o pipefail; \
	$(DOTNET) test TinyChat.sln -c Debug --logger "console;verbosity=normal" 2>&1 | tee "$$log"; rc=$$?; \
	if [ $$rc -ne 0 ]; then ./scripts/failed-tests.sh "$$log"; fi; rm -f "$$log"; exit $$rc
	@if [ -z "$(CHECKOUT_DIRTY_BEFORE_TEST)" ] && [ -n "$$(git status --porcelain 2>/dev/null)" ]; then \
	  echo "make test left the checkout dirty (tests may write only to temporary or ignored paths):"; \
	  git status --porcelain; exit 1; \
	fi

# Read when make starts, before the tests run: a checkout with local edits is not held to a clean one afterwards.
test: CHECKOUT_DIRTY_BEFORE_TEST := $(shell git status --porcelain 2>/dev/null | grep -q . && echo yes)

# The README's screenshots (docs/screenshot.png at desktop width, docs/screenshot-phone.png at 360 px).
.PHONY: screenshot
screenshot: browser
	TINYCHAT_SCREENSHOT_DIR="$(CURDIR)/docs" $(DOTNET) test TinyChat.sln -c Debug --filter "FullyQualifiedName~ReadmeScreenshots"

# The inner loop: everything but the browser tests (Category Browser) and the tests that launch the server
# executable as a separate process (Category Process).
test-fast:
	$(DOTNET) test TinyChat.sln -c Debug --filter "TestCategory!=Browser&TestCategory!=Process"

browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "installing Debian chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

# Debian's python3-irc, the IRC client library of the two-client conversation test (TinyChat.Tests/Irc).
irc-deps:
	@if ! /usr/bin/python3 -c 'import irc.client' 2>/dev/null; then \
	  echo "installing Debian python3-irc for the IRC client test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-irc >/dev/null; \
	fi

# Debian's postgresql server binaries; the tests start their own server in a temporary directory on a free port
# (as the postgres user when run as root) and never touch a system cluster.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "installing Debian postgresql for the PostgreSQL tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; \
	fi

# Debian's nginx for the TLS deployment test (TinyChat.Tests/Operations/NginxTlsTests), which runs its own nginx
# from a temp folder on a free port. RUNLEVEL=1 keeps the package from starting a system nginx on port 80.
nginx:
	@if [ ! -x /usr/sbin/nginx ]; then \
	  echo "installing Debian nginx for the TLS deployment test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx >/dev/null; \
	fi

# Debian's promtool (package prometheus) checks /metrics in TinyChat.Tests/Operations/MetricsTests. RUNLEVEL=1 keeps
# the package from starting a system Prometheus.
promtool:
	@if [ ! -x /usr/bin/promtool ]; then \
	  echo "installing Debian prometheus (promtool) for the metrics format test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	fi

# The Phoenix tests drive the unmodified npm phoenix client from Node (versions pinned in package-lock.json).
PHOENIX_JS := TinyChat.Tests/Phoenix/js
node:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  echo "installing Debian nodejs and npm for the Phoenix tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; \
	fi
	@if [ ! -d "$(PHOENIX_JS)/node_modules/phoenix" ]; then \
	  cd $(PHOENIX_JS) && npm ci --no-audit --no-fund --loglevel=error; \
	fi

format:
	$(DOTNET) format TinyChat.sln

publish:
	$(DOTNET) publish TinyChat/TinyChat.csproj -c Release -r linux-x64 --self-contained true \
	  -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true -o dist
	@echo "dist/tinychat (with dist/static and dist/chat.config.json next to it)"

# Load generator: TinyChat against the raw peers in ../shared/peers, same scenarios, same run (docs/performance.md).
# The open-file soft limit is raised to the hard limit for the bench and the servers it starts.
# Pass options with BENCH_ARGS, e.g. make bench BENCH_ARGS="--runs 5 --seconds 6".
BENCH_ARGS ?=
bench: postgres
	ulimit -n $$(ulimit -Hn); $(DOTNET) run --project TinyChat.Bench -c Release -- all $(BENCH_ARGS)

bench-quick: postgres
	ulimit -n $$(ulimit -Hn); $(DOTNET) run --project TinyChat.Bench -c Release -- quick $(BENCH_ARGS)

# Durable acknowledged messages/s across 32 rooms, SQLite (tinychat) vs PostgreSQL (tinychat-pg, a server of the
# bench's own from Debian's postgresql, fsync on) in the same run; part of `make bench` too.
bench-storage: postgres
	ulimit -n $$(ulimit -Hn); $(DOTNET) run --project TinyChat.Bench -c Release -- durable-rooms --targets tinychat,tinychat-pg $(BENCH_ARGS)

# The cluster scenarios (docs/cluster.md): PostgreSQL of the bench's own and two TinyChat nodes; fan-out of one room
# of 1,000 members over two nodes vs one node, and cross-node latency vs same-node, each pair in the same run.
bench-cluster: postgres
	ulimit -n $$(ulimit -Hn); $(DOTNET) run --project TinyChat.Bench -c Release -- cluster-fanout,cluster-latency --targets tinychat-cluster $(BENCH_ARGS)

# 100,000 users and rooms touched once, then idle: does memory come back? (GROWTH_ARGS: --users N --idle S --compact-after N --sample N)
growth:
	$(DOTNET) run --project TinyChat.Bench -c Release -- growth $(GROWTH_ARGS)

# One TinyChat (Release, SQLite, rate limits on) under mixed traffic for 10 minutes (SOAK_SECONDS to change it): memory,
# descriptors, GC pauses and p99 latency per minute, the slopes over the last 5 minutes and a verdict (docs/performance.md).
SOAK_SECONDS ?= 600
soak:
	ulimit -n $$(ulimit -Hn); SOAK_SECONDS=$(SOAK_SECONDS) $(DOTNET) run --project TinyChat.Bench -c Release -- soak

# Build output only: dist/ is an installation, so its data/ (the published server's database) and its
# chat.config.json survive; so does ./data.
clean:
	rm -rf */bin */obj dist/tinychat dist/*.pdb dist/static

# The IRC conformance suite (progval/irctest, unpacked and run by ../shared/irctest/run-irctest.sh) against a fresh
# in-memory TinyChat with guests allowed, on a free port. Pass irctest options through the environment, e.g.
# make irctest IRCTEST_MODULES="chathistory".
IRCTEST ?= ../shared/irctest/run-irctest.sh
irctest: build
	@set -u; log=$$(mktemp); \
	$(DOTNET) TinyChat/bin/Debug/net10.0/tinychat.dll --config chat.config.json --static static --host 127.0.0.1 --port 0 \
	  --Storage:Provider memory --Irc:Port 0 --Irc:AllowGuests true --Irc:ServerName My.Little.Server \
	  --Limits:MaxRoomsCreatedPerUser 100000 --Logging:LogLevel:Default Information >"$$log" 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; rm -f "$$log"' EXIT; \
	for i in $$(seq 1 100); do grep -q "IRC listening on" "$$log" && break; sleep 0.2; done; \
	port=$$(sed -n 's/.*IRC listening on [0-9.]*:\([0-9]*\).*/\1/p' "$$log" | head -1); \
	[ -n "$$port" ] || { cat "$$log"; echo "TinyChat did not start"; exit 2; }; \
	echo "TinyChat IRC on 127.0.0.1:$$port"; \
	$(IRCTEST) 127.0.0.1 $$port
