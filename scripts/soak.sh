#!/usr/bin/env bash
# Soak: `rtcpeer soak` runs two peers in one process over loopback for MINUTES (default 30): echoed
# data, 30 fps video and a short-lived connection every 5 s. Meanwhile this script samples the
# process's resident memory, open file descriptors and threads (every minute; every 10 s for runs
# under 10 minutes), prints the samples and fails when, after warm-up,
#   - memory grows more than 10 %: the least of the last three samples against the first sample
#     after warm-up, or
#   - file descriptors or threads grow: the least of the last three samples against the most of
#     the first three after warm-up (a short-lived connection alive at a sample holds sockets).
# (Runs with fewer than six samples after warm-up compare halves instead of threes.)
# Warm-up is the first sixth of the run, at least 20 s. See docs/SOAK.md.
#
# Usage: scripts/soak.sh [MINUTES]   (RTCPEER_BIN: the binary to run; default: build the debug one)
set -euo pipefail
cd "$(dirname "$0")/.."

minutes="${1:-30}"
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [ "$minutes" -lt 1 ]; then
    echo "usage: scripts/soak.sh [MINUTES]  (a whole number, at least 1)" >&2
    exit 2
fi
seconds=$((minutes * 60))
if [ "$minutes" -ge 10 ]; then interval=60; else interval=10; fi
warmup=$((seconds / 6))
if [ "$warmup" -lt 20 ]; then warmup=20; fi

bin="${RTCPEER_BIN:-}"
if [ -z "$bin" ]; then
    cargo build -p rtcpeer-cli
    bin="$PWD/target/debug/rtcpeer"
fi

"$bin" soak --seconds "$seconds" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT

# One sample: "elapsed rss_kib fds threads", or nothing once the process is gone.
sample() {
    local status rss threads fds
    status=$(cat "/proc/$pid/status" 2>/dev/null) || return 1
    rss=$(awk '/^VmRSS:/ {print $2}' <<<"$status")
    threads=$(awk '/^Threads:/ {print $2}' <<<"$status")
    fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    [ -n "$rss" ] || return 1
    echo "$1 $rss $fds ${threads:-0}"
}

samples=()
start=$(date +%s)
printf '%8s %12s %6s %8s\n' seconds rss_kib fds threads
while true; do
    next=$(( ${#samples[@]} == 0 ? start + interval : start + (${#samples[@]} + 1) * interval ))
    while [ "$(date +%s)" -lt "$next" ] && kill -0 "$pid" 2>/dev/null; do sleep 1; done
    kill -0 "$pid" 2>/dev/null || break
    line=$(sample $(($(date +%s) - start))) || break
    samples+=("$line")
    # shellcheck disable=SC2086
    printf '%8s %12s %6s %8s\n' $line
done

status=0
wait "$pid" || status=$?
trap - EXIT
if [ "$status" -ne 0 ]; then
    echo "soak: FAILED: rtcpeer soak exited with $status" >&2
    exit 1
fi

# Judge the samples taken after warm-up.
after=()
for line in "${samples[@]}"; do
    read -r t _ <<<"$line"
    if [ "$t" -ge "$warmup" ]; then after+=("$line"); fi
done
if [ "${#after[@]}" -lt 4 ]; then
    echo "soak: FAILED: only ${#after[@]} samples after the ${warmup} s warm-up (need 4)" >&2
    exit 1
fi
verdict=$(printf '%s\n' "${after[@]}" | awk '
    { rss[NR] = $2; fds[NR] = $3; thr[NR] = $4 }
    # The first k and the last k samples after warm-up (k = 3, fewer on short runs: no overlap).
    function least_end(a,   i, m) { m = a[NR]; for (i = NR - k + 1; i <= NR; i++) if (a[i] < m) m = a[i]; return m }
    function most_start(a,   i, m) { m = a[1]; for (i = 1; i <= k; i++) if (a[i] > m) m = a[i]; return m }
    END {
        k = int(NR / 2); if (k > 3) k = 3
        rss_end = least_end(rss); growth = (rss_end - rss[1]) * 100 / rss[1]
        printf "memory %d KiB after warm-up, %d KiB at the end (%+.1f %%); ", rss[1], rss_end, growth
        printf "fds %d -> %d; threads %d -> %d", most_start(fds), least_end(fds), most_start(thr), least_end(thr)
        bad = ""
        if (growth > 10) bad = bad " memory grew more than 10 %;"
        if (least_end(fds) > most_start(fds)) bad = bad " file descriptors grew;"
        if (least_end(thr) > most_start(thr)) bad = bad " threads grew;"
        if (bad != "") printf " -- FAILED:%s", bad
        printf "\n"
    }')
echo "soak: $verdict"
if grep -q FAILED <<<"$verdict"; then
    exit 1
fi
echo "soak: passed ($minutes min)"
