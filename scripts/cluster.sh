#!/usr/bin/env bash
# `make cluster`: a local PostgreSQL from Debian's packages with its data under ./data/pg, and two TinyChat nodes
# sharing it on http://localhost:4001 and http://localhost:4002. Ctrl+C stops all three. See docs/cluster.md.
#
# PG_PORT=N picks PostgreSQL's port (default: a free one); NODE_PORTS="4001 4002" the nodes' HTTP ports.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
data="$repo/data/pg"
node_ports=(${NODE_PORTS:-4001 4002})
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "PostgreSQL is not installed: run 'make postgres' (Debian's postgresql)" >&2
  exit 2
fi

# PostgreSQL refuses to run as root: then its files belong to, and it runs as, the postgres user.
as_pg=()
if [ "$(id -u)" = 0 ]; then
  as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi

mkdir -p "$data"
if [ ${#as_pg[@]} -gt 0 ]; then
  chown postgres:postgres "$data"
  if ! "${as_pg[@]}" test -w "$data"; then
    echo "the postgres user cannot write $data (a parent folder is closed to it); clone the repository somewhere it can reach" >&2
    exit 2
  fi
fi

if [ ! -f "$data/PG_VERSION" ]; then
  echo "creating a PostgreSQL cluster in $data"
  "${as_pg[@]}" "$bin/initdb" -D "$data" -U tinychat -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi

port=${PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
for p in "$port" "${node_ports[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "port $p is taken (set PG_PORT or NODE_PORTS)" >&2
    exit 2
  fi
done

pids=()
stop() {
  trap - INT TERM EXIT
  [ ${#pids[@]} -gt 0 ] || return 0
  echo
  echo "stopping the nodes and PostgreSQL"
  for pid in "${pids[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:1}"; do wait "$pid" 2>/dev/null || true; done
  "${as_pg[@]}" "$bin/pg_ctl" stop -D "$data" -m fast -w >/dev/null 2>&1 || true
  wait "${pids[0]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

"${as_pg[@]}" "$bin/postgres" -D "$data" -p "$port" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories="$data" -c max_connections=200 -c log_min_messages=warning &
pids+=($!)
for _ in $(seq 1 100); do
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U tinychat && break
  sleep 0.1
done
"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U tinychat || { echo "PostgreSQL did not start" >&2; exit 1; }
if ! "$bin/psql" -h 127.0.0.1 -p "$port" -U tinychat -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'tinychat'" | grep -q 1; then
  "$bin/createdb" -h 127.0.0.1 -p "$port" -U tinychat tinychat
fi
echo "PostgreSQL on 127.0.0.1:$port, data in $data"

dotnet build "$repo/TinyChat" -c Release -v quiet -nologo >/dev/null
export TINYCHAT__Storage__ConnectionString="Host=127.0.0.1;Port=$port;Username=tinychat;Database=tinychat"
irc=6667
for p in "${node_ports[@]}"; do
  dotnet "$repo/TinyChat/bin/Release/net10.0/tinychat.dll" --config "$repo/chat.config.json" --static "$repo/static" \
    --port "$p" --Storage:Provider postgres --Cluster:NodeName "node-$p" --Irc:Port "$irc" > >(sed -u "s/^/[node-$p] /") 2>&1 &
  pids+=($!)
  irc=$((irc + 1))
done

echo "nodes: ${node_ports[*]/#/http://localhost:}  (open /chat.html?access_token=foo_token on one, bar_token on the other)"
echo "Ctrl+C stops all three"
wait "${pids[0]}"
