#!/usr/bin/env bash
# Runs every test: Swift unit tests, then the integration suite (real processes on loopback:
# simulator, workers, supervisor, and the official OpenAI Python SDK as a client).
# On a fresh machine it installs what the tests need first (pip packages).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import pytest, httpx, openai, yaml' 2>/dev/null; then
    echo "==> installing Python test dependencies"
    python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi

echo "==> building (debug)"
swift build --build-tests 2>&1 | grep -vE "^warning: 'swift-distributed-tracing'|unhandled; explicitly declare" || true
test "${PIPESTATUS[0]}" -eq 0

status=0
echo "==> Swift unit tests"
swift test --skip-build || status=$?

echo "==> integration tests"
JBAI_BIN_DIR="$(swift build --show-bin-path)" python3 -m pytest -q -p no:cacheprovider tests/integration "$@" || status=$?

exit $status
