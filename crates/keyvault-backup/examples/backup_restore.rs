//! Full and incremental backups, verified and restored.
//!
//! Creates a file vault in a fresh temporary directory with two keys and some ciphertexts,
//! writes a full backup to a file, changes the vault (a new key, a rotation, more ciphertexts),
//! writes an incremental backup on top of the full one, verifies the chain with the backup
//! password, restores it into a new vault file with a new password, and shows that every key,
//! every version and every ciphertext survived and that the restored audit log verifies. The
//! directory is removed at the end.
//!
//! Run with `cargo run -p keyvault-backup --example backup_restore`.

use keyvault_backup::{
    BackupConfig, VaultBackup, create_backup, create_incremental_backup, restore_to_file,
    verify_chain,
};
use keyvault_core::{KeyAlgorithm, KeyName};
use keyvault_crypto::Argon2Params;
use keyvault_store::{FileVault, KeyFilter, NewKey, VaultOptions};

/// Print one line per key: name, state and versions.
fn list_keys(label: &str, vault: &FileVault) -> Result<(), Box<dyn std::error::Error>> {
    println!("{label}:");
    for key in vault.list_keys(&KeyFilter::default())? {
        println!(
            "  {:<10} {:<8} {} version(s), newest {}",
            key.name().to_string(),
            format!("{:?}", key.state()),
            key.versions().len(),
            key.latest_version()
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Removed when `dir` is closed or dropped.
    let dir = tempfile::Builder::new()
        .prefix("keyvault-backup-restore-")
        .tempdir()?;
    // Demo settings: the OWASP floor for Argon2id, for the vaults and the backups alike, so
    // the example runs in seconds. Real vaults and backups should keep the defaults.
    let cheap = Argon2Params::MINIMUM;
    let options = VaultOptions {
        argon2: cheap,
        actor: "example:backup_restore".to_owned(),
        ..VaultOptions::default()
    };
    println!("demo Argon2id settings: 19456 KiB, 2 passes, 1 lane (the OWASP minimum)");

    let vault_path = dir.path().join("app.vault");
    let vault = FileVault::create(&vault_path, b"vault password", options.clone())?;
    let orders = KeyName::new("orders")?;
    let tokens = KeyName::new("tokens")?;
    vault.create_key(NewKey::new(orders.clone(), KeyAlgorithm::default()))?;
    vault.create_key(NewKey::new(tokens.clone(), KeyAlgorithm::Aes256Gcm))?;
    let mut ciphertexts = vec![
        (
            vault.encrypt(&orders, b"order 1: card 4111", b"order 1")?,
            b"order 1".to_vec(),
            b"order 1: card 4111".to_vec(),
        ),
        (
            vault.encrypt(&tokens, b"token alpha", b"")?,
            Vec::new(),
            b"token alpha".to_vec(),
        ),
    ];
    println!(
        "created {} with the keys orders and tokens",
        vault_path.display()
    );

    // Full backup.
    let mut config = BackupConfig::new(b"backup password".to_vec());
    config.argon2 = cheap;
    config.comment = Some("nightly full".to_owned());
    let full_path = dir.path().join("full.kvb");
    let full = create_backup(&vault, &config)?;
    full.write_file(&full_path)?;
    println!(
        "wrote a full backup of {} keys to {} ({} bytes)",
        full.metadata().key_count,
        full_path.display(),
        full.as_bytes().len()
    );

    // Changes after the full backup.
    let billing = KeyName::new("billing")?;
    vault.create_key(NewKey::new(billing.clone(), KeyAlgorithm::ChaCha20Poly1305))?;
    vault.rotate(&orders)?;
    ciphertexts.push((
        vault.encrypt(&orders, b"order 2: card 5500", b"order 2")?,
        b"order 2".to_vec(),
        b"order 2: card 5500".to_vec(),
    ));
    ciphertexts.push((
        vault.encrypt(&billing, b"invoice 9", b"")?,
        Vec::new(),
        b"invoice 9".to_vec(),
    ));
    println!("then created billing, rotated orders to version 2 and encrypted two more messages");

    // Incremental backup: only what changed since the full one.
    config.comment = Some("hourly incremental".to_owned());
    let incremental_path = dir.path().join("incremental-1.kvb");
    let incremental = create_incremental_backup(&vault, &full, &config)?;
    incremental.write_file(&incremental_path)?;
    println!(
        "wrote an incremental backup of {} changed keys to {} ({} bytes)",
        incremental.metadata().key_count,
        incremental_path.display(),
        incremental.as_bytes().len()
    );
    list_keys("keys in the original vault", &vault)?;
    drop(vault);

    // Read the files back and verify the chain without restoring it.
    let chain = vec![
        VaultBackup::read_file(&full_path)?,
        VaultBackup::read_file(&incremental_path)?,
    ];
    let report = verify_chain(&chain, b"backup password")?;
    for backup in &report.backups {
        println!(
            "verified backup {} ({}, {} keys, comment {:?})",
            backup.backup_id,
            if backup.base.is_some() {
                "incremental"
            } else {
                "full"
            },
            backup.key_count,
            backup.comment.as_deref().unwrap_or("")
        );
    }
    println!(
        "a restore would hold {} keys and {} audit records",
        report.keys, report.audit_records
    );
    match verify_chain(&chain, b"not the backup password") {
        Ok(_) => return Err("a wrong backup password verified".into()),
        Err(err) => println!("with the wrong backup password: {err}"),
    }

    // Restore into a new file with a new vault password.
    let restored_path = dir.path().join("restored.vault");
    let restored = restore_to_file(
        &restored_path,
        &chain,
        b"backup password",
        b"new vault password",
        options,
    )?;
    println!("restored the chain into {}", restored_path.display());
    list_keys("keys in the restored vault", &restored)?;

    for (sealed, aad, expected) in &ciphertexts {
        let plaintext = restored.decrypt(sealed, aad)?;
        if plaintext.as_slice() != expected.as_slice() {
            return Err("a restored key decrypted to different bytes".into());
        }
    }
    println!(
        "all {} ciphertexts made before and after the full backup decrypt in the restored vault",
        ciphertexts.len()
    );
    let sealed = restored.encrypt(&orders, b"order 3", b"order 3")?;
    restored.decrypt(&sealed, b"order 3")?;
    println!(
        "the restored vault encrypts with orders version {}",
        restored.key(&orders)?.latest_version()
    );

    let audit = restored.verify_audit()?;
    println!(
        "the restored audit chain verifies: {} records",
        audit.records
    );

    drop(restored);
    dir.close()?;
    println!("removed the temporary directory");
    Ok(())
}
