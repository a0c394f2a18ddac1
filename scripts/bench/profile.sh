#!/usr/bin/env bash
# Profiles the worker under scenario-1 load (non-streaming chat completions, wrk, 16 clients).
#   scripts/bench/profile.sh [SECONDS]      (also: scripts/bench.sh --profile [SECONDS])
# Profiler (PROFILER=auto|perf|callgrind): perf when it can sample here — with the `cycles`
# hardware event if `perf stat -e instructions` counts, else with the `cpu-clock` software event
# (VMs without a PMU) — and valgrind's callgrind otherwise. On the benchmark machine
# (Debian 12, valgrind 3.19) callgrind cannot run the Swift 6.3 worker: it rejects the DWARF 5
# debug info, and with the debug info stripped it dies with an internal SIGSEGV.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-20}"
bin="$(swift build -c release --show-bin-path)"
for exe in jetbrains-ai-proxy jetbrains-ai-simulator; do
    [[ -x "$bin/$exe" ]] || { echo "run scripts/bench.sh first (release build missing: $exe)" >&2; exit 1; }
done
command -v valgrind >/dev/null || { apt-get install -y -qq valgrind >/dev/null; }
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
work="$(mktemp -d /tmp/jbai-profile-XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
demangle() { swift demangle --simplified 2>/dev/null || cat; }

echo '{"jwts":[{"jwt":"p1","quota_maximum":1e15},{"jwt":"p2","quota_maximum":1e15},{"jwt":"p3","quota_maximum":1e15}]}' > "$work/sim.json"
echo '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}' > "$work/body.json"
sim_port=$(free_port)
"$bin/jetbrains-ai-simulator" --listen "127.0.0.1:$sim_port" --config "$work/sim.json" --log-level warning > "$work/sim.log" 2>&1 &
pids+=($!)
wait_port "$sim_port"

load() { # PORT SECONDS
    wrk -t1 -c16 -d"$2"s --timeout 30s -s scripts/bench/wrk-post.lua "http://127.0.0.1:$1/v1/chat/completions" \
        -- "$work/body.json" "Authorization: Bearer profile-key" | grep WRK_JSON || true
}

profiler="${PROFILER:-auto}"
if [[ "$profiler" == auto ]]; then
    profiler=callgrind
    perf record -e cpu-clock -o "$work/probe.data" -- true > /dev/null 2>&1 && profiler=perf
fi
event=cpu-clock
if perf stat -x, -e instructions true 2>&1 | grep -qE '^[0-9]+,'; then event=cycles; fi

if [[ "$profiler" == callgrind ]]; then
echo "## callgrind: worker under wrk -c16 for ${seconds}s (valgrind slows it ~50x; the shape is what counts)"
port=$(free_port)
# Valgrind 3.19 cannot read the DWARF 5 the Swift 6 toolchain emits; the symbol table is enough.
objcopy --strip-debug "$bin/jetbrains-ai-proxy" "$work/worker-nodebug"
SWIFT_BACKTRACE=enable=no valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out.%p" --dump-instr=no \
    "$work/worker-nodebug" -c p1,p2,p3 -k profile-key -h 127.0.0.1 -p "$port" \
    --upstream "http://127.0.0.1:$sim_port" > "$work/worker-callgrind.log" 2>&1 &
vg=$!
pids+=($vg)
wait_port "$port"
# The profile is dumped while wrk is still running: when wrk stops it closes connections with
# answers in flight, which can crash the worker (see BENCHMARKS.md), and that must not cost the data.
load "$port" $((seconds + 15)) > "$work/wrk-callgrind.txt" &
wrk_pid=$!
sleep 5                                   # warm-up: connections, lazy initialisation
callgrind_control -z "$vg" > /dev/null 2>&1 || true
sleep "$seconds"
callgrind_control -d "$vg" > /dev/null 2>&1 || true
sleep 1
wait "$wrk_pid" 2>/dev/null || true
kill -TERM "$vg" 2>/dev/null || true; wait "$vg" 2>/dev/null || true
out=$(ls -S "$work"/callgrind.out* | head -1)   # the explicit dump (the exit dump is near empty after -z … -d)
echo
echo "### top 30 functions by own instructions (exclusive)"
callgrind_annotate --inclusive=no --threshold=100 "$out" 2>/dev/null | sed -n '/^Ir/,$p' | head -40 | demangle | cut -c1-220
echo
echo "### top 40 by inclusive instructions"
callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null | sed -n '/^Ir/,$p' | head -48 | demangle | cut -c1-220

fi

if [[ "$profiler" == perf ]]; then
    echo
    echo "## perf ($event samples, user + kernel): release worker under wrk -c16 for ${seconds}s"
    port=$(free_port)
    SWIFT_BACKTRACE=enable=no "$bin/jetbrains-ai-proxy" -c p1,p2,p3 -k profile-key -h 127.0.0.1 -p "$port" \
        --upstream "http://127.0.0.1:$sim_port" > "$work/worker-perf.log" 2>&1 &
    w=$!
    pids+=($w)
    wait_port "$port"
    load "$port" $((seconds + 5)) > "$work/wrk-perf.txt" &
    wrk_pid=$!
    sleep 2
    perf record -e "$event" -F 1999 -g -p "$w" -o "$work/perf.data" -- sleep "$seconds" > /dev/null 2>&1 || true
    wait "$wrk_pid" 2>/dev/null || true
    echo "wrk during perf: $(grep -o '"rps":[0-9.]*' "$work/wrk-perf.txt" || echo '(stopped early)')"
    echo
    echo "### share by shared object"
    perf report -i "$work/perf.data" --stdio --no-children --sort dso 2>/dev/null | grep -E '^ +[0-9]' | head -12
    echo
    echo "### top 40 symbols (self)"
    perf report -i "$work/perf.data" --stdio --no-children --sort dso,symbol -g none 2>/dev/null \
        | grep -E '^ +[0-9]' | head -40 | demangle | cut -c1-220
    echo
    echo "### top 45 symbols (inclusive: self + callees, from frame-pointer call chains)"
    perf report -i "$work/perf.data" --stdio --children --sort symbol -g none 2>/dev/null \
        | grep -E '^ +[0-9]' | head -45 | demangle | cut -c1-220
fi
echo
echo "raw data: $work"
