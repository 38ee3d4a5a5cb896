//! Argon2id known-answer tests (`tests/data/argon2/argon2id_kat.json`, from the reference
//! implementation): the RFC 9106 §5.3 vector with secret and associated data, the eight
//! reference-implementation vectors, the two inputs the reference implementation refuses, and
//! checks on keyvault's own parameter policy and password key derivation.

use keyvault_crypto::password::derive_key;
use keyvault_crypto::{Argon2Params, CryptoError, hazmat};
use serde::Deserialize;

use crate::common::hex_bytes;

#[derive(Debug, Deserialize)]
struct KatFile {
    rfc9106_argon2id: RfcVector,
    phc_reference_argon2id_v19: Vec<ReferenceVector>,
    negative: Vec<NegativeCase>,
}

#[derive(Debug, Deserialize)]
struct RfcVector {
    #[serde(rename = "type")]
    variant: String,
    version: u32,
    m_cost_kib: u32,
    t_cost: u32,
    parallelism: u32,
    tag_len: usize,
    #[serde(deserialize_with = "hex_bytes")]
    password: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    salt: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    secret: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    ad: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    tag: Vec<u8>,
}

#[derive(Debug, Deserialize)]
struct ReferenceVector {
    t_cost: u32,
    m_cost_kib: u32,
    parallelism: u32,
    password_utf8: String,
    salt_utf8: String,
    tag_len: usize,
    #[serde(deserialize_with = "hex_bytes")]
    tag: Vec<u8>,
    phc_string: String,
    version: u32,
}

#[derive(Debug, Deserialize)]
struct NegativeCase {
    desc: String,
    expect: String,
}

fn load() -> Result<KatFile, String> {
    crate::common::load_json("argon2/argon2id_kat.json")
}

#[test]
fn rfc9106_section_5_3_argon2id() {
    let v = load().unwrap().rfc9106_argon2id;
    assert_eq!((v.variant.as_str(), v.version), ("argon2id", 0x13));
    assert_eq!(
        (v.secret.len(), v.ad.len()),
        (8, 12),
        "the vector uses K and X"
    );
    let params = Argon2Params {
        memory_kib: v.m_cost_kib,
        iterations: v.t_cost,
        lanes: v.parallelism,
    };
    let mut tag = vec![0u8; v.tag_len];
    hazmat::argon2id(&v.password, &v.salt, &v.secret, &v.ad, &params, &mut tag).unwrap();
    println!("argon2id rfc9106 5.3: tag {}", hex::encode(&tag));
    assert_eq!(hex::encode(&tag), hex::encode(&v.tag));

    // The secret and the associated data both enter the hash.
    let mut without_secret = vec![0u8; v.tag_len];
    hazmat::argon2id(
        &v.password,
        &v.salt,
        &[],
        &v.ad,
        &params,
        &mut without_secret,
    )
    .unwrap();
    let mut without_ad = vec![0u8; v.tag_len];
    hazmat::argon2id(
        &v.password,
        &v.salt,
        &v.secret,
        &[],
        &params,
        &mut without_ad,
    )
    .unwrap();
    assert_ne!(without_secret, v.tag);
    assert_ne!(without_ad, v.tag);
    println!("argon2id rfc9106 5.3: 1 matched, 0 failed");
}

#[test]
fn phc_reference_argon2id_vectors() {
    let vectors = load().unwrap().phc_reference_argon2id_v19;
    let mut matched = 0usize;
    let mut failures = Vec::new();
    for (index, v) in vectors.iter().enumerate() {
        let label = format!(
            "#{index} (m={},t={},p={}, {:?}/{:?})",
            v.m_cost_kib, v.t_cost, v.parallelism, v.password_utf8, v.salt_utf8
        );
        // The PHC string must describe the same parameters as the fields beside it.
        let prefix = format!(
            "$argon2id$v={}$m={},t={},p={}$",
            v.version, v.m_cost_kib, v.t_cost, v.parallelism
        );
        if v.version != 0x13 || !v.phc_string.starts_with(&prefix) {
            failures.push(format!("{label}: inconsistent entry {}", v.phc_string));
            continue;
        }
        let params = Argon2Params {
            memory_kib: v.m_cost_kib,
            iterations: v.t_cost,
            lanes: v.parallelism,
        };
        let mut tag = vec![0u8; v.tag_len];
        match hazmat::argon2id(
            v.password_utf8.as_bytes(),
            v.salt_utf8.as_bytes(),
            &[],
            &[],
            &params,
            &mut tag,
        ) {
            Ok(()) if tag == v.tag => matched += 1,
            Ok(()) => failures.push(format!("{label}: got {}", hex::encode(&tag))),
            Err(err) => failures.push(format!("{label}: {err:?}")),
        }
    }
    println!(
        "argon2id phc reference vectors: {matched} matched, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(matched, 8);
}

/// The inputs behind each negative case of the file, as the reference implementation's
/// `src/test.c` runs them, and the typed error keyvault must return.
fn negative_inputs(desc: &str) -> Option<(Argon2Params, &'static [u8], CryptoError)> {
    if desc.starts_with("m_cost=1 KiB") {
        Some((
            Argon2Params {
                memory_kib: 1,
                iterations: 2,
                lanes: 1,
            },
            b"diffsalt",
            CryptoError::Argon2Parameter {
                parameter: "memory_kib",
                value: 1,
                min: 8,
                max: u64::from(Argon2Params::MAX_MEMORY_KIB),
            },
        ))
    } else if desc.starts_with("salt of 1 byte") {
        Some((
            Argon2Params {
                memory_kib: 1 << 12,
                iterations: 2,
                lanes: 1,
            },
            b"s",
            CryptoError::LengthOutOfRange {
                what: "salt",
                min: 8,
                max: 1024,
                actual: 1,
            },
        ))
    } else {
        None
    }
}

#[test]
fn argon2id_negative_cases() {
    let cases = load().unwrap().negative;
    let mut refused = 0usize;
    let mut failures = Vec::new();
    for case in &cases {
        let Some((params, salt, wanted)) = negative_inputs(&case.desc) else {
            failures.push(format!("{:?}: no inputs known for this case", case.desc));
            continue;
        };
        if case.expect != "error" {
            failures.push(format!("{:?}: expects {:?}", case.desc, case.expect));
            continue;
        }
        let mut tag = [0u8; 32];
        match hazmat::argon2id(b"password", salt, &[], &[], &params, &mut tag) {
            Err(err) if err == wanted => refused += 1,
            Err(err) => failures.push(format!("{:?}: got {err:?}, wanted {wanted:?}", case.desc)),
            Ok(()) => failures.push(format!("{:?}: derivation succeeded", case.desc)),
        }
    }
    println!(
        "argon2id negative cases: {refused} refused, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(refused, 2);
}

#[test]
fn default_parameters_pass_validation() {
    assert_eq!(Argon2Params::DEFAULT.validate(), Ok(()));
    assert_eq!(Argon2Params::default(), Argon2Params::DEFAULT);
    // The RFC 9106 test costs are fine for a known-answer test but far below keyvault's floor.
    let tiny = Argon2Params {
        memory_kib: 32,
        iterations: 3,
        lanes: 4,
    };
    assert_eq!(
        tiny.validate(),
        Err(CryptoError::Argon2TooWeak {
            memory_kib: 32,
            iterations: 3
        })
    );
}

#[test]
fn derive_key_is_deterministic_and_salt_dependent() {
    // OWASP's (19 MiB, 2 passes) configuration: valid, and quick enough for a test.
    let params = Argon2Params::MINIMUM;
    assert_eq!(params.validate(), Ok(()));
    let salt = [0x5a_u8; 16];
    let other_salt = [0xa5_u8; 16];
    let first = derive_key(b"correct horse battery staple", &salt, &params).unwrap();
    let again = derive_key(b"correct horse battery staple", &salt, &params).unwrap();
    let salted = derive_key(b"correct horse battery staple", &other_salt, &params).unwrap();
    let other_password = derive_key(b"correct horse battery stapler", &salt, &params).unwrap();
    assert_eq!(first, again);
    assert_ne!(first, salted);
    assert_ne!(first, other_password);

    // derive_key is plain Argon2id with an empty secret and no associated data.
    let mut raw = [0u8; 32];
    hazmat::argon2id(
        b"correct horse battery staple",
        &salt,
        &[],
        &[],
        &params,
        &mut raw,
    )
    .unwrap();
    assert_eq!(first.expose_secret(), &raw);
    println!("argon2id derive_key: deterministic, salt- and password-dependent");
}
