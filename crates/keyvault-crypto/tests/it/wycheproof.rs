//! Known-answer tests against Project Wycheproof's vectors (`tests/data/wycheproof/`).
//!
//! Every case of every file is run, and each test asserts the exact number of valid, invalid and
//! unsupported cases it saw, so a case that is silently skipped makes the test fail. Failures are
//! collected with their `tcId` and reported together instead of stopping at the first one.

use std::panic::{AssertUnwindSafe, catch_unwind};

use keyvault_crypto::kdf::hkdf_sha256;
use keyvault_crypto::mac::{HmacSha256, hmac_sha256, hmac_sha256_verify};
use keyvault_crypto::{AeadKey, Algorithm, CryptoError, SecretKey, hazmat};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::common::hex_bytes;

// ---------------------------------------------------------------------------------------------
// File format (schemas aead_test_schema_v1, hkdf_test_schema_v1, mac_test_schema_v1)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expected {
    Valid,
    Invalid,
    Acceptable,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestFile<G> {
    algorithm: String,
    number_of_tests: usize,
    test_groups: Vec<G>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AeadGroup {
    iv_size: usize,
    key_size: usize,
    tag_size: usize,
    tests: Vec<AeadCase>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AeadCase {
    tc_id: u32,
    flags: Vec<String>,
    #[serde(deserialize_with = "hex_bytes")]
    key: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    iv: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    aad: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    msg: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    ct: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    tag: Vec<u8>,
    result: Expected,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HkdfGroup {
    tests: Vec<HkdfCase>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HkdfCase {
    tc_id: u32,
    flags: Vec<String>,
    #[serde(deserialize_with = "hex_bytes")]
    ikm: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    salt: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    info: Vec<u8>,
    size: usize,
    #[serde(deserialize_with = "hex_bytes")]
    okm: Vec<u8>,
    result: Expected,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MacGroup {
    tag_size: usize,
    tests: Vec<MacCase>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MacCase {
    tc_id: u32,
    #[serde(deserialize_with = "hex_bytes")]
    key: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    msg: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    tag: Vec<u8>,
    result: Expected,
}

fn load<G: DeserializeOwned>(name: &str) -> Result<TestFile<G>, String> {
    crate::common::load_json(&format!("wycheproof/{name}"))
}

/// Run one case, turning a panic inside the library into a recorded failure for that case.
fn guarded<T>(case: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(case)).unwrap_or_else(|_| Err("panicked".to_owned()))
}

fn describe_failures(name: &str, failures: &[String]) -> String {
    format!(
        "{name}: {} case(s) failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    )
}

// ---------------------------------------------------------------------------------------------
// AEAD
// ---------------------------------------------------------------------------------------------

/// What one AEAD case came to, when it behaved as required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AeadVerdict {
    /// A valid case: seal gave exactly `ct || tag` and open gave `msg` back.
    Accepted,
    /// An invalid case whose ciphertext or tag failed to authenticate.
    Rejected,
    /// A nonce of a length the algorithm does not take, refused by seal and open with
    /// `CryptoError::UnsupportedNonceLength`.
    UnsupportedNonce,
}

fn expect_unsupported_nonce<T>(
    alg: Algorithm,
    nonce_len: usize,
    operation: &str,
    outcome: keyvault_crypto::Result<T>,
) -> Result<(), String> {
    let wanted = CryptoError::UnsupportedNonceLength {
        algorithm: alg.name(),
        expected: alg.nonce_len(),
        actual: nonce_len,
    };
    match outcome {
        Err(err) if err == wanted => Ok(()),
        Err(err) => Err(format!(
            "{operation} with a {nonce_len}-byte nonce: expected {wanted:?}, got {err:?}"
        )),
        Ok(_) => Err(format!(
            "{operation} with a {nonce_len}-byte nonce succeeded; it must be refused"
        )),
    }
}

fn run_aead_case(alg: Algorithm, case: &AeadCase) -> Result<AeadVerdict, String> {
    let secret = SecretKey::from_slice(&case.key).map_err(|e| format!("key refused: {e:?}"))?;
    let key = AeadKey::new(alg, &secret).map_err(|e| format!("AeadKey::new failed: {e:?}"))?;
    let ct_and_tag = [case.ct.as_slice(), case.tag.as_slice()].concat();

    if case.iv.len() != alg.nonce_len() {
        let sealed = hazmat::seal_with_nonce(&key, &case.iv, &case.aad, &case.msg);
        expect_unsupported_nonce(alg, case.iv.len(), "seal", sealed)?;
        let opened = hazmat::open_with_nonce(&key, &case.iv, &case.aad, &ct_and_tag);
        expect_unsupported_nonce(alg, case.iv.len(), "open", opened)?;
        return Ok(AeadVerdict::UnsupportedNonce);
    }

    // The managed-nonce layout `nonce || ciphertext || tag` that AeadKey::open reads.
    let framed = [case.iv.as_slice(), &ct_and_tag].concat();
    match case.result {
        Expected::Valid => {
            let sealed = hazmat::seal_with_nonce(&key, &case.iv, &case.aad, &case.msg)
                .map_err(|e| format!("seal failed: {e:?}"))?;
            if sealed != ct_and_tag {
                return Err(format!(
                    "seal gave {}, expected {}",
                    hex::encode(&sealed),
                    hex::encode(&ct_and_tag)
                ));
            }
            let opened = hazmat::open_with_nonce(&key, &case.iv, &case.aad, &ct_and_tag)
                .map_err(|e| format!("open failed: {e:?}"))?;
            if opened.as_slice() != case.msg.as_slice() {
                return Err(format!("open gave {}", hex::encode(opened.as_slice())));
            }
            let reopened = key
                .open(&framed, &case.aad)
                .map_err(|e| format!("AeadKey::open failed: {e:?}"))?;
            if reopened.as_slice() != case.msg.as_slice() {
                return Err(format!(
                    "AeadKey::open gave {}",
                    hex::encode(reopened.as_slice())
                ));
            }
            Ok(AeadVerdict::Accepted)
        }
        Expected::Invalid => {
            match hazmat::open_with_nonce(&key, &case.iv, &case.aad, &ct_and_tag) {
                Err(CryptoError::Authentication) => {}
                Err(other) => return Err(format!("open: expected Authentication, got {other:?}")),
                Ok(plaintext) => {
                    return Err(format!(
                        "invalid ciphertext opened to {}",
                        hex::encode(plaintext.as_slice())
                    ));
                }
            }
            match key.open(&framed, &case.aad) {
                Err(CryptoError::Authentication) => Ok(AeadVerdict::Rejected),
                Err(other) => Err(format!(
                    "AeadKey::open: expected Authentication, got {other:?}"
                )),
                Ok(_) => Err("AeadKey::open accepted an invalid ciphertext".to_owned()),
            }
        }
        Expected::Acceptable => Err("unexpected result \"acceptable\"".to_owned()),
    }
}

/// Counts for the ChaCha20-Poly1305 family, where every case has a 256-bit key.
#[derive(Debug, Default)]
struct ChaChaTally {
    valid_accepted: usize,
    invalid_rejected: usize,
    /// Of `invalid_rejected`: cases flagged `InvalidNonceSize`, refused as unsupported nonces.
    nonce_size_rejected: usize,
    failures: Vec<String>,
}

fn run_chacha_file(file: &str, alg: Algorithm) -> ChaChaTally {
    let mut tally = ChaChaTally::default();
    let data: TestFile<AeadGroup> = match load(file) {
        Ok(data) => data,
        Err(err) => {
            tally.failures.push(err);
            return tally;
        }
    };
    let mut seen = 0usize;
    for group in &data.test_groups {
        if group.key_size != 256 || group.tag_size != 128 {
            tally.failures.push(format!(
                "group with keySize {} tagSize {}: not expected in this file",
                group.key_size, group.tag_size
            ));
        }
        for case in &group.tests {
            seen += 1;
            let wrong_nonce_flag = case.flags.iter().any(|f| f == "InvalidNonceSize");
            if case.iv.len() * 8 != group.iv_size {
                tally.failures.push(format!(
                    "tcId {}: iv is {} bytes, group says {} bits",
                    case.tc_id,
                    case.iv.len(),
                    group.iv_size
                ));
            }
            match guarded(|| run_aead_case(alg, case)) {
                Ok(AeadVerdict::Accepted) => tally.valid_accepted += 1,
                Ok(AeadVerdict::Rejected) if !wrong_nonce_flag => tally.invalid_rejected += 1,
                Ok(AeadVerdict::UnsupportedNonce)
                    if wrong_nonce_flag && case.result == Expected::Invalid =>
                {
                    tally.invalid_rejected += 1;
                    tally.nonce_size_rejected += 1;
                }
                Ok(verdict) => tally.failures.push(format!(
                    "tcId {}: {verdict:?}, but the case is {:?} with flags {:?}",
                    case.tc_id, case.result, case.flags
                )),
                Err(why) => tally.failures.push(format!("tcId {}: {why}", case.tc_id)),
            }
        }
    }
    if seen != data.number_of_tests {
        tally.failures.push(format!(
            "{file}: ran {seen} cases but numberOfTests is {}",
            data.number_of_tests
        ));
    }
    tally
}

fn check_chacha(name: &str, tally: &ChaChaTally, valid: usize, invalid: usize, nonce: usize) {
    println!(
        "{name}: {} valid accepted, {} invalid rejected ({} of them for nonce size), {} failed",
        tally.valid_accepted,
        tally.invalid_rejected,
        tally.nonce_size_rejected,
        tally.failures.len()
    );
    assert!(
        tally.failures.is_empty(),
        "{}",
        describe_failures(name, &tally.failures)
    );
    assert_eq!(
        (
            tally.valid_accepted,
            tally.invalid_rejected,
            tally.nonce_size_rejected
        ),
        (valid, invalid, nonce),
        "{name}: (valid accepted, invalid rejected, nonce-size rejected) differ from counts.json"
    );
}

#[test]
fn wycheproof_chacha20_poly1305() {
    let tally = run_chacha_file("chacha20_poly1305_test.json", Algorithm::ChaCha20Poly1305);
    // counts.json: 325 tests, 256 valid, 69 invalid, 9 flagged InvalidNonceSize.
    check_chacha("chacha20_poly1305", &tally, 256, 69, 9);
}

#[test]
fn wycheproof_xchacha20_poly1305() {
    let tally = run_chacha_file("xchacha20_poly1305_test.json", Algorithm::XChaCha20Poly1305);
    // counts.json: 315 tests, 246 valid, 69 invalid, 9 flagged InvalidNonceSize.
    check_chacha("xchacha20_poly1305", &tally, 246, 69, 9);
}

#[derive(Debug, Default, PartialEq, Eq)]
struct AesCounts {
    /// AES-256, 96-bit IV, valid: sealed and opened exactly.
    valid_accepted: usize,
    /// AES-256, 96-bit IV, invalid: refused by open.
    invalid_rejected: usize,
    /// AES-256 with another IV size, valid in the file: refused as an unsupported nonce.
    unsupported_nonce_valid: usize,
    /// AES-256 with another IV size, invalid in the file: refused as an unsupported nonce.
    unsupported_nonce_invalid: usize,
    /// AES-128 and AES-192 keys, refused by `SecretKey::from_slice`.
    unsupported_key: usize,
}

fn run_aes_case(case: &AeadCase, counts: &mut AesCounts) -> Result<(), String> {
    if case.key.len() != 32 {
        let wanted = CryptoError::InvalidLength {
            what: "key",
            expected: 32,
            actual: case.key.len(),
        };
        return match SecretKey::from_slice(&case.key) {
            Err(err) if err == wanted => {
                counts.unsupported_key += 1;
                Ok(())
            }
            Err(err) => Err(format!("key refused with {err:?}, expected {wanted:?}")),
            Ok(_) => Err(format!("a {}-byte key was accepted", case.key.len())),
        };
    }
    match (run_aead_case(Algorithm::Aes256Gcm, case)?, case.result) {
        (AeadVerdict::Accepted, _) => counts.valid_accepted += 1,
        (AeadVerdict::Rejected, _) => counts.invalid_rejected += 1,
        (AeadVerdict::UnsupportedNonce, Expected::Valid) => counts.unsupported_nonce_valid += 1,
        (AeadVerdict::UnsupportedNonce, Expected::Invalid) => {
            counts.unsupported_nonce_invalid += 1;
        }
        (AeadVerdict::UnsupportedNonce, Expected::Acceptable) => {
            return Err("unexpected result \"acceptable\"".to_owned());
        }
    }
    Ok(())
}

#[test]
fn wycheproof_aes_gcm() {
    let data: TestFile<AeadGroup> = load("aes_gcm_test.json").unwrap();
    assert_eq!(data.algorithm, "AES-GCM");
    let mut counts = AesCounts::default();
    let mut failures = Vec::new();
    let mut seen = 0usize;
    for group in &data.test_groups {
        for case in &group.tests {
            seen += 1;
            if case.key.len() * 8 != group.key_size || case.iv.len() * 8 != group.iv_size {
                failures.push(format!(
                    "tcId {}: key/iv lengths disagree with the group",
                    case.tc_id
                ));
            }
            if let Err(why) = guarded(|| run_aes_case(case, &mut counts)) {
                failures.push(format!(
                    "tcId {} (AES-{}, {}-bit IV): {why}",
                    case.tc_id, group.key_size, group.iv_size
                ));
            }
        }
    }
    println!(
        "aes_gcm: AES-256 96-bit IV: {} valid accepted, {} invalid rejected; \
         unsupported nonce size (AES-256, other IV): {} ({} valid, {} invalid); \
         unsupported key size (AES-128/192): {}; {} failed",
        counts.valid_accepted,
        counts.invalid_rejected,
        counts.unsupported_nonce_valid + counts.unsupported_nonce_invalid,
        counts.unsupported_nonce_valid,
        counts.unsupported_nonce_invalid,
        counts.unsupported_key,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{}",
        describe_failures("aes_gcm", &failures)
    );
    assert_eq!(seen, data.number_of_tests);
    // counts.json "aes_gcm_256_subset" and the file totals (316 = 105 AES-256 + 211 AES-128/192).
    assert_eq!(
        counts,
        AesCounts {
            valid_accepted: 39,
            invalid_rejected: 27,
            unsupported_nonce_valid: 37,
            unsupported_nonce_invalid: 2,
            unsupported_key: 211,
        }
    );
    assert_eq!(seen, 316);
}

// ---------------------------------------------------------------------------------------------
// HKDF-SHA256
// ---------------------------------------------------------------------------------------------

fn run_hkdf_case(case: &HkdfCase) -> Result<Expected, String> {
    let mut out = vec![0u8; case.size];
    let outcome = hkdf_sha256(&case.salt, &case.ikm, &case.info, &mut out);
    match (case.result, outcome) {
        (Expected::Valid, Ok(())) if out == case.okm => Ok(Expected::Valid),
        (Expected::Valid, Ok(())) => Err(format!(
            "okm mismatch: got {}, expected {}",
            hex::encode(&out),
            hex::encode(&case.okm)
        )),
        (Expected::Valid, Err(err)) => Err(format!("derivation failed: {err:?}")),
        (Expected::Invalid, Err(CryptoError::LengthOutOfRange { .. })) => Ok(Expected::Invalid),
        (Expected::Invalid, Err(err)) => Err(format!("expected LengthOutOfRange, got {err:?}")),
        (Expected::Invalid, Ok(())) => Err(format!("{}-byte output was produced", case.size)),
        (Expected::Acceptable, _) => Err("unexpected result \"acceptable\"".to_owned()),
    }
}

#[test]
fn wycheproof_hkdf_sha256() {
    let data: TestFile<HkdfGroup> = load("hkdf_sha256_test.json").unwrap();
    assert_eq!(data.algorithm, "HKDF-SHA-256");
    let (mut valid, mut invalid, mut too_large) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    let mut seen = 0usize;
    for case in data.test_groups.iter().flat_map(|g| &g.tests) {
        seen += 1;
        match guarded(|| run_hkdf_case(case)) {
            Ok(Expected::Valid) => valid += 1,
            Ok(_) => {
                invalid += 1;
                if case.flags.iter().any(|f| f == "SizeTooLarge") && case.size == 8161 {
                    too_large += 1;
                }
            }
            Err(why) => failures.push(format!("tcId {}: {why}", case.tc_id)),
        }
    }
    println!(
        "hkdf_sha256: {valid} valid matched, {invalid} invalid rejected \
         ({too_large} SizeTooLarge of 8161 bytes), {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{}",
        describe_failures("hkdf_sha256", &failures)
    );
    assert_eq!(seen, data.number_of_tests);
    // counts.json: 86 tests, 83 valid, 3 invalid (all SizeTooLarge).
    assert_eq!((seen, valid, invalid, too_large), (86, 83, 3, 3));
}

// ---------------------------------------------------------------------------------------------
// HMAC-SHA256
// ---------------------------------------------------------------------------------------------

fn verdict(outcome: &keyvault_crypto::Result<()>) -> Result<bool, String> {
    match outcome {
        Ok(()) => Ok(true),
        Err(CryptoError::Authentication) => Ok(false),
        Err(other) => Err(format!("expected Ok or Authentication, got {other:?}")),
    }
}

/// A case from a group with full 256-bit tags: every verifier must agree with the file.
fn run_full_tag_case(case: &MacCase) -> Result<bool, String> {
    let want = case.result == Expected::Valid;
    if want {
        let computed = hmac_sha256(&case.key, &case.msg);
        if computed.as_bytes().as_slice() != case.tag.as_slice() {
            return Err(format!("hmac_sha256 gave {}", hex::encode(computed)));
        }
    }
    // Feed the message in two pieces to exercise the incremental interface.
    let (head, tail) = case.msg.split_at(case.msg.len() / 2);
    let mut mac = HmacSha256::new(&case.key);
    mac.update(head);
    mac.update(tail);
    let checks = [
        (
            "hmac_sha256_verify",
            verdict(&hmac_sha256_verify(&case.key, &case.msg, &case.tag))?,
        ),
        (
            "HmacSha256::verify",
            verdict(&mac.clone().verify(&case.tag))?,
        ),
        (
            "HmacSha256::verify_truncated(32)",
            verdict(&mac.verify_truncated(&case.tag, 32))?,
        ),
    ];
    for (name, accepted) in checks {
        if accepted != want {
            return Err(format!(
                "{name} returned accepted={accepted} for a {:?} case",
                case.result
            ));
        }
    }
    Ok(want)
}

/// A case from a group with tags truncated to 128 bits: the full-length verifiers must refuse
/// every tag, valid or not; only `verify_truncated(tag, 16)` may accept, and only valid ones.
fn run_truncated_tag_case(case: &MacCase) -> Result<bool, String> {
    let want = case.result == Expected::Valid;
    if case.tag.len() != 16 {
        return Err(format!(
            "tag is {} bytes in a 128-bit group",
            case.tag.len()
        ));
    }
    let full = hmac_sha256(&case.key, &case.msg);
    if want && full.as_bytes().get(..16) != Some(case.tag.as_slice()) {
        return Err(format!(
            "full tag {} does not start with the tag",
            hex::encode(full)
        ));
    }
    let mut mac = HmacSha256::new(&case.key);
    mac.update(&case.msg);
    if verdict(&mac.clone().verify(&case.tag))? {
        return Err("HmacSha256::verify accepted a 128-bit tag".to_owned());
    }
    if verdict(&hmac_sha256_verify(&case.key, &case.msg, &case.tag))? {
        return Err("hmac_sha256_verify accepted a 128-bit tag".to_owned());
    }
    let accepted = verdict(&mac.verify_truncated(&case.tag, 16))?;
    if accepted != want {
        return Err(format!(
            "verify_truncated(16) returned accepted={accepted} for a {:?} case",
            case.result
        ));
    }
    Ok(want)
}

#[test]
fn wycheproof_hmac_sha256() {
    let data: TestFile<MacGroup> = load("hmac_sha256_test.json").unwrap();
    assert_eq!(data.algorithm, "HMACSHA256");
    // (valid accepted, invalid rejected) for full and for truncated tags.
    let (mut full_valid, mut full_invalid) = (0usize, 0usize);
    let (mut trunc_valid, mut trunc_invalid) = (0usize, 0usize);
    let mut failures = Vec::new();
    let mut seen = 0usize;
    for group in &data.test_groups {
        for case in &group.tests {
            seen += 1;
            let outcome = match group.tag_size {
                256 => guarded(|| run_full_tag_case(case)).map(|ok| (false, ok)),
                128 => guarded(|| run_truncated_tag_case(case)).map(|ok| (true, ok)),
                other => Err(format!("unexpected tagSize {other}")),
            };
            match outcome {
                Ok((false, true)) => full_valid += 1,
                Ok((false, false)) => full_invalid += 1,
                Ok((true, true)) => trunc_valid += 1,
                Ok((true, false)) => trunc_invalid += 1,
                Err(why) => failures.push(format!(
                    "tcId {} (tagSize {}): {why}",
                    case.tc_id, group.tag_size
                )),
            }
        }
    }
    println!(
        "hmac_sha256 (256-bit tags): {full_valid} valid accepted, {full_invalid} invalid rejected"
    );
    println!(
        "hmac_sha256 (128-bit truncated tags): {} rejected by full-length verify; \
         verify_truncated(16): {trunc_valid} valid accepted, {trunc_invalid} invalid rejected",
        trunc_valid + trunc_invalid
    );
    println!("hmac_sha256: {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{}",
        describe_failures("hmac_sha256", &failures)
    );
    assert_eq!(seen, data.number_of_tests);
    // counts.json: 174 tests, 66 valid, 108 invalid; half the groups (87 cases) truncate to 128 bits.
    assert_eq!(
        (full_valid, full_invalid, trunc_valid, trunc_invalid),
        (33, 54, 33, 54)
    );
    assert_eq!(seen, 174);
}
