#!/usr/bin/env bash
# gRPC benchmark of dataplaned: starts a fresh dataplaned (two front ports on UDP cables on
# loopback, no traffic) on a private Unix socket and runs dataplane/examples/grpc_bench.rs
# against it RUNS times: static FDB entries programmed per second through batched Writes (SET
# and DELETE), and the round-trip latency of GetCounters and of a one-entry Write.
#
# Usage: scripts/bench-grpc.sh [RUNS=2] [-- grpc_bench options, e.g. --batch 10000 --inflight 2]
# Environment: PIN=1 pins dataplaned to CPU 1 and the client to CPU 0 (default: unpinned);
#              PIN=control runs dataplaned's forwarding thread on CPU 1 and its gRPC threads on
#              CPU 0 with the client (--forwarding-cpu 1 --control-cpus 0: a control plane and
#              the dataplane API it calls on the same CPU, as docs/dataplaned.md recommends);
#              DPD=PATH runs that dataplaned binary instead of target/release/dataplaned (to
#              compare builds under the same conditions); NO_BUILD=1 skips the cargo build.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=2
if [ $# -gt 0 ] && [ "$1" != "--" ]; then runs="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
pin="${PIN:-0}"
[ "${NO_BUILD:-0}" = 1 ] || cargo build --release -q -p dataplane --bin dataplaned --example grpc_bench
dpd="${DPD:-target/release/dataplaned}"
tmp=$(mktemp -d /tmp/bench-grpc.XXXXXX)
dpd_pid=""
trap '[ -n "$dpd_pid" ] && kill "$dpd_pid" 2>/dev/null; wait; rm -rf "$tmp"' EXIT INT TERM
# taskset or nothing, then the command (exec'd, so a backgrounded one's $! is the command's).
pinned() { if [ "$pin" = 1 ] || [ "$pin" = control ]; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }
placement=()
if [ "$pin" = control ]; then placement=(--forwarding-cpu 1 --control-cpus 0); fi
base=$((40000 + $$ % 20000))
sock="$tmp/grpc.sock"
dpd_cpus=1
[ "$pin" = control ] && dpd_cpus=0-1
RUST_LOG=warn pinned "$dpd_cpus" "$dpd" --unit 1 --grpc-socket "$sock" "${placement[@]}" \
    --port "0/1,10G,udp,127.0.0.1:$base,127.0.0.1:$((base + 1))" \
    --port "0/2,10G,udp,127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))" >/dev/null 2>"$tmp/dataplaned.log" &
dpd_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { echo "dataplaned did not start:" >&2; cat "$tmp/dataplaned.log" >&2; exit 1; }
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, kernel $(uname -r), PIN=$pin, dataplaned $dpd"
for r in $(seq "$runs"); do
    echo "--- run $r (loadavg before: $(cut -d" " -f1-3 /proc/loadavg))"
    (pinned 0 target/release/examples/grpc_bench --socket "$sock" "$@")
done
grep -E 'WARN|ERROR' "$tmp/dataplaned.log" | head -5 || true
