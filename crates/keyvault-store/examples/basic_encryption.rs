//! Basic encryption and decryption with a file vault.
//!
//! Creates a vault file in a fresh temporary directory, creates an XChaCha20-Poly1305 key,
//! encrypts a message bound to some associated data (AAD), decrypts it, shows that the wrong
//! AAD and a changed ciphertext are both refused, reopens the vault from disk with its password,
//! and removes the directory at the end.
//!
//! Run with `cargo run -p keyvault-store --example basic_encryption`.

use keyvault_core::envelope::Envelope;
use keyvault_core::{KeyAlgorithm, KeyName};
use keyvault_crypto::Argon2Params;
use keyvault_store::{FileVault, NewKey, VaultOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Removed when `dir` is closed or dropped.
    let dir = tempfile::Builder::new()
        .prefix("keyvault-basic-encryption-")
        .tempdir()?;
    let path = dir.path().join("app.vault");
    let password = b"correct horse battery staple";

    // Demo settings: the OWASP floor for Argon2id, so the example runs in well under a second.
    // Real vaults should keep the default (64 MiB, 4 passes, 4 lanes).
    let options = VaultOptions {
        argon2: Argon2Params::MINIMUM,
        actor: "example:basic_encryption".to_owned(),
        ..VaultOptions::default()
    };
    println!(
        "demo Argon2id settings: 19456 KiB, 2 passes, 1 lane (the OWASP minimum; use the defaults in production)"
    );

    let vault = FileVault::create(&path, password, options.clone())?;
    println!("created a vault at {}", path.display());

    let orders = KeyName::new("orders")?;
    let key = vault.create_key(NewKey::new(orders.clone(), KeyAlgorithm::XChaCha20Poly1305))?;
    println!(
        "created the key {} (id {}, {:?}, version {})",
        key.name(),
        key.id(),
        key.algorithm(),
        key.latest_version()
    );

    let plaintext = b"card 4111 1111 1111 1111";
    let aad = b"order 17";
    let sealed = vault.encrypt(&orders, plaintext, aad)?;
    let header = *Envelope::parse(&sealed)?.header();
    println!(
        "encrypted {} bytes into a {}-byte envelope naming key {} version {} ({:?})",
        plaintext.len(),
        sealed.len(),
        header.key_id,
        header.key_version,
        header.algorithm
    );

    let opened = vault.decrypt(&sealed, aad)?;
    if opened.as_slice() != plaintext {
        return Err("decryption returned different bytes".into());
    }
    println!(
        "decrypted with the same AAD: {:?}",
        String::from_utf8_lossy(&opened)
    );

    match vault.decrypt(&sealed, b"order 18") {
        Ok(_) => return Err("decryption with the wrong AAD succeeded".into()),
        Err(err) => println!("decrypting with the AAD \"order 18\" fails as it must: {err}"),
    }

    let mut tampered = sealed.clone();
    if let Some(last) = tampered.last_mut() {
        *last ^= 0x01;
    }
    match vault.decrypt(&tampered, aad) {
        Ok(_) => return Err("a tampered ciphertext decrypted".into()),
        Err(err) => println!("decrypting a ciphertext with one flipped bit fails too: {err}"),
    }

    // Close the vault and open it again from disk: the key and the ciphertext survive.
    drop(vault);
    let vault = FileVault::open_file(&path, password, options)?;
    let reopened = vault.decrypt(&sealed, aad)?;
    if reopened.as_slice() != plaintext {
        return Err("decryption after reopening returned different bytes".into());
    }
    println!("reopened the vault from disk and decrypted the envelope again");

    let report = vault.verify_audit()?;
    println!("the audit chain verifies: {} records", report.records);

    drop(vault);
    dir.close()?;
    println!("removed the temporary directory");
    Ok(())
}
