#!/usr/bin/env bash
# Runs the cluster cache example against a fresh server once per variant and
# checks each run with test/load.js. Exits non-zero if any variant fails, and
# stops every process it started.
#
#   test/run.sh [--server PATH] [--keep-logs] [VARIANT...] [-- LOAD OPTIONS...]
#
# PATH is forkv-server (default: $FORKV_BIN) or redis-server; both are started
# as `PATH --port N --bind 127.0.0.1 --save "" --dir TMP`. VARIANTs:
# ioredis (RESP3, the ioredis default), ioredis-resp2, node-redis, and
# ioredis-unix / node-redis-unix (the app reaches the server over its Unix
# socket, `--unixsocket`); default: all but node-redis-unix.
# Options after `--` go to test/load.js (e.g. `-- --requests 2000`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
server="${FORKV_BIN:-}"
keep_logs=0
variants=()
load_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --server) server="$2"; shift 2 ;;
        --keep-logs) keep_logs=1; shift ;;
        --) shift; load_args=("$@"); break ;;
        -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) variants+=("$1"); shift ;;
    esac
done
[ "${#variants[@]}" -gt 0 ] || variants=(ioredis ioredis-resp2 node-redis ioredis-unix)
if [ -z "$server" ]; then
    echo "run.sh: no server: pass --server PATH or set FORKV_BIN" >&2
    exit 2
fi
server="$(command -v "$server" || true)"
if [ -z "$server" ] || [ ! -x "$server" ]; then
    echo "run.sh: server binary not found or not executable" >&2
    exit 2
fi
if [ ! -d "$here/node_modules" ]; then
    echo "run.sh: run 'npm ci' in $here first" >&2
    exit 2
fi

tmp="$(mktemp -d)"
server_pid=""
cluster_pid=""

# Waits up to $2 tenths of a second for process $1 to exit.
wait_exit() {
    local pid=$1 tenths=$2
    while [ "$tenths" -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
        tenths=$((tenths - 1))
    done
    ! kill -0 "$pid" 2>/dev/null
}

# SIGTERM, then SIGKILL if it is still there after $2 tenths of a second.
stop_pid() {
    local pid=$1 tenths=$2
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    wait_exit "$pid" "$tenths" || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_cluster() {
    local log=$1 workers pid
    [ -n "$cluster_pid" ] || return 0
    stop_pid "$cluster_pid" 100
    cluster_pid=""
    # Workers exit when the primary goes; make sure of it.
    workers="$(sed -n 's/^ready: .*, workers //p' "$log" 2>/dev/null | head -n 1)"
    for pid in $workers; do
        wait_exit "$pid" 30 || kill -KILL "$pid" 2>/dev/null || true
    done
}

stop_server() {
    stop_pid "$server_pid" 50
    server_pid=""
}

cleanup() {
    stop_cluster "$tmp/current-cluster.log"
    stop_server
    if [ "$keep_logs" -eq 1 ]; then
        echo "logs kept in $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_ports() {
    node -e '
        const net = require("node:net");
        const servers = [0, 1].map(() => net.createServer());
        Promise.all(servers.map((s) => new Promise((r) => s.listen(0, "127.0.0.1", r)))).then(() => {
            console.log(servers.map((s) => s.address().port).join(" "));
            servers.forEach((s) => s.close());
        });'
}

wait_port() {
    local port=$1 tenths=100
    while [ "$tenths" -gt 0 ]; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
        tenths=$((tenths - 1))
    done
    return 1
}

run_variant() {
    local name=$1 dir="$tmp/$1" status=0 redis_port http_port
    local -a app_args server_args=()
    case "$name" in
        ioredis) app_args=(--variant ioredis --protocol 3) ;;
        ioredis-resp2) app_args=(--variant ioredis --protocol 2) ;;
        node-redis) app_args=(--variant node-redis) ;;
        ioredis-unix) app_args=(--variant ioredis --protocol 3 --redis-socket "$dir/server.sock") ;;
        node-redis-unix) app_args=(--variant node-redis --redis-socket "$dir/server.sock") ;;
        *) echo "unknown variant $name" >&2; return 2 ;;
    esac
    case "$name" in
        *-unix) server_args=(--unixsocket "$dir/server.sock" --unixsocketperm 700) ;;
    esac
    mkdir -p "$dir"
    read -r redis_port http_port < <(free_ports)
    printf '\n--- %s: %s on port %s, cluster on port %s\n' "$name" "$(basename "$server")" "$redis_port" "$http_port"

    "$server" --port "$redis_port" --bind 127.0.0.1 --save "" --dir "$dir" "${server_args[@]}" >"$dir/server.log" 2>&1 &
    server_pid=$!
    if ! wait_port "$redis_port"; then
        echo "server did not start:"
        tail -n 20 "$dir/server.log"
        stop_server
        return 1
    fi

    ln -sf "$dir/cluster.log" "$tmp/current-cluster.log"
    node "$here/app.js" "${app_args[@]}" --redis "redis://127.0.0.1:$redis_port" --port "$http_port" \
        >"$dir/cluster.log" 2>&1 &
    cluster_pid=$!

    timeout 120 node "$here/test/load.js" --url "http://127.0.0.1:$http_port" --pid "$cluster_pid" "${load_args[@]}" || status=$?
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "FAIL: the server exited during the run"
        status=1
    fi
    stop_cluster "$dir/cluster.log"
    stop_server
    if [ "$status" -ne 0 ]; then
        echo "--- $name: last lines of the cluster log"
        tail -n 30 "$dir/cluster.log"
        echo "--- $name: last lines of the server log"
        tail -n 20 "$dir/server.log"
    fi
    return "$status"
}

failed=()
for variant in "${variants[@]}"; do
    run_variant "$variant" || failed+=("$variant")
done
echo
if [ "${#failed[@]}" -gt 0 ]; then
    echo "node cluster cache: FAILED: ${failed[*]} (of ${variants[*]})"
    exit 1
fi
echo "node cluster cache: passed: ${variants[*]}"
