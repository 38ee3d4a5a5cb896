//! A key rotation workflow.
//!
//! Rotates a key by hand, then lets a use-count trigger rotate it automatically, rewraps the
//! ciphertexts made under old versions so they move to the current one without exposing their
//! plaintext, raises the decryption floor and trims the old versions, and shows that a
//! ciphertext which was not rewrapped is then refused with a clear error. Runs on a vault in
//! memory.
//!
//! Run with `cargo run -p keyvault-store --example key_rotation`.

use keyvault_core::envelope::Envelope;
use keyvault_core::{KeyAlgorithm, KeyName, KeyPolicy, KeyVersion, RotationTriggers};
use keyvault_crypto::Argon2Params;
use keyvault_store::{MemoryVault, NewKey, VaultOptions};

/// The key version an envelope was sealed with (read from its authenticated header).
fn version_of(sealed: &[u8]) -> Result<KeyVersion, Box<dyn std::error::Error>> {
    Ok(Envelope::parse(sealed)?.header().key_version)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Demo settings: the OWASP floor for Argon2id. Real vaults should keep the defaults.
    let options = VaultOptions {
        argon2: Argon2Params::MINIMUM,
        actor: "example:key_rotation".to_owned(),
        ..VaultOptions::default()
    };
    println!("demo Argon2id settings: 19456 KiB, 2 passes, 1 lane (the OWASP minimum)");
    let vault = MemoryVault::in_memory(b"example password", options)?;

    // A key that also rotates by itself after every 3 encryptions with one version.
    let name = KeyName::new("sessions")?;
    let mut spec = NewKey::new(name.clone(), KeyAlgorithm::default());
    spec.policy = KeyPolicy::default().with_rotation(RotationTriggers {
        max_age: None,
        max_uses: Some(3),
    });
    vault.create_key(spec)?;
    println!("created the key {name}: rotates automatically after 3 uses of a version");

    // Version 1.
    let mut ciphertexts = Vec::new();
    let first = vault.encrypt(&name, b"session token A", b"user 1")?;
    println!("encrypted token A with version {}", version_of(&first)?);
    ciphertexts.push((first, b"user 1".as_slice()));

    // Manual rotation: version 2 encrypts from now on; version 1 still decrypts.
    let key = vault.rotate(&name)?;
    println!(
        "rotated by hand: version {} now encrypts",
        key.latest_version()
    );

    // Three uses of version 2, then the trigger rotates before the fourth use.
    for (i, aad) in [b"user 2".as_slice(), b"user 3", b"user 4", b"user 5"]
        .into_iter()
        .enumerate()
    {
        let sealed = vault.encrypt(&name, format!("session token {i}").as_bytes(), aad)?;
        println!(
            "encryption {} of this round used version {}",
            i + 1,
            version_of(&sealed)?
        );
        ciphertexts.push((sealed, aad));
    }
    let key = vault.key(&name)?;
    println!(
        "the key now has {} versions; version {} encrypts",
        key.versions().len(),
        key.latest_version()
    );

    // Rewrapping encrypts too, so it counts as a use; switch the use trigger off for the
    // migration below so the version being migrated to stays the newest.
    let mut policy = key.policy().clone();
    policy.rotation.max_uses = None;
    vault.set_policy(&name, policy)?;
    println!("switched the use-count trigger off for the rewrap");

    // Keep one old ciphertext as it is, to show what trimming does to it.
    let forgotten = vault.encrypt(&name, b"never rewrapped", b"user 6")?;
    let forgotten_version = version_of(&forgotten)?;
    vault.rotate(&name)?;
    let current = vault.key(&name)?.latest_version();
    println!(
        "rotated again: version {current} encrypts; one ciphertext stays under version {forgotten_version}"
    );

    // Rewrap every stored ciphertext under the current version; the plaintext never leaves the
    // vault and the AAD stays the same.
    let mut rewrapped = Vec::new();
    for (sealed, aad) in &ciphertexts {
        let before = version_of(sealed)?;
        let after = vault.rewrap(sealed, aad)?;
        println!(
            "rewrapped a ciphertext: version {before} -> {}",
            version_of(&after)?
        );
        rewrapped.push((after, *aad));
    }

    // First raise the decryption floor (reversible: the old material is still there) ...
    let key = vault.set_min_decryption_version(&name, current)?;
    println!(
        "decryption floor raised to version {}",
        key.min_decryption_version()
    );
    match vault.decrypt(&forgotten, b"user 6") {
        Ok(_) => return Err("a ciphertext below the floor decrypted".into()),
        Err(err) => println!("below the floor, an old ciphertext is refused: {err}"),
    }

    // ... then trim: every version below the current one is destroyed for good.
    let key = vault.trim(&name, current)?;
    let states: Vec<String> = key
        .versions()
        .iter()
        .map(|info| format!("{}={:?}", info.version, info.state))
        .collect();
    println!("trimmed below version {current}: {}", states.join(", "));

    for (sealed, aad) in &rewrapped {
        vault.decrypt(sealed, aad)?;
    }
    println!(
        "all {} rewrapped ciphertexts still decrypt",
        rewrapped.len()
    );

    match vault.decrypt(&forgotten, b"user 6") {
        Ok(_) => return Err("a ciphertext under a destroyed version decrypted".into()),
        Err(err) => println!("the ciphertext that was not rewrapped is gone for good: {err}"),
    }

    let report = vault.verify_audit()?;
    println!("the audit chain verifies: {} records", report.records);
    Ok(())
}
