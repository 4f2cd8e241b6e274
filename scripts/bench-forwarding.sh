#!/usr/bin/env bash
# 64-byte forwarding rate between two veth ports: dataplaned (afpacket ports) side by side with
# a Linux bridge on the identical veth set-up, in the same run; prints both and their ratio.
#
#   gen netns                root netns                      sink netns
#   vg<id> ===veth=== va<id> [dataplaned | bridge] vb<id> ===veth=== vs<id>
#
# The generator is dataplane/examples/frame_blaster.rs in the gen namespace (AF_PACKET,
# sendmmsg of 64 frames in a tight loop for SECS seconds; EtherType 0x88B6), unicast to 02:00:00:00:00:02, the
# sink's MAC, which the sink has sent one frame from beforehand so both forwarders learned it.
# Forwarded = delta of the sink veth's rx_packets (read inside its namespace).
# (Kernel pktgen would be the stronger generator but this kernel is built without it:
# CONFIG_NET_PKTGEN is not set.)
#
# `udp` mode: the same over UDP cables on loopback. dataplaned has two front ports on UDP
# cables; frame_blaster (a UdpBackend) sends 64-byte frames to port 0/1's local address, and a
# second frame_blaster --count-rx bound to port 0/2's peer address counts datagrams. For
# reference, the same generator -> sink straight, without dataplaned in the middle.
#
# Usage: scripts/bench-forwarding.sh [veth|udp] [SECS=10] [RUNS=2]   (veth needs root)
# Environment: PIN=1 pins the generator to CPU 0 and dataplaned to CPU 1 (default: unpinned);
#              LEN=60 frame length without FCS (60 = a 64-byte frame on the wire);
#              RPS=1 steers A's receive processing to CPU 1 (rps_cpus), in both runs: the bridge
#              then forwards on CPU 1 instead of in the generator's softirq on CPU 0;
#              COPYING=1 adds a third measurement to each run (veth): dataplaned with its
#              memory-mapped rings off (DATAPLANED_AFPACKET_RINGS=0, the recvmmsg/sendmmsg path),
#              run from COPYING_DPD=PATH if set (e.g. an older build, for a before/after);
#              NO_BUILD=1 uses the binaries in target/release as they are;
#              DPD=PATH runs that dataplaned binary instead (to compare builds in the same conditions).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=veth
case "${1:-}" in veth|udp) mode="$1"; shift ;; esac
secs="${1:-10}"
runs="${2:-2}"
len="${LEN:-60}"
pin="${PIN:-0}"
if [ "$mode" = udp ]; then
    [ "${NO_BUILD:-0}" = 1 ] || cargo build --release -q -p dataplane --bin dataplaned --example frame_blaster
    dpd="${DPD:-$PWD/target/release/dataplaned}"
    blaster="$PWD/target/release/examples/frame_blaster"
    tmp=$(mktemp -d /tmp/bench-udp.XXXXXX)
    dpd_pid=""
    trap '[ -n "$dpd_pid" ] && kill "$dpd_pid" 2>/dev/null; wait; rm -rf "$tmp"' EXIT INT TERM
    base=$((20000 + $$ % 20000))
    G=127.0.0.1:$base; P1=127.0.0.1:$((base + 1)); P2=127.0.0.1:$((base + 2)); S=127.0.0.1:$((base + 3))
    # taskset or nothing, then the command (exec'd, so a backgrounded one's $! is the command's).
    pinned() { if [ "$pin" = 1 ]; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }
    # gen -> sink; $1 = label, $2 = where the generator sends, $3 = the sink's peer.
    udp_measure() {
        local label="$1" to="$2" from="$3"
        "$blaster" udp "$S" "$from" --once --src 02:00:00:00:00:02 --dst 02:00:00:00:00:01 >/dev/null
        sleep 0.2
        "$blaster" udp "$S" "$from" --count-rx --secs "$((secs + 2))" >"$tmp/sink" &
        local sink_pid=$!
        sleep 0.3
        local out
        out=$(pinned 0 "$blaster" udp "$G" "$to" --secs "$secs" --len "$len")
        wait "$sink_pid"
        local sent t recv
        sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$out")
        t=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$out")
        recv=$(sed -n 's/.*received=\([0-9]*\).*/\1/p' "$tmp/sink")
        awk -v m="$label" -v s="$sent" -v t="$t" -v r="$recv" 'BEGIN {
            printf "%-10s offered %9.0f pps (sent %d in %.2f s) | received %9.0f pps (%d) | %.1f%% of offered\n",
                m, s / t, s, t, r / t, r, 100 * r / (s ? s : 1) }'
        echo "$label $(awk -v r="$recv" -v t="$t" 'BEGIN{printf "%.0f", r / t}')" >>"$tmp/rates"
    }
    echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, kernel $(uname -r)"
    echo "udp cables on loopback: frames of $len bytes (no FCS) in 1 datagram each, ${secs} s per measurement, $runs runs, PIN=$pin"
    echo "gen $G -> dataplaned 0/1 $P1 | 0/2 $P2 -> sink $S"
    for r in $(seq "$runs"); do
        echo "--- run $r"
        RUST_LOG=warn pinned 1 "$dpd" --unit 1 --grpc-socket "$tmp/grpc.sock" \
            --port "0/1,10G,udp,$P1,$G" --port "0/2,10G,udp,$P2,$S" >/dev/null 2>"$tmp/dataplaned.log" &
        dpd_pid=$!
        for _ in $(seq 100); do [ -S "$tmp/grpc.sock" ] && break; sleep 0.05; done
        udp_measure dataplaned "$P1" "$P2"
        kill "$dpd_pid"; wait "$dpd_pid" 2>/dev/null || true; dpd_pid=""
        udp_measure raw "$S" "$G"
    done
    awk '{ sum[$1] += $2; n[$1]++ } END {
        d = sum["dataplaned"] / n["dataplaned"]; b = sum["raw"] / n["raw"];
        printf "mean received: through dataplaned %.0f pps, raw loopback %.0f pps, ratio %.2fx\n", d, b, d / b
    }' "$tmp/rates"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "bench-forwarding: needs root" >&2; exit 1; }

[ "${NO_BUILD:-0}" = 1 ] || cargo build --release -q -p dataplane --bin dataplaned --example frame_blaster --example grpc_bench
dpd="${DPD:-$PWD/target/release/dataplaned}"
blaster="$PWD/target/release/examples/frame_blaster"

id="$$"
gen="dbgen$id"
sink="dbsink$id"
va="va$id"; vb="vb$id"; vg="vg$id"; vs="vs$id"; br="vbr$id"
tmp=$(mktemp -d /tmp/bench-fwd.XXXXXX)
dpd_pid=""

cleanup() {
    set +e
    [ -n "$dpd_pid" ] && kill "$dpd_pid" 2>/dev/null && wait "$dpd_pid" 2>/dev/null
    ip link del "$br" 2>/dev/null
    ip link del "$va" 2>/dev/null
    ip link del "$vb" 2>/dev/null
    ip netns del "$gen" 2>/dev/null
    ip netns del "$sink" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

quiet_v6() { # no IPv6 on the link: no router/neighbour solicitations mixed into the counts
    "$@" sh -c "echo 1 > /proc/sys/net/ipv6/conf/$LINK/disable_ipv6" 2>/dev/null || true
}

ip netns add "$gen"
ip netns add "$sink"
ip link add "$vg" type veth peer name "$va"
ip link add "$vs" type veth peer name "$vb"
ip link set "$vg" netns "$gen"
ip link set "$vs" netns "$sink"
ip -n "$gen" link set "$vg" address 02:00:00:00:00:01
ip -n "$sink" link set "$vs" address 02:00:00:00:00:02
for l in "$va" "$vb"; do LINK=$l quiet_v6 env; ip link set "$l" up; done
LINK=$vg quiet_v6 ip netns exec "$gen"
LINK=$vs quiet_v6 ip netns exec "$sink"
ip -n "$gen" link set "$vg" up
ip -n "$sink" link set "$vs" up
ip -n "$gen" link set lo up
if [ "${RPS:-0}" = 1 ]; then echo 2 >"/sys/class/net/$va/queues/rx-0/rps_cpus"; fi
ip -n "$sink" link set lo up

stat() { cat "/sys/class/net/$1/statistics/$2"; }
# CPU ticks: the whole machine's busy and total (from /proc/stat), and dataplaned's (utime+stime).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
dpd_ticks() { if [ -n "$dpd_pid" ]; then awk '{ print $14 + $15 }' "/proc/$dpd_pid/stat"; else echo 0; fi; }
sink_stat() { ip netns exec "$sink" cat "/sys/class/net/$vs/statistics/$1"; }
gen_run() {
    if [ "$pin" = 1 ]; then
        ip netns exec "$gen" taskset -c 0 "$blaster" "$@"
    else
        ip netns exec "$gen" "$blaster" "$@"
    fi
}

# One measurement through whatever forwards between va and vb now. Prints a result line.
measure() {
    local mode="$1"
    echo "           ($mode: loadavg before: $(cut -d" " -f1-3 /proc/loadavg))"
    # Teach the forwarder where the sink is, and let it settle.
    ip netns exec "$sink" "$blaster" afpacket "$vs" --once --src 02:00:00:00:00:02 --dst 02:00:00:00:00:01 >/dev/null
    gen_run afpacket "$vg" --once --len "$len" >/dev/null
    sleep 0.5
    local s0 a0 b0 g0 d0
    s0=$(sink_stat rx_packets); a0=$(stat "$va" rx_packets); b0=$(stat "$vb" tx_packets)
    g0=$(ip netns exec "$gen" cat "/sys/class/net/$vg/statistics/tx_dropped")
    d0=$(stat "$vb" tx_dropped)
    local c0 p0
    c0=$(busy_ticks); p0=$(dpd_ticks)
    local out
    out=$(gen_run afpacket "$vg" --secs "$secs" --len "$len")
    local c1 p1
    c1=$(busy_ticks); p1=$(dpd_ticks)
    sleep 1 # drain
    local s1 a1 b1 g1 d1
    s1=$(sink_stat rx_packets); a1=$(stat "$va" rx_packets); b1=$(stat "$vb" tx_packets)
    g1=$(ip netns exec "$gen" cat "/sys/class/net/$vg/statistics/tx_dropped")
    d1=$(stat "$vb" tx_dropped)
    local sent gsecs
    sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$out")
    gsecs=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$out")
    awk -v m="$mode" -v sent="$sent" -v t="$gsecs" -v arr=$((a1 - a0)) -v fwd=$((s1 - s0)) \
        -v btx=$((b1 - b0)) -v gdrop=$((g1 - g0)) -v bdrop=$((d1 - d0)) 'BEGIN {
        printf "%-10s offered %9.0f pps (sent %d in %.2f s, gen veth drops %d) | at A %9.0f pps | forwarded %9.0f pps (%d; B tx %d, B tx_dropped %d) | %.1f%% of offered\n",
            m, sent / t, sent, t, gdrop, arr / t, fwd / t, fwd, btx, bdrop, 100 * fwd / (sent ? sent : 1)
    }'
    awk -v c0="$c0" -v c1="$c1" -v p0="$p0" -v p1="$p1" -v hz="$(getconf CLK_TCK)" -v t="$gsecs" 'BEGIN {
        split(c0, a, " "); split(c1, b, " ");
        printf "           CPU while sending: machine %.0f%% busy of %d CPUs", 100 * (b[1] - a[1]) / (b[2] - a[2]), '"$(nproc)"';
        if (p1 > 0) printf ", dataplaned %.0f%% of one CPU", 100 * (p1 - p0) / hz / t;
        printf "\n" }'
    echo "$mode $(awk -v f=$((s1 - s0)) -v t="$gsecs" 'BEGIN{printf "%.0f", f / t}')" >>"$tmp/rates"
}

run_dataplaned() {
    local label="${1:-dataplaned}" rings="${2:-1}" bin="${3:-$dpd}"
    local sock="$tmp/grpc.sock"
    local cmd=("$bin" --unit 1 --grpc-socket "$sock"
        --port "0/1,10G,afpacket,$va" --port "0/2,10G,afpacket,$vb")
    if [ "$pin" = 1 ]; then cmd=(taskset -c 1 "${cmd[@]}"); fi
    DATAPLANED_AFPACKET_RINGS="$rings" RUST_LOG=warn "${cmd[@]}" >/dev/null 2>"$tmp/dataplaned.log" &
    dpd_pid=$!
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
    [ -S "$sock" ] || { echo "dataplaned did not start:" >&2; cat "$tmp/dataplaned.log" >&2; exit 1; }
    measure "$label"
    # The daemon's own view: frames it read off A (the rest of "at A" overflowed its socket).
    "$PWD/target/release/examples/grpc_bench" --socket "$sock" --counters | sed 's/^/           dataplaned /'
    kill "$dpd_pid"; wait "$dpd_pid" 2>/dev/null || true; dpd_pid=""
}

run_bridge() {
    ip link add "$br" type bridge stp_state 0 forward_delay 0 ageing_time 30000 mcast_snooping 0
    LINK=$br quiet_v6 env
    ip link set "$va" master "$br"
    ip link set "$vb" master "$br"
    ip link set "$br" up
    sleep 0.2
    measure bridge
    ip link del "$br"
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, kernel $(uname -r)"
echo "frames: $((len + 4)) bytes on the wire ($len without FCS), ${secs} s per measurement, $runs runs, PIN=$pin RPS=${RPS:-0}"
for r in $(seq "$runs"); do
    echo "--- run $r"
    run_dataplaned
    run_bridge
    if [ "${COPYING:-0}" = 1 ]; then run_dataplaned copying 0 "${COPYING_DPD:-$dpd}"; fi
done
awk '{ sum[$1] += $2; n[$1]++ } END {
    d = sum["dataplaned"] / n["dataplaned"]; b = sum["bridge"] / n["bridge"];
    printf "mean forwarded: dataplaned %.0f pps, bridge %.0f pps, ratio dataplaned/bridge %.2fx\n", d, b, d / b
    if (n["copying"] > 0) {
        c = sum["copying"] / n["copying"];
        printf "mean forwarded without rings (copying): %.0f pps, ratio copying/bridge %.2fx\n", c, c / b
    }
}' "$tmp/rates"
