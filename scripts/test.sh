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
mkdir -p .build
if ! swift build --build-tests > .build/test-build.log 2>&1; then
    cat .build/test-build.log
    exit 1
fi
# Our own warnings are shown (there should be none); a dependency's packaging notice is not.
grep -E "(warning|error):" .build/test-build.log | grep -v "swift-distributed-tracing" || true

status=0
echo "==> Swift unit tests"
swift test --skip-build || status=$?

echo "==> integration tests"
JBAI_BIN_DIR="$(swift build --show-bin-path)" python3 -m pytest -q -p no:cacheprovider tests/integration "$@" || status=$?

exit $status
