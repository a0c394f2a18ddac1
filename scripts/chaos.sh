#!/usr/bin/env bash
# Chaos run: a 3-tenant fleet (simulator + supervisor + workers, in a temp dir, loopback only)
# under steady mixed load for DURATION seconds (default 300) while faults are injected at random
# (seeded; the seed is printed): worker SIGKILL/SIGSTOP, upstream 401/477/500/hang/mid-stream
# drop/garbage on JWTs, the simulator's wire variants (POST /_sim/protocol), reloads adding/removing
# a JWT (SIGHUP, POST /reload, ctl reload), client disconnects; and hostile clients next to the
# well-formed load (scripts/chaos/hostile.py): slowloris heads, stalled and trickled bodies,
# readers that stop mid-stream, bursts of 2,000 connections, malformed requests, bad calls to the
# control socket and to `ctl`. The fleet's client limits are set short (fleet.py LIMITS).
# Prints every failed request with its cause, faults by kind, each hostile kind with its expected
# and seen outcomes, the well-formed requests' success rate and p99 (during hostile acts and not),
# orphans, fds (supervisor; workers after the hostile clients are gone) and RSS. Exit 0 only with
# zero unexplained failures, every hostile act answered as expected, no orphan process, no fd
# leak and RSS within bounds; 1 otherwise; 2 when the run could not be set up.
# CI smoke test: scripts/chaos.sh 60 --quiet
#
#   scripts/chaos.sh [DURATION_SECONDS] [--seed N] [--release] [--clients N] [--interval MIN,MAX]
#                    [--skip KIND,...] [--no-hostile] [--burst N] [--keep] [--quiet]
#
#   --seed N        replay the fault schedule of an earlier run
#   --release       build and run the release configuration (default: debug, like scripts/test.sh)
#   --clients N     concurrent clients per tenant (default 3)
#   --interval A,B  seconds between two faults, uniform in [A, B] (default 0.5,2.5)
#   --skip KINDS    fault kinds not to inject: sigkill, sigstop, status_401, status_477,
#                   status_500, hang, drop, garbage, protocol, reload, client_disconnect
#   --no-hostile    no hostile clients
#   --burst N       connections per burst (default 2000; less when RLIMIT_NOFILE leaves no
#                   headroom: the runner raises its soft limit to the hard one, capped at 65536)
#   --keep          keep the run directory (timeline.jsonl, logs) even when the run passes
#   --quiet         list only the unexplained failures, not every failure
#
# JBAI_BIN_DIR=DIR skips the build and uses the binaries in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

config=debug
args=()
for arg in "$@"; do
    if [ "$arg" = "--release" ]; then config=release; else args+=("$arg"); fi
done

if ! python3 -c 'import httpx, yaml' 2>/dev/null; then
    echo "==> installing Python packages (tests/requirements.txt)"
    python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi

if [ -z "${JBAI_BIN_DIR:-}" ]; then
    echo "==> building ($config)"
    log="$(mktemp)"
    for product in jetbrains-ai-simulator jetbrains-ai-supervisor jetbrains-ai-proxy; do
        if ! swift build -c "$config" --product "$product" > "$log" 2>&1; then
            grep -E "error:" "$log" | head -20 || tail -20 "$log"
            rm -f "$log"
            echo "chaos: build of $product failed"
            exit 2
        fi
    done
    rm -f "$log"
    JBAI_BIN_DIR="$(swift build -c "$config" --show-bin-path)"
fi

exec python3 scripts/chaos/chaos.py --bin-dir "$JBAI_BIN_DIR" ${args[@]+"${args[@]}"}
