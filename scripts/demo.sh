#!/usr/bin/env bash
# Builds everything and starts the demo fleet: the JetBrains AI simulator on 127.0.0.1:9400,
# and the supervisor with three tenants (examples/yaml/demo.yaml) on 8081-8083, health on 9090.
# No credentials needed. Ctrl-C stops it all (workers drain first).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building (debug; the first build takes a few minutes)"
mkdir -p .build
if ! swift build > .build/demo-build.log 2>&1; then
    cat .build/demo-build.log
    exit 1
fi
bin="$(swift build --show-bin-path)"

mkdir -p demo-run
"$bin/jetbrains-ai-simulator" --listen 127.0.0.1:9400 --chunk-delay-ms 40 > demo-run/simulator.log 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "listening" demo-run/simulator.log && break; sleep 0.1; done

cat <<'TXT'

==> demo fleet starting (Ctrl-C to stop). In another terminal:

  curl -s http://127.0.0.1:8081/v1/chat/completions -H 'Authorization: Bearer demo-key-a' \
       -H 'Content-Type: application/json' \
       -d '{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"Hello, fleet!"}]}'
  curl -sN http://127.0.0.1:8082/v1/chat/completions -H 'Authorization: Bearer demo-key-b1' \
       -d '{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"Stream me"}]}'
  curl -s http://127.0.0.1:9090/health
  .build/debug/jetbrains-ai-supervisor ctl status --config examples/yaml/demo.yaml
  .build/debug/jetbrains-ai-supervisor ctl logs team-a --config examples/yaml/demo.yaml

TXT
"$bin/jetbrains-ai-supervisor" run examples/yaml/demo.yaml &
supervisor=$!
trap 'kill -TERM $supervisor 2>/dev/null || true' INT TERM
# `wait` returns early when a trapped signal arrives: wait again for the drain to finish.
wait $supervisor || wait $supervisor || true
