//! Audit log analysis.
//!
//! Performs a mix of operations on a vault in memory — successful ones, ones refused by policy
//! (an operation outside the allow list, a spent usage limit, a disabled key) and failed ones
//! (a wrong AAD) — then reads the audit log back with filters, counts records per operation and
//! outcome, lists every denial with its reason, and verifies the MAC chain that makes the log
//! tamper-evident.
//!
//! Run with `cargo run -p keyvault-store --example audit_analysis`.

use std::collections::{BTreeMap, HashMap};

use keyvault_core::{
    AuditOperation, AuditRecord, KeyAlgorithm, KeyId, KeyName, KeyOperation, KeyPolicy, Outcome,
    Transition,
};
use keyvault_crypto::Argon2Params;
use keyvault_store::{AuditFilter, KeyFilter, MemoryVault, NewKey, VaultOptions};

/// An outcome as the kind `AuditFilter::outcome` matches, with its reason if any.
fn describe(outcome: &Outcome) -> (&'static str, String) {
    match outcome {
        Outcome::Ok => ("ok", String::new()),
        Outcome::Denied { reason } => ("denied", reason.to_string()),
        Outcome::Error { kind } => ("error", kind.to_string()),
    }
}

/// The key a record is about, by name: the record's own, else the current name of its key id
/// (decryption events carry only the id the ciphertext names).
fn key_label(record: &AuditRecord, names: &HashMap<KeyId, String>) -> String {
    match (&record.event.key_name, &record.event.key_id) {
        (Some(name), _) => name.to_string(),
        (None, Some(id)) => names.get(id).cloned().unwrap_or_else(|| id.to_string()),
        (None, None) => "-".to_owned(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Demo settings: the OWASP floor for Argon2id. Real vaults should keep the defaults.
    let options = VaultOptions {
        argon2: Argon2Params::MINIMUM,
        actor: "example:audit_analysis".to_owned(),
        ..VaultOptions::default()
    };
    println!("demo Argon2id settings: 19456 KiB, 2 passes, 1 lane (the OWASP minimum)");
    let vault = MemoryVault::in_memory(b"example password", options)?;

    // orders: used normally.
    let orders = KeyName::new("orders")?;
    vault.create_key(NewKey::new(orders.clone(), KeyAlgorithm::default()))?;
    let mut sealed = Vec::new();
    for i in 0..5 {
        sealed.push(vault.encrypt(&orders, format!("order {i}").as_bytes(), b"shop")?);
    }
    for envelope in &sealed {
        vault.decrypt(envelope, b"shop")?;
    }
    let first = sealed.first().ok_or("no ciphertext was made")?;
    let wrong_aad = vault.decrypt(first, b"not the shop");
    println!(
        "orders: 5 encryptions, 5 decryptions, 1 decryption with the wrong AAD ({})",
        wrong_aad
            .err()
            .map_or_else(|| "accepted?!".to_owned(), |e| e.to_string())
    );

    // reports: may only decrypt, so encrypting is denied by the allow list.
    let reports = KeyName::new("reports")?;
    let mut spec = NewKey::new(reports.clone(), KeyAlgorithm::default());
    spec.policy = KeyPolicy::default().allow_only([KeyOperation::Decrypt]);
    vault.create_key(spec)?;
    if let Err(err) = vault.encrypt(&reports, b"quarterly figures", b"") {
        println!("reports: encrypt refused: {err}");
    }

    // one-shot: two operations in its whole life.
    let one_shot = KeyName::new("one-shot")?;
    let mut spec = NewKey::new(one_shot.clone(), KeyAlgorithm::default());
    spec.policy = KeyPolicy::default().with_max_operations(2);
    vault.create_key(spec)?;
    for i in 1..=3 {
        match vault.encrypt(&one_shot, b"launch code", b"") {
            Ok(_) => println!("one-shot: use {i} allowed"),
            Err(err) => println!("one-shot: use {i} refused: {err}"),
        }
    }

    // legacy: disabled, so its ciphertexts cannot be read until it is enabled again.
    let legacy = KeyName::new("legacy")?;
    vault.create_key(NewKey::new(legacy.clone(), KeyAlgorithm::default()))?;
    let old = vault.encrypt(&legacy, b"old record", b"")?;
    vault.transition(&legacy, Transition::Disable)?;
    if let Err(err) = vault.decrypt(&old, b"") {
        println!("legacy: decrypt while disabled refused: {err}");
    }
    vault.transition(&legacy, Transition::Enable)?;
    vault.decrypt(&old, b"")?;
    println!("legacy: enabled again and decrypted");

    // The whole log, summarised per operation and outcome.
    let all = vault.audit_log(&AuditFilter::default())?;
    let mut counts: BTreeMap<(&'static str, &'static str), u64> = BTreeMap::new();
    for record in &all {
        let (outcome, _) = describe(&record.event.outcome);
        *counts
            .entry((record.event.operation.as_str(), outcome))
            .or_default() += 1;
    }
    println!("\n{} audit records; per operation and outcome:", all.len());
    for ((operation, outcome), count) in &counts {
        println!("  {operation:<16} {outcome:<7} {count:>3}");
    }

    // Filters: every denial, with its reason.
    let denied = vault.audit_log(&AuditFilter {
        outcome: Some(keyvault_core::OutcomeKind::Denied),
        ..AuditFilter::default()
    })?;
    let names: HashMap<KeyId, String> = vault
        .list_keys(&KeyFilter::default())?
        .into_iter()
        .map(|key| (key.id(), key.name().to_string()))
        .collect();
    println!("\ndenied requests ({}):", denied.len());
    for record in &denied {
        let (_, reason) = describe(&record.event.outcome);
        println!(
            "  #{:<3} {} {:<8} {:<10} {}",
            record.seq,
            record.event.time,
            record.event.operation.as_str(),
            key_label(record, &names),
            reason
        );
    }

    // Filters: the decryptions of one key (by id), including the failed one.
    let orders_id = vault.key(&orders)?.id();
    let decrypts = vault.audit_log(&AuditFilter {
        key: Some(orders_id),
        operation: Some(AuditOperation::Decrypt),
        ..AuditFilter::default()
    })?;
    let failed = decrypts
        .iter()
        .filter(|record| describe(&record.event.outcome).0 == "error")
        .count();
    println!(
        "\ndecryptions with orders: {} ({} failed authentication)",
        decrypts.len(),
        failed
    );

    // Filters: management changes to the legacy key.
    let legacy_id = vault.key(&legacy)?.id();
    let changes = vault.audit_log(&AuditFilter {
        key: Some(legacy_id),
        ..AuditFilter::default()
    })?;
    let names: Vec<&str> = changes
        .iter()
        .map(|record| record.event.operation.as_str())
        .collect();
    println!("everything that happened to legacy: {}", names.join(", "));

    let report = vault.verify_audit()?;
    println!(
        "\nthe audit chain verifies: {} records, none edited, removed, reordered or added",
        report.records
    );
    Ok(())
}
