#!/usr/bin/env bash
# Benchmarks (issue 4): builds release, installs wrk and nginx if missing, runs scenarios 1-8
# (scenario 1 twice: against the simulator and against a static nginx upstream)
# side by side and prints their Markdown tables. See BENCHMARKS.md for a full run.
#
#   scripts/bench.sh            # full run (< 15 minutes on 2 cores)
#   scripts/bench.sh --quick    # ~1 minute smoke version
#   scripts/bench.sh --write    # also put the tables into BENCHMARKS.md
#   scripts/bench.sh --only 1,2 # some scenarios only
#   scripts/bench.sh --only 1 --ledger both   # scenario 1 without and with the usage ledger, in one run
#   scripts/bench.sh --wait-load 0.7   # first wait (up to 40 min) for a quiet machine
#   scripts/bench.sh --profile  # profile the worker under scenario-1 load instead (scripts/bench/profile.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--profile" ]]; then
    shift
    exec scripts/bench/profile.sh "$@"
fi

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    echo "==> installing ${need[*]} (apt)" >&2
    sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "==> swift build -c release" >&2
swift build -c release 2>&1 | grep -vE "^warning: 'swift-distributed-tracing'|unhandled; explicitly declare|CMakeLists.txt" >&2 || true
bin="$(swift build -c release --show-bin-path)"
for exe in jetbrains-ai-proxy jetbrains-ai-supervisor jetbrains-ai-simulator jbai-loadgen jbai-microbench; do
    [[ -x "$bin/$exe" ]] || { echo "build failed: $bin/$exe missing" >&2; exit 1; }
done

exec python3 scripts/bench/bench.py --bin "$bin" "$@"
