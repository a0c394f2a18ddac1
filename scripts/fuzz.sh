#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer + AddressSanitizer, leak detection on) of the code that reads
# untrusted bytes. Targets (Sources/FuzzTargets/FuzzTarget.swift):
#   http      an HTTP/1 byte stream into the server's pipeline, assembled into ServerRequests
#   requests  OpenAI chat, Anthropic Messages and Responses bodies, and their translation upstream
#   sse       the upstream's SSE stream, event decoder, answer builder, every front's encoder; quota answers
#   fleet     fleet YAML files
#   control   worker health, supervised start and ctl documents
#
#   scripts/fuzz.sh TARGET SECONDS   build, then fuzz TARGET for SECONDS, starting from the committed
#                                    seeds in fuzz/corpus/TARGET; inputs it finds go to
#                                    .build-fuzz/corpus/TARGET, crashes/leaks/timeouts to
#                                    .build-fuzz/artifacts/TARGET/ (exit status non-zero)
#   scripts/fuzz.sh --replay         build, then run every committed corpus file through its target
#                                    once under the sanitizers (a fast regression run)
#   scripts/fuzz.sh --merge TARGET   add what a run found that covers new code to fuzz/corpus/TARGET
#   scripts/fuzz.sh --build          only build
# Extra libFuzzer options go in FUZZ_OPTIONS (e.g. FUZZ_OPTIONS="-jobs=2 -workers=2").
# The same corpora are replayed without sanitizers by the unit tests (FuzzCorpusTests).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(http requests sse fleet control)
SCRATCH=.build-fuzz
BIN="$SCRATCH/release/Fuzz"

build() {
    echo "==> building the fuzz targets (release, -sanitize=fuzzer,address) in $SCRATCH" >&2
    mkdir -p "$SCRATCH"
    # `--sanitize fuzzer` makes SwiftPM link libFuzzer's main (and compile executables as
    # libraries); the explicit -sanitize=fuzzer,address is what reaches every Swift compile
    # (SwiftPM's two --sanitize flags would leave only the last one there).
    if ! swift build --scratch-path "$SCRATCH" -c release --product Fuzz \
        --sanitize fuzzer --sanitize address \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING > "$SCRATCH/build.log" 2>&1; then
        cat "$SCRATCH/build.log" >&2
        exit 1
    fi
}

# For the fuzzer only (set in the build's environment, they would make SwiftPM rebuild
# everything): the Swift runtime's backtracer would catch a crash before libFuzzer saves the
# input; leaks are reported.
fuzz_env() {
    export SWIFT_BACKTRACE=enable=no
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
}

options() {  # TARGET
    local dict="fuzz/dict/$1.dict"
    echo -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1
    if [[ -f "$dict" ]]; then echo "-dict=$dict"; fi
}

known() {
    local t
    for t in "${TARGETS[@]}"; do [[ "$t" == "$1" ]] && return 0; done
    echo "unknown target '$1' (targets: ${TARGETS[*]})" >&2
    exit 2
}

case "${1:-}" in
    --build)
        build
        ;;
    --replay)
        build
        fuzz_env
        status=0
        for t in "${TARGETS[@]}"; do
            log="$SCRATCH/replay-$t.log"
            # -runs=0: read and run every corpus file once, then stop.
            # shellcheck disable=SC2046
            if "$BIN" "$t" $(options "$t") -runs=0 "fuzz/corpus/$t" > "$log" 2>&1; then
                echo "replay $t: $(find "fuzz/corpus/$t" -type f | wc -l) input(s), ok"
            else
                echo "replay $t: FAILED" >&2
                tail -60 "$log" >&2
                status=1
            fi
        done
        exit $status
        ;;
    --merge)
        known "${2:?usage: scripts/fuzz.sh --merge TARGET}"
        t="$2"
        [[ -x "$BIN" ]] || build
        fuzz_env
        mkdir -p "$SCRATCH/corpus/$t"
        # shellcheck disable=SC2046
        "$BIN" "$t" $(options "$t") -merge=1 "fuzz/corpus/$t" "$SCRATCH/corpus/$t"
        ;;
    ""|-h|--help)
        sed -n '2,22p' "$0"
        exit 2
        ;;
    *)
        t="$1"
        known "$t"
        seconds="${2:?usage: scripts/fuzz.sh TARGET SECONDS}"
        build
        fuzz_env
        mkdir -p "$SCRATCH/corpus/$t" "$SCRATCH/artifacts/$t"
        echo "==> fuzzing $t for ${seconds}s (seeds: fuzz/corpus/$t)" >&2
        # The first folder receives what the run finds; the committed seeds stay as they are.
        # shellcheck disable=SC2046,SC2086
        exec "$BIN" "$t" $(options "$t") -max_total_time="$seconds" \
            -artifact_prefix="$SCRATCH/artifacts/$t/" ${FUZZ_OPTIONS:-} \
            "$SCRATCH/corpus/$t" "fuzz/corpus/$t"
        ;;
esac
