//! A tour of keyvault-crypto: derive a key from a password with Argon2id, split it into subkeys
//! with HKDF, seal and open a message under every AEAD algorithm, MAC it, and show that tampering
//! is caught.
//!
//! Run with `cargo run -p keyvault-crypto --example quickstart`. Set `KEYVAULT_PASSWORD` to choose
//! the password; the message is read from the first argument.

use std::time::Instant;

use keyvault_crypto::kdf::derive_subkey;
use keyvault_crypto::mac::{hmac_sha256, hmac_sha256_verify};
use keyvault_crypto::password::{self, MIN_SALT_LEN};
use keyvault_crypto::{AEAD_BACKEND, AeadKey, Algorithm, Argon2Params, CryptoError, random};

fn main() -> Result<(), CryptoError> {
    let password = std::env::var("KEYVAULT_PASSWORD")
        .unwrap_or_else(|_| "correct horse battery staple".to_owned());
    let message = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "the launch code is 0000".to_owned());

    println!(
        "keyvault-crypto {} (AEAD backend: {AEAD_BACKEND})",
        env!("CARGO_PKG_VERSION")
    );

    let salt = random::bytes::<MIN_SALT_LEN>()?;
    let params = Argon2Params::DEFAULT;
    let started = Instant::now();
    let master = password::derive_key(password.as_bytes(), &salt, &params)?;
    println!(
        "Argon2id ({} MiB, t={}, p={}) derived a 256-bit key in {:.0?}",
        params.memory_kib / 1024,
        params.iterations,
        params.lanes,
        started.elapsed()
    );

    for algorithm in Algorithm::ALL {
        let subkey = derive_subkey(&master, "quickstart-aead", algorithm.name().as_bytes())?;
        let key = AeadKey::new(algorithm, &subkey)?;
        let sealed = key.seal(message.as_bytes(), b"quickstart")?;
        let opened = key.open(&sealed, b"quickstart")?;
        assert_eq!(opened.as_slice(), message.as_bytes());

        let mut tampered = sealed.clone();
        if let Some(byte) = tampered.last_mut() {
            *byte ^= 1;
        }
        let caught = key.open(&tampered, b"quickstart").is_err();
        let wrong_context = key.open(&sealed, b"elsewhere").is_err();
        println!(
            "{algorithm:<20} {} plaintext bytes -> {} sealed bytes (nonce {} + tag {}); \
             round trip ok; tampering caught: {caught}; wrong AAD caught: {wrong_context}",
            message.len(),
            sealed.len(),
            algorithm.nonce_len(),
            algorithm.tag_len(),
        );
    }

    let mac_key = derive_subkey(&master, "quickstart-mac", b"")?;
    let tag = hmac_sha256(mac_key.expose_secret(), message.as_bytes());
    hmac_sha256_verify(mac_key.expose_secret(), message.as_bytes(), tag.as_bytes())?;
    println!("HMAC-SHA256 tag {tag:?} verifies");

    let wrong = password::derive_key(b"not the password", &salt, &params)?;
    let key = AeadKey::new(Algorithm::default(), &derive_subkey(&master, "demo", b"")?)?;
    let sealed = key.seal(message.as_bytes(), b"")?;
    let wrong_key = AeadKey::new(Algorithm::default(), &derive_subkey(&wrong, "demo", b"")?)?;
    match wrong_key.open(&sealed, b"") {
        Err(err) => println!("a wrong password gives: {err}"),
        Ok(_) => println!("unexpected: a wrong password opened the message"),
    }
    Ok(())
}
