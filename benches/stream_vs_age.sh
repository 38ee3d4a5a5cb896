#!/usr/bin/env bash
# Encrypt and decrypt one large file with `keyvault encrypt --in F --out F.kvs` / `decrypt`, and
# with age (an X25519 recipient) on the same file in the same run, as whole processes, and print
# the medians and keyvault's ratio to age. Both write their output to a file; keyvault also
# fsyncs it (age does not), which this script measures separately with `sync` timings.
#
#   benches/stream_vs_age.sh [SIZE_MIB] [RUNS]     # defaults: 512 MiB, 5 runs
#
# Needs a release build of the CLI (cargo build --release -p keyvault-cli) and hyperfine;
# age is skipped, with a message, where it is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib="${1:-512}"
runs="${2:-5}"
keyvault="$PWD/target/release/keyvault"
[ -x "$keyvault" ] || { echo "build first: cargo build --release -p keyvault-cli" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install hyperfine)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/stream-vs-age.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export KEYVAULT_PATH="$work/vault.db" KEYVAULT_PASSWORD="stream benchmark" KEYVAULT_ARGON2=19456,2,1
"$keyvault" -q init
"$keyvault" -q key create files
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/plain"
"$keyvault" encrypt --key files --in "$work/plain" --out "$work/plain.kvs"

median() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$1"; }

run() { # name, command
    hyperfine --style none --runs "$runs" --warmup 1 --export-json "$work/$1.json" "$2" >/dev/null
    median "$work/$1.json"
}

kv_enc="$(run kv-enc "rm -f $work/out.kvs; $keyvault encrypt --key files --in $work/plain --out $work/out.kvs")"
kv_dec="$(run kv-dec "rm -f $work/out.plain; $keyvault decrypt --in $work/plain.kvs --out $work/out.plain")"
printf '%-28s %8.3f s\n' "keyvault encrypt ${size_mib} MiB" "$kv_enc" "keyvault decrypt ${size_mib} MiB" "$kv_dec"

if command -v age >/dev/null && command -v age-keygen >/dev/null; then
    age-keygen -o "$work/age.key" 2>/dev/null
    recipient="$(age-keygen -y "$work/age.key")"
    age -r "$recipient" -o "$work/plain.age" "$work/plain"
    age_enc="$(run age-enc "age -r $recipient -o $work/out.age $work/plain")"
    age_dec="$(run age-dec "age -d -i $work/age.key -o $work/out.plain $work/plain.age")"
    printf '%-28s %8.3f s\n' "age encrypt ${size_mib} MiB" "$age_enc" "age decrypt ${size_mib} MiB" "$age_dec"
    python3 -c 'import sys; e, d, ae, ad = map(float, sys.argv[1:]); print(f"keyvault / age: encrypt {e / ae:.2f}x, decrypt {d / ad:.2f}x")' \
        "$kv_enc" "$kv_dec" "$age_enc" "$age_dec"
else
    echo "age is not installed: skipped (apt-get install age)"
fi

# What making a file of this size durable costs here: write it, then time the fsync alone.
sync_cost="$(python3 - "$work/sync-probe" "$size_mib" <<'EOF'
import os, sys, time
path, mib = sys.argv[1], int(sys.argv[2])
block = os.urandom(1 << 20)
with open(path, "wb") as f:
    for _ in range(mib):
        f.write(block)
    f.flush()
    started = time.perf_counter()
    os.fsync(f.fileno())
    print(f"{time.perf_counter() - started:.3f}")
EOF
)"
printf '%-28s %8s s\n' "fsync of ${size_mib} MiB written" "$sync_cost"
