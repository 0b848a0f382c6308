#!/usr/bin/env bash
# Protected mode from a real non-loopback peer: a network namespace made
# for this test (a veth pair on a private /24) plays a remote host. Checks
# that forkv, like Redis, answers the DENIED error to remote clients when no
# password is set, serves loopback clients, and lets remote clients in once
# protected mode is off or a password is set; and that
# `enable-debug-command local` / `enable-protected-configs local` admit
# loopback clients only. The same checks run against real redis-server as
# the reference. Needs root (ip netns); skips otherwise.
set -u
BIN="${FORKV_BIN:-target/debug/forkv-server}"
NS="fkvpm$$"
HOST_IF="fkvh$$"
NS_IF="fkvn$$"
HOST_IP=10.213.77.1
NS_IP=10.213.77.2
pass=0
fail=0
pids=()

check() { # name, expected substring, actual
    if [[ "$3" == *"$2"* ]]; then
        echo "PASS $1"
        pass=$((pass + 1))
    else
        echo "FAIL $1: expected '$2', got '$3'"
        fail=$((fail + 1))
    fi
}

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    ip link del "$HOST_IF" 2>/dev/null
    rm -rf "$tmp"
}

if [ "$(id -u)" -ne 0 ] || ! ip netns add "$NS" 2>/dev/null; then
    echo "protected_mode: skipped (needs root and ip netns)"
    echo "0 passed, 0 failed"
    exit 0
fi
tmp=$(mktemp -d)
trap cleanup EXIT
ip link add "$HOST_IF" type veth peer name "$NS_IF"
ip link set "$NS_IF" netns "$NS"
ip addr add "$HOST_IP/24" dev "$HOST_IF"
ip link set "$HOST_IF" up
ip netns exec "$NS" ip addr add "$NS_IP/24" dev "$NS_IF"
ip netns exec "$NS" ip link set "$NS_IF" up
ip netns exec "$NS" ip link set lo up

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # binary, port, extra args...
    local bin=$1 port=$2
    shift 2
    "$bin" --port "$port" --bind "$HOST_IP" 127.0.0.1 --save '' --dir "$tmp" "$@" >"$tmp/log-$port" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        redis-cli -p "$port" ping 2>/dev/null | grep -q -e PONG -e NOAUTH && return 0
        sleep 0.05
    done
    echo "server $bin did not start"; cat "$tmp/log-$port"; return 1
}

remote() { ip netns exec "$NS" timeout 5 redis-cli -h "$HOST_IP" "$@" 2>&1 | head -c 300; }

for impl in forkv redis; do
    if [ "$impl" = forkv ]; then bin="$BIN"; else bin=$(command -v redis-server || true); fi
    if [ -z "$bin" ]; then
        if [ "${FORKV_REQUIRE_REDIS:-0}" = 1 ]; then echo "FAIL redis-server required"; fail=$((fail + 1)); fi
        continue
    fi
    port=$(free_port)
    start "$bin" "$port" || { fail=$((fail + 1)); continue; }
    check "$impl: remote client denied" "DENIED Redis is running in protected mode" "$(remote -p "$port" ping)"
    check "$impl: loopback client served" "PONG" "$(redis-cli -p "$port" ping)"
    redis-cli -p "$port" config set protected-mode no >/dev/null
    check "$impl: remote served without protected mode" "PONG" "$(remote -p "$port" ping)"
    port2=$(free_port)
    start "$bin" "$port2" --requirepass s3cret || { fail=$((fail + 1)); continue; }
    check "$impl: remote with password must AUTH" "NOAUTH" "$(remote -p "$port2" ping)"
    check "$impl: remote after AUTH served" "PONG" "$(remote -p "$port2" -a s3cret --no-auth-warning ping)"
    # enable-debug-command / enable-protected-configs local: local clients only.
    port3=$(free_port)
    start "$bin" "$port3" --protected-mode no --enable-debug-command local --enable-protected-configs local \
        || { fail=$((fail + 1)); continue; }
    check "$impl: DEBUG from loopback with local" "OK" "$(redis-cli -p "$port3" debug sleep 0)"
    check "$impl: DEBUG from remote with local refused" \
        'ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", you can run it from a local connection' \
        "$(remote -p "$port3" debug sleep 0)"
    check "$impl: CONFIG SET dir from remote with local refused" "can't set protected config" \
        "$(remote -p "$port3" config set dir "$tmp")"
    check "$impl: CONFIG SET dir from loopback with local" "OK" "$(redis-cli -p "$port3" config set dir "$tmp")"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
