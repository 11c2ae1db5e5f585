# TinyChat: the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
DOTNET ?= dotnet
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-fast build format publish bench bench-quick browser node clean

# From the repository's own chat.config.json and static/, so data lands in ./data (next to the config file).
run:
	$(DOTNET) run --project TinyChat -c Release -- --config chat.config.json --static static

build:
	$(DOTNET) build TinyChat.sln -c Debug

# Installs what the tests need that a fresh machine lacks (Debian's chromium for the browser tests, Debian's
# nodejs/npm and the pinned phoenix.js for the Phoenix tests), checks formatting, then runs every test.
test: browser node
	$(DOTNET) format TinyChat.sln --verify-no-changes
	$(DOTNET) test TinyChat.sln -c Debug --logger "console;verbosity=normal"

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
bench:
	ulimit -n $$(ulimit -Hn); $(DOTNET) run --project TinyChat.Bench -c Release -- all $(BENCH_ARGS)

bench-quick:
	ulimit -n $$(ulimit -Hn); $(DOTNET) run --project TinyChat.Bench -c Release -- quick $(BENCH_ARGS)

# Build output only: dist/ is an installation, so its data/ (the published server's database) and its
# chat.config.json survive; so does ./data.
clean:
	rm -rf */bin */obj dist/tinychat dist/*.pdb dist/static
