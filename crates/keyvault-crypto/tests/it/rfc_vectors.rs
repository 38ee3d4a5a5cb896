//! Known-answer tests from the specifications themselves (`tests/data/rfc_vectors.json`):
//! RFC 8439 §2.8.2 and Appendix A.5 (ChaCha20-Poly1305), draft-irtf-cfrg-xchacha Appendix A.3.1
//! (XChaCha20-Poly1305), RFC 5869 Appendix A.1–A.3 (HKDF-SHA256) and RFC 4231 §4.2–4.8
//! (HMAC-SHA256, including the 128-bit truncated tag of test case 5).

use keyvault_crypto::kdf::hkdf_sha256;
use keyvault_crypto::mac::{HmacSha256, hmac_sha256, hmac_sha256_verify};
use keyvault_crypto::{AeadKey, Algorithm, CryptoError, SecretKey, hazmat};
use serde::Deserialize;

use crate::common::hex_bytes;

#[derive(Debug, Deserialize)]
struct RfcVectors {
    #[serde(rename = "rfc8439_2_8_2_chacha20poly1305")]
    rfc8439_2_8_2: AeadVector,
    #[serde(rename = "rfc8439_A_5_chacha20poly1305_decrypt")]
    rfc8439_a_5: AeadVector,
    #[serde(rename = "xchacha_draft_A_3_1_xchacha20poly1305")]
    xchacha_a_3_1: AeadVector,
    rfc5869_hkdf_sha256: Vec<HkdfVector>,
    rfc4231_hmac_sha256: Vec<HmacVector>,
}

#[derive(Debug, Deserialize)]
struct AeadVector {
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
}

#[derive(Debug, Deserialize)]
struct HkdfVector {
    rfc5869_section: String,
    #[serde(deserialize_with = "hex_bytes")]
    ikm: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    salt: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    info: Vec<u8>,
    size: usize,
    #[serde(deserialize_with = "hex_bytes")]
    okm: Vec<u8>,
}

#[derive(Debug, Deserialize)]
struct HmacVector {
    rfc4231_section: String,
    #[serde(deserialize_with = "hex_bytes")]
    key: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    msg: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    tag: Vec<u8>,
    tag_len_bytes: usize,
}

fn load() -> Result<RfcVectors, String> {
    crate::common::load_json("rfc_vectors.json")
}

/// Seal must give exactly `ct || tag`, open must give `msg`, and a flipped tag bit must fail.
fn check_aead(alg: Algorithm, v: &AeadVector) -> Result<(), String> {
    let key = AeadKey::new(
        alg,
        &SecretKey::from_slice(&v.key).map_err(|e| format!("key: {e:?}"))?,
    )
    .map_err(|e| format!("AeadKey::new: {e:?}"))?;
    let expected = [v.ct.as_slice(), v.tag.as_slice()].concat();
    let sealed =
        hazmat::seal_with_nonce(&key, &v.iv, &v.aad, &v.msg).map_err(|e| format!("seal: {e:?}"))?;
    if sealed != expected {
        return Err(format!("seal gave {}", hex::encode(&sealed)));
    }
    let opened = hazmat::open_with_nonce(&key, &v.iv, &v.aad, &expected)
        .map_err(|e| format!("open: {e:?}"))?;
    if opened.as_slice() != v.msg.as_slice() {
        return Err(format!("open gave {}", hex::encode(opened.as_slice())));
    }
    let framed = [v.iv.as_slice(), &expected].concat();
    let reopened = key
        .open(&framed, &v.aad)
        .map_err(|e| format!("AeadKey::open: {e:?}"))?;
    if reopened.as_slice() != v.msg.as_slice() {
        return Err("AeadKey::open gave the wrong plaintext".to_owned());
    }
    let mut forged = expected;
    if let Some(last) = forged.last_mut() {
        *last ^= 0x01;
    }
    match hazmat::open_with_nonce(&key, &v.iv, &v.aad, &forged) {
        Err(CryptoError::Authentication) => Ok(()),
        other => Err(format!("a flipped tag bit gave {other:?}")),
    }
}

#[test]
fn rfc_aead_vectors() {
    let vectors = load().unwrap();
    let cases = [
        (
            "RFC 8439 2.8.2",
            Algorithm::ChaCha20Poly1305,
            &vectors.rfc8439_2_8_2,
        ),
        (
            "RFC 8439 A.5",
            Algorithm::ChaCha20Poly1305,
            &vectors.rfc8439_a_5,
        ),
        (
            "draft-irtf-cfrg-xchacha A.3.1",
            Algorithm::XChaCha20Poly1305,
            &vectors.xchacha_a_3_1,
        ),
    ];
    let mut passed = 0usize;
    let mut failures = Vec::new();
    for (name, alg, vector) in cases {
        match check_aead(alg, vector) {
            Ok(()) => passed += 1,
            Err(why) => failures.push(format!("{name}: {why}")),
        }
    }
    println!(
        "rfc aead (RFC 8439 2.8.2, A.5, XChaCha A.3.1): {passed} matched, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(passed, 3);
}

#[test]
fn rfc5869_hkdf_sha256() {
    let vectors = load().unwrap();
    let mut sections = Vec::new();
    let mut failures = Vec::new();
    for v in &vectors.rfc5869_hkdf_sha256 {
        let mut out = vec![0u8; v.size];
        match hkdf_sha256(&v.salt, &v.ikm, &v.info, &mut out) {
            Ok(()) if out == v.okm => sections.push(v.rfc5869_section.as_str()),
            Ok(()) => failures.push(format!(
                "RFC 5869 {}: got {}",
                v.rfc5869_section,
                hex::encode(&out)
            )),
            Err(err) => failures.push(format!("RFC 5869 {}: {err:?}", v.rfc5869_section)),
        }
    }
    sections.sort_unstable();
    println!(
        "rfc5869 hkdf_sha256: {} matched ({}), {} failed",
        sections.len(),
        sections.join(", "),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(sections, ["A.1", "A.2", "A.3"]);
}

/// A full tag must be computed exactly and verify; a truncated one must be refused by the
/// full-length verifiers and accepted only by `verify_truncated` with its stated length.
fn check_hmac(v: &HmacVector) -> Result<bool, String> {
    if v.tag.len() != v.tag_len_bytes {
        return Err(format!(
            "tag is {} bytes, file says {}",
            v.tag.len(),
            v.tag_len_bytes
        ));
    }
    let full = hmac_sha256(&v.key, &v.msg);
    if full.as_bytes().get(..v.tag_len_bytes) != Some(v.tag.as_slice()) {
        return Err(format!("hmac_sha256 gave {}", hex::encode(full)));
    }
    let mut mac = HmacSha256::new(&v.key);
    mac.update(&v.msg);
    let full_verify = hmac_sha256_verify(&v.key, &v.msg, &v.tag);
    let incremental_verify = mac.clone().verify(&v.tag);
    let truncated_verify = mac.verify_truncated(&v.tag, v.tag_len_bytes);
    if v.tag_len_bytes == 32 {
        full_verify.map_err(|e| format!("hmac_sha256_verify: {e:?}"))?;
        incremental_verify.map_err(|e| format!("HmacSha256::verify: {e:?}"))?;
        truncated_verify.map_err(|e| format!("verify_truncated(32): {e:?}"))?;
        Ok(false)
    } else {
        if full_verify != Err(CryptoError::Authentication) {
            return Err(format!(
                "hmac_sha256_verify on a truncated tag: {full_verify:?}"
            ));
        }
        if incremental_verify != Err(CryptoError::Authentication) {
            return Err(format!(
                "HmacSha256::verify on a truncated tag: {incremental_verify:?}"
            ));
        }
        truncated_verify.map_err(|e| format!("verify_truncated({}): {e:?}", v.tag_len_bytes))?;
        Ok(true)
    }
}

#[test]
fn rfc4231_hmac_sha256() {
    let vectors = load().unwrap();
    let (mut full, mut truncated) = (Vec::new(), Vec::new());
    let mut failures = Vec::new();
    for v in &vectors.rfc4231_hmac_sha256 {
        let section = v
            .rfc4231_section
            .split_whitespace()
            .next()
            .unwrap_or_default();
        match check_hmac(v) {
            Ok(false) => full.push(section),
            Ok(true) => truncated.push(section),
            Err(why) => failures.push(format!("RFC 4231 {}: {why}", v.rfc4231_section)),
        }
    }
    println!(
        "rfc4231 hmac_sha256: {} matched ({} full-length: {}; {} truncated to 128 bits: {}), {} failed",
        full.len() + truncated.len(),
        full.len(),
        full.join(", "),
        truncated.len(),
        truncated.join(", "),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(full, ["4.2", "4.3", "4.4", "4.5", "4.7", "4.8"]);
    assert_eq!(truncated, ["4.6"]);
}
