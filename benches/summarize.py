#!/usr/bin/env python3
"""Print Markdown tables of the keyvault benchmark results.

Reads criterion's output, **/new/{benchmark,estimates}.json, under each directory given (a
target directory or a copy of its criterion/ directory), by default $CARGO_TARGET_DIR/criterion
or ./target/criterion. Every time is criterion's point estimate of the median time per
iteration. Given several directories (complete runs of the suite), each benchmark's figure is
the lowest of its medians: on a shared machine, interference only ever adds time. The AEAD
groups carry the keyvault backend in their name (aead-rustcrypto/..., aead-ring/...), so the
runs with and without `--features ring` do not overwrite each other.

Usage: python3 benches/summarize.py [DIR...]
"""

import json
import os
import sys
from pathlib import Path

ALGORITHMS = ["xchacha20-poly1305", "chacha20-poly1305", "aes-256-gcm"]
SIZES = [16, 1024, 65536, 1048576]


def load(criterion_dir):
    """Map full_id -> (median ns, 95% CI low, 95% CI high) for one run."""
    results = {}
    for bench in criterion_dir.glob("**/new/benchmark.json"):
        estimates = bench.with_name("estimates.json")
        if not estimates.exists():
            continue
        meta = json.loads(bench.read_text())
        median = json.loads(estimates.read_text())["median"]
        ci = median["confidence_interval"]
        results[meta["full_id"]] = (
            median["point_estimate"],
            ci["lower_bound"],
            ci["upper_bound"],
        )
    return results


def fmt_time(ns):
    if ns is None:
        return "–"
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def fmt_size(size):
    if size >= 1 << 20:
        return f"{size >> 20} MiB"
    if size >= 1 << 10:
        return f"{size >> 10} KiB"
    return f"{size} B"


def fmt_rate(ns, size):
    """Throughput in MiB/s for `size` bytes in `ns` nanoseconds."""
    if ns is None:
        return "–"
    return f"{size / (1 << 20) / (ns / 1e9):.0f}"


def ratio(a, b):
    if a is None or b is None:
        return "–"
    return f"{a / b:.2f}"


def get(results, key):
    value = results.get(key)
    return value[0] if value else None


def aead_tables(results):
    for backend in ["rustcrypto", "ring"]:
        if not any(k.startswith(f"aead-{backend}/") for k in results):
            continue
        print(f"### AEAD, keyvault on the `{backend}` backend\n")
        print(
            "| algorithm | op | size | keyvault | raw RustCrypto | ring | "
            "keyvault MiB/s | keyvault / RustCrypto | keyvault / ring |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for algorithm in ALGORITHMS:
            for op in ["seal", "open"]:
                for size in SIZES:
                    prefix = f"aead-{backend}/{op}/{algorithm}"
                    kv = get(results, f"{prefix}/keyvault/{size}")
                    rc = get(results, f"{prefix}/rustcrypto/{size}")
                    rg = get(results, f"{prefix}/ring/{size}")
                    print(
                        f"| {algorithm} | {op} | {fmt_size(size)} | {fmt_time(kv)} | "
                        f"{fmt_time(rc)} | {fmt_time(rg)} | {fmt_rate(kv, size)} | "
                        f"{ratio(kv, rc)} | {ratio(kv, rg)} |"
                    )
        print()

        print(f"### AEAD open without the plaintext wipe, `{backend}` backend\n")
        print(
            "| algorithm | size | keyvault | keyvault, no wipe | wipe share | "
            "no wipe / RustCrypto | no wipe / ring |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for algorithm in ALGORITHMS:
            for size in SIZES:
                prefix = f"aead-{backend}/open/{algorithm}"
                kv = get(results, f"{prefix}/keyvault/{size}")
                nw = get(results, f"{prefix}/keyvault_nowipe/{size}")
                rc = get(results, f"{prefix}/rustcrypto/{size}")
                rg = get(results, f"{prefix}/ring/{size}")
                share = f"{(kv - nw) / kv:.0%}" if kv and nw else "–"
                print(
                    f"| {algorithm} | {fmt_size(size)} | {fmt_time(kv)} | {fmt_time(nw)} | "
                    f"{share} | {ratio(nw, rc)} | {ratio(nw, rg)} |"
                )
        print()

    print("### Batch sealing, 64 messages of 16 B\n")
    print("| backend | algorithm | seal_batch | 64 × seal | batch / single | saved per message |")
    print("|---|---|---:|---:|---:|---:|")
    for backend in ["rustcrypto", "ring"]:
        for algorithm in ALGORITHMS:
            prefix = f"aead-{backend}/batch-64x16B/{algorithm}"
            batch = get(results, f"{prefix}/seal_batch")
            single = get(results, f"{prefix}/single_seals")
            if batch is None and single is None:
                continue
            saved = fmt_time((single - batch) / 64) if batch and single else "–"
            print(
                f"| {backend} | {algorithm} | {fmt_time(batch)} | {fmt_time(single)} | "
                f"{ratio(batch, single)} | {saved} |"
            )
    print()


def simple_tables(results):
    if any(k.startswith("wipe/") for k in results):
        print("### Wiping a plaintext buffer (drop included)\n")
        print("| size | `Zeroizing<Vec<u8>>` drop | slice `zeroize()` + drop | ratio |")
        print("|---:|---:|---:|---:|")
        for size in SIZES:
            vec = get(results, f"wipe/zeroizing_vec_drop/{size}")
            bulk = get(results, f"wipe/slice_zeroize/{size}")
            print(f"| {fmt_size(size)} | {fmt_time(vec)} | {fmt_time(bulk)} | {ratio(vec, bulk)} |")
        print()

    nonce = sorted(k for k in results if k.startswith("nonce/"))
    if nonce:
        print("### Nonces\n")
        print("| benchmark | median | 95% CI |")
        print("|---|---:|---:|")
        for key in nonce:
            median, low, high = results[key]
            print(f"| {key} | {fmt_time(median)} | {fmt_time(low)} – {fmt_time(high)} |")
        print()

    pairs = [
        "hkdf-sha256/32B-out",
        "derive-subkey",
        "hmac-sha256/32B",
        "hmac-sha256/1024B",
    ]
    if any(f"{p}/keyvault" in results for p in pairs):
        print("### HKDF and HMAC\n")
        print("| benchmark | keyvault | raw crate | keyvault / raw |")
        print("|---|---:|---:|---:|")
        for pair in pairs:
            kv = get(results, f"{pair}/keyvault")
            raw = get(results, f"{pair}/raw")
            print(f"| {pair} | {fmt_time(kv)} | {fmt_time(raw)} | {ratio(kv, raw)} |")
        print()

    argon = results.get("argon2id/derive_key/default")
    if argon:
        median, low, high = argon
        print(
            f"Argon2id, `Argon2Params::DEFAULT`: median {fmt_time(median)} "
            f"(95% CI {fmt_time(low)} – {fmt_time(high)})\n"
        )


def best_of(runs):
    """Per benchmark, the run with the lowest median; also the spread (highest / lowest)."""
    best, spread = {}, {}
    for run in runs:
        for key, value in run.items():
            if key not in best or value[0] < best[key][0]:
                best[key] = value
    for key in best:
        medians = [run[key][0] for run in runs if key in run]
        spread[key] = max(medians) / min(medians)
    return best, spread


def main():
    dirs = [Path(d) for d in sys.argv[1:]] or [
        Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    ]
    runs = []
    for d in dirs:
        if (d / "criterion").is_dir():
            d = d / "criterion"
        if not d.is_dir():
            sys.exit(f"no criterion results under {d}; run `cargo bench` first")
        runs.append(load(d))
    results, spread = best_of(runs)
    aead_tables(results)
    simple_tables(results)
    if len(runs) > 1:
        wide = sorted((s, k) for k, s in spread.items() if s > 1.10)
        print(f"Lowest median of {len(runs)} runs. Benchmarks whose medians differ by more than")
        print(f"10% between runs: {len(wide)} of {len(spread)}.\n")
        for s, k in reversed(wide):
            print(f"- {k}: {s:.2f}")


if __name__ == "__main__":
    main()
