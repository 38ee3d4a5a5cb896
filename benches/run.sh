#!/usr/bin/env bash
# Run the whole benchmark suite, keyvault on both AEAD backends, one criterion group at a time.
# Before each group, wait (up to MAX_WAIT seconds) until the machine is quiet: less than
# BUSY_LIMIT percent of all CPU time busy over four seconds. "during" is the busy share of all
# CPUs while the group ran, the benchmark's own core included: on an otherwise idle machine it is
# about 100/nproc percent (Argon2id, with 4 lanes, uses every core). A group whose "during"
# exceeds DURING_LIMIT is run again, up to TRIES times; every attempt is logged to
# $CARGO_TARGET_DIR/bench-load.log, and criterion keeps the last attempt's results.
#
#   benches/run.sh                     # everything
#   benches/run.sh 'aead-ring/open/'   # only groups whose criterion id matches the regex
#
# Then: python3 benches/summarize.py
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET="${CARGO_TARGET_DIR:-target}"
LOG="$TARGET/bench-load.log"
BUSY_LIMIT="${BUSY_LIMIT:-15}"
MAX_WAIT="${MAX_WAIT:-300}"
# A group whose "during" figure exceeds this is run again, up to TRIES times in all.
DURING_LIMIT="${DURING_LIMIT:-62}"
TRIES="${TRIES:-3}"
# Command prefixes for the measured runs when other jobs share the machine, e.g.
# WRAP="nice -n -10" (needs root) and PIN="taskset -c 1". PIN is left out for Argon2id, whose
# lanes run in parallel.
WRAP="${WRAP:-}"
PIN="${PIN:-}"
ONLY="${1:-.}"

# Percentage of all CPU time spent busy (not idle or iowait) between two /proc/stat samples.
busy_between() {
    local -a a b
    read -r -a a <<<"$1"
    read -r -a b <<<"$2"
    local total=0 idle i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $(((total - idle) * 100 / (total > 0 ? total : 1)))
}

busy() {
    local a
    a=$(grep '^cpu ' /proc/stat)
    sleep 2
    busy_between "$a" "$(grep '^cpu ' /proc/stat)"
}

wait_quiet() {
    local waited=0 load
    # Quiet means two consecutive quiet samples.
    while load=$(($(busy) + $(busy))); load=$((load / 2)); [ "$load" -ge "$BUSY_LIMIT" ]; do
        if [ "$waited" -ge "$MAX_WAIT" ]; then
            echo "still ${load}% busy after ${MAX_WAIT}s; running anyway" >&2
            break
        fi
        waited=$((waited + 4))
    done
    echo "$load"
}

# run FEATURES BENCH FILTER [DURING_LIMIT]
run() {
    local features="$1" bench="$2" filter="$3" limit="${4:-$DURING_LIMIT}"
    [[ "${filter#^}" =~ $ONLY ]] || return 0
    cargo bench -q -p keyvault-benches $features --bench "$bench" --no-run
    local try during
    for try in $(seq 1 "$TRIES"); do
        during=$(run_once "$features" "$bench" "$filter" "$try")
        [ "$during" -le "$limit" ] && return 0
    done
    echo "$filter: the machine stayed busy; its results are noisy" | tee -a "$LOG" >&2
}

# run_once FEATURES BENCH FILTER TRY; prints the "during" figure on stdout.
run_once() {
    local features="$1" bench="$2" filter="$3" try="$4"
    local before start during after
    before=$(wait_quiet)
    start=$(grep '^cpu ' /proc/stat)
    $WRAP $PIN cargo bench -q -p keyvault-benches $features --bench "$bench" -- "$filter" |
        grep -E 'time:|^[a-z]' | grep -v '^Benchmarking' >&2 || true
    during=$(busy_between "$start" "$(grep '^cpu ' /proc/stat)")
    after=$(busy)
    printf '%s try %s busy before=%s%% during=%s%% after=%s%% %s\n' "$(date -Is)" "$try" \
        "$before" "$during" "$after" "$filter" | tee -a "$LOG" >&2
    echo "$during"
}

mkdir -p "$TARGET"
for backend in rustcrypto ring; do
    features=""
    [ "$backend" = ring ] && features="--features ring"
    # One size at a time: short runs fit between other jobs on a shared machine, and the
    # implementations being compared are measured within seconds of each other.
    for op in seal open; do
        for algorithm in xchacha20-poly1305 chacha20-poly1305 aes-256-gcm; do
            for size in 16 1024 65536 1048576; do
                run "$features" aead "^aead-$backend/$op/$algorithm/[a-z_]+/$size\$"
            done
        done
    done
    run "$features" aead "^aead-$backend/batch-"
done
run "" aead "^wipe/"
run "" nonce "^nonce/"
run "" kdf "^(hkdf|derive-subkey|hmac)"
# Argon2id runs its four lanes on every core, so the machine is busy by design.
PIN=""
run "" kdf "^argon2id/" 100
