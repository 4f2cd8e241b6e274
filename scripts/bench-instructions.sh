#!/usr/bin/env bash
# Instructions per forwarded frame through the engine pipeline, counted by callgrind.
#
# Wall-clock benchmarks on a shared VM wander by ±10%; an instruction count does not. This runs
# the criterion pipeline benchmark (dataplane/benches/pipeline.rs) under callgrind and divides
# the instructions spent in Engine::handle_frame + Engine::poll_transmit (inclusive; its per-port
# transmit_from when poll_transmit is inlined into the caller) by the
# number of frames handled. Needs valgrind (apt-get install valgrind).
#
# Usage: scripts/bench-instructions.sh [64B|1500B]
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-64B}"
cargo bench -p dataplane --bench pipeline --no-run 2>/dev/null
bin=$(ls -t target/release/deps/pipeline-* | grep -v '\.d$' | head -1)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --bench --profile-time 2 "$size" >/dev/null 2>&1
python3 - "$out" "$size" <<'PY'
import re, sys
path, size = sys.argv[1], sys.argv[2]
names, calls, incl = {}, {}, {}
cur = None
fn_cost = {}
lines = open(path).read().split("\n")
i = 0
while i < len(lines):
    l = lines[i]
    m = re.match(r"cfn=\((\d+)\)(?: (.*))?", l)
    if m:
        cur = m.group(1)
        if m.group(2):
            names[cur] = m.group(2)
    else:
        m = re.match(r"fn=\((\d+)\)(?: (.*))?", l)
        if m and m.group(2):
            names[m.group(1)] = m.group(2)
        m = re.match(r"calls=(\d+)", l)
        if m and cur:
            calls[cur] = calls.get(cur, 0) + int(m.group(1))
            # The next line holds the inclusive cost of this call.
            cost = lines[i + 1].split()
            if len(cost) >= 2:
                incl[cur] = incl.get(cur, 0) + int(cost[1])
            cur = None
    i += 1
def find(suffix):
    ids = [k for k, v in names.items() if v.endswith(suffix)]
    return sum(calls.get(k, 0) for k in ids), sum(incl.get(k, 0) for k in ids)
frames, ingress = find("Engine>::handle_frame")
_, egress = find("Engine>::poll_transmit")
if egress == 0:
    # poll_transmit is #[inline]: count the per-port transmit it calls.
    _, egress = find("Engine>::transmit_from")
if frames == 0:
    sys.exit("no calls to handle_frame found (inlined?)")
print(f"{size}: {frames} frames; instructions per frame: handle_frame {ingress/frames:.0f} + poll_transmit {egress/frames:.0f} = {(ingress+egress)/frames:.0f}")
PY
