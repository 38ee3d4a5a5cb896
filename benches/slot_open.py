#!/usr/bin/env python3
"""Time opening a vault through each kind of keyslot, as whole `keyvault key list` runs.

Usage: benches/slot_open.py [KEYVAULT_BINARY] [RUNS]

The binary defaults to target/release/keyvault (build it with
`cargo build --release -p keyvault-cli --features pkcs11,aws-kms` for the provider slots). The
vault uses the default Argon2id costs (64 MiB, 4 passes, 4 lanes), as a real vault does. The
PKCS#11 slot is timed when KEYVAULT_TEST_PKCS11_MODULE, _TOKEN and _PIN name a token (with
SOFTHSM2_CONF for SoftHSM2) and KEYVAULT_BENCH_PKCS11_KEY is the label of an AES key on it; the AWS
KMS slot when KEYVAULT_TEST_KMS_ENDPOINT names a local KMS.
Prints the median of RUNS runs of each and its ratio to the password slot, measured in this run.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BINARY = sys.argv[1] if len(sys.argv) > 1 else "target/release/keyvault"
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
PASSWORD = "slot open benchmark password"


def run(env, *args, stdin=None):
    result = subprocess.run(
        [BINARY, *args], env=env, input=stdin, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def timed(env, args):
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run(env, *args)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def kms_key(endpoint):
    request = urllib.request.Request(
        endpoint + "/",
        data=b"{}",
        headers={
            "content-type": "application/x-amz-json-1.1",
            "x-amz-target": "TrentService.CreateKey",
            "authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/kms/"
            "aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["KeyMetadata"]["KeyId"]


def main():
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KEYVAULT_", "AWS_"))}
    with tempfile.TemporaryDirectory() as directory:
        vault = os.path.join(directory, "vault.db")
        env = dict(base, KEYVAULT_PATH=vault, KEYVAULT_PASSWORD=PASSWORD)
        shares_dir = os.path.join(directory, "shares")
        os.mkdir(shares_dir)
        init = json.loads(run(env, "--json", "init", "--recovery", "--shares", "3/5",
                              "--out-dir", shares_dir))
        run(env, "key", "create", "app")
        cases = [("password", env)]
        cases.append(("recovery key", dict(base, KEYVAULT_PATH=vault, KEYVAULT_UNLOCK="recovery",
                                           KEYVAULT_RECOVERY_KEY=init["recovery_key"])))
        shares = init["shares"][:3]
        share_args = [arg for share in shares for arg in ("--share", share)]
        cases.append(("3 of 5 shares", dict(base, KEYVAULT_PATH=vault), share_args))

        module = os.environ.get("KEYVAULT_TEST_PKCS11_MODULE")
        token = os.environ.get("KEYVAULT_TEST_PKCS11_TOKEN")
        pin = os.environ.get("KEYVAULT_TEST_PKCS11_PIN")
        label = os.environ.get("KEYVAULT_BENCH_PKCS11_KEY")
        if module and token and pin and label:
            run(dict(env, KEYVAULT_PKCS11_PIN=pin, SOFTHSM2_CONF=os.environ.get("SOFTHSM2_CONF", "")),
                "slot", "add", "pkcs11", "--module", module, "--token", token, "--key", label)
            cases.append(("pkcs11 (SoftHSM2)", dict(
                base, KEYVAULT_PATH=vault, KEYVAULT_UNLOCK="pkcs11", KEYVAULT_PKCS11_MODULE=module,
                KEYVAULT_PKCS11_PIN=pin, SOFTHSM2_CONF=os.environ.get("SOFTHSM2_CONF", ""))))
        else:
            print("pkcs11: skipped (set KEYVAULT_TEST_PKCS11_* and KEYVAULT_BENCH_PKCS11_KEY to an "
                  "AES key label on the token)")
        endpoint = os.environ.get("KEYVAULT_TEST_KMS_ENDPOINT")
        if endpoint:
            aws = dict(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench-secret",
                       AWS_REGION="us-east-1", AWS_ENDPOINT_URL_KMS=endpoint)
            run(dict(env, **aws), "slot", "add", "aws-kms", "--key-id", kms_key(endpoint))
            cases.append(("aws-kms (local moto)", dict(base, KEYVAULT_PATH=vault,
                                                       KEYVAULT_UNLOCK="aws-kms", **aws)))
        else:
            print("aws-kms: skipped (set KEYVAULT_TEST_KMS_ENDPOINT to a local KMS)")

        medians = []
        for case in cases:
            name, case_env = case[0], case[1]
            extra = case[2] if len(case) > 2 else []
            medians.append((name, timed(case_env, [*extra, "key", "list"])))
        baseline = medians[0][1]
        print(f"{'slot':<24}{'median':>10}{'ratio':>8}   ({RUNS} runs of `keyvault key list`)")
        for name, median in medians:
            print(f"{name:<24}{median * 1000:>8.1f}ms{median / baseline:>8.2f}")


if __name__ == "__main__":
    main()
