//! `init`, `passwd`, `status` and `quickstart`.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use keyvault_core::envelope::{armour, dearmour};
use keyvault_core::{KeyAlgorithm, KeyPurpose, StateKind};
use keyvault_store::{AuditFilter, KeyFilter, NewKey, StoreError};
use serde_json::json;

use super::finish;
use crate::args::{AddAwsKmsArgs, AddPkcs11Args, InitArgs, QuickstartArgs};
use crate::context::Context;
use crate::exit::{Code, Failure};
use crate::password::Source;
use crate::progress::Spinner;

/// `keyvault init`.
pub(crate) fn init(ctx: &Context<'_>, args: &InitArgs) -> Result<()> {
    let path = ctx.vault_path()?;
    if path.exists() {
        return Err(Failure::new(
            Code::Failure,
            format!(
                "a file already exists at {}; no vault was created",
                path.display()
            ),
        )
        .into());
    }
    if let (Some((threshold, count)), Some(dir)) = (args.shares, &args.out_dir) {
        super::slot::check_share_dir(dir, count)?;
        // Refused before the vault exists, so a bad request leaves nothing behind.
        keyvault_store::MAX_SHARES
            .checked_sub(count)
            .filter(|_| (2..=count).contains(&threshold))
            .ok_or_else(|| {
                Failure::usage(format!(
                    "--shares {threshold}/{count}: need 2 ≤ M ≤ N ≤ {}",
                    keyvault_store::MAX_SHARES
                ))
            })?;
    }
    // Providers are reached before the vault exists, so an unreachable one leaves nothing.
    let mut providers = Vec::new();
    if let (Some(module), Some(token), Some(key)) =
        (&args.pkcs11_module, &args.pkcs11_token, &args.pkcs11_key)
    {
        providers.push(crate::custody::pkcs11_for_new_slot(&AddPkcs11Args {
            module: module.clone(),
            token: token.clone(),
            key: key.clone(),
        })?);
    }
    if let Some(key_id) = &args.aws_kms_key_id {
        providers.push(crate::custody::aws_kms_for_new_slot(&AddAwsKmsArgs {
            key_id: key_id.clone(),
        })?);
    }
    let password = ctx.new_vault_password()?;
    let vault = ctx.create_vault(&path, &password)?;
    let mut value = serde_json::Map::new();
    value.insert("vault".to_owned(), json!(path));
    value.insert("created".to_owned(), json!(true));
    // It may hold the recovery key: wiped once printed.
    let mut text = zeroize::Zeroizing::new(format!("created a vault at {}", path.display()));
    if args.recovery {
        let (id, key) = vault
            .add_recovery_slot()
            .context("cannot add a recovery key")?;
        value.insert("recovery_key".to_owned(), json!(key.to_text().as_str()));
        text.push('\n');
        text.push_str(&super::slot::recovery_text(id, &key));
    }
    if let (Some((threshold, count)), Some(dir)) = (args.shares, &args.out_dir) {
        let (id, files) = super::slot::deal_shares(&vault, threshold, count, dir)?;
        value.insert("shares".to_owned(), json!(files));
        text.push('\n');
        text.push_str(&super::slot::shares_text(id, threshold, count, dir));
    }
    for provider in &providers {
        let id = vault
            .add_external_slot(&**provider)
            .with_context(|| format!("cannot add a {} slot", provider.name()))?;
        text.push_str(&format!("\nadded {} slot {id}", provider.name()));
    }
    if !providers.is_empty() {
        value.insert(
            "providers".to_owned(),
            json!(providers.iter().map(|p| p.name()).collect::<Vec<_>>()),
        );
    }
    finish(vault)?;
    let value = serde_json::Value::Object(value);
    if args.recovery {
        // The key is the result: printed on stdout even in text mode.
        ctx.out.data(&value, &text)
    } else {
        ctx.out.done(&value, &text)
    }
}

/// `keyvault passwd`.
pub(crate) fn passwd(ctx: &Context<'_>) -> Result<()> {
    let path = ctx.vault_path()?;
    let vault = ctx.open_vault()?;
    let new = Source::new_vault().new_password()?;
    let scrub = {
        let _spinner = Spinner::start("rewrapping the master key");
        vault
            .change_password(&new)
            .context("cannot change the vault password")?
    };
    finish(vault)?;
    super::warn_if_unscrubbed(scrub, "a copy of the old keyslot");
    ctx.out.done(
        &json!({ "vault": path, "password_changed": true }),
        &format!("changed the password of the vault at {}", path.display()),
    )
}

/// `keyvault status`.
pub(crate) fn status(ctx: &Context<'_>) -> Result<()> {
    let path = ctx.vault_path()?;
    let vault = ctx.open_vault()?;
    let keys = vault.list_keys(&KeyFilter::default())?;
    let records = vault.audit_log(&AuditFilter::default())?.len();
    let insecure = vault.insecure_permissions().ok().flatten();
    let size = std::fs::metadata(&path).map(|meta| meta.len()).ok();
    finish(vault)?;
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for key in &keys {
        *by_state.entry(key.state().kind().as_str()).or_default() += 1;
    }
    let value = json!({
        "vault": path,
        "file_bytes": size,
        "private": insecure.is_none(),
        "mode": insecure.map(|mode| format!("{mode:o}")),
        "keys": { "total": keys.len(), "by_state": by_state },
        "audit_records": records,
    });
    let states = StateKind::ALL
        .iter()
        .filter_map(|state| {
            by_state
                .get(state.as_str())
                .map(|n| format!("{n} {}", state.as_str()))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "vault          {}\nfile           {}{}\nkeys           {}{}\naudit records  {records}\n",
        path.display(),
        size.map_or_else(|| "?".to_owned(), |n| format!("{n} bytes")),
        match insecure {
            Some(mode) => format!(" (WARNING: mode {mode:o}, readable by others)"),
            None => ", private (0600)".to_owned(),
        },
        keys.len(),
        if states.is_empty() {
            String::new()
        } else {
            format!(" ({states})")
        },
    );
    ctx.out.data(&value, &text)
}

/// AAD the quickstart binds its message to.
const QUICKSTART_AAD: &[u8] = b"keyvault quickstart";

/// `keyvault quickstart`: a vault and a key if missing, then a round trip and an audit check.
pub(crate) fn quickstart(ctx: &Context<'_>, args: &QuickstartArgs) -> Result<()> {
    let path = ctx.vault_path()?;
    let (vault, vault_created) = if path.exists() {
        (ctx.open_vault()?, false)
    } else {
        let password = ctx.new_vault_password()?;
        (ctx.create_vault(&path, &password)?, true)
    };
    let (key, key_created) = match vault.key(&args.key) {
        Ok(key) => (key, false),
        Err(StoreError::KeyNotFound(_)) => (
            vault
                .create_key(NewKey::new(args.key.clone(), KeyAlgorithm::default()))
                .with_context(|| format!("cannot create the key {}", args.key))?,
            true,
        ),
        Err(err) => return Err(err.into()),
    };
    if key.algorithm().purpose() != KeyPurpose::Encryption {
        return Err(Failure::usage(format!(
            "the key {} is an {} key; quickstart needs an encryption key (pass --key)",
            args.key,
            key.algorithm()
        ))
        .into());
    }
    let sealed = vault
        .encrypt(&args.key, args.message.as_bytes(), QUICKSTART_AAD)
        .with_context(|| format!("cannot encrypt with the key {}", args.key))?;
    let armoured = armour(&sealed)?;
    let opened = vault
        .decrypt(&dearmour(&armoured)?, QUICKSTART_AAD)
        .context("cannot decrypt the message just encrypted")?;
    if opened.as_slice() != args.message.as_bytes() {
        return Err(Failure::new(
            Code::Failure,
            "the decrypted message differs from the one encrypted",
        )
        .into());
    }
    let version = keyvault_core::envelope::Envelope::parse(&sealed)?
        .header()
        .key_version;
    let keys = vault.list_keys(&KeyFilter::default())?.len();
    let report = vault
        .verify_audit()
        .context("the audit log does not verify")?;
    finish(vault)?;
    let value = json!({
        "vault": { "path": path, "created": vault_created },
        "key": { "name": args.key.as_str(), "created": key_created, "algorithm": key.algorithm().name(), "version": version.get() },
        "ciphertext": armoured,
        "plaintext": args.message,
        "round_trip": true,
        "keys": keys,
        "audit": { "verified": true, "records": report.records },
    });
    let text = format!(
        "vault      {} ({})\n\
         key        {} ({}, {}, version {})\n\
         encrypted  {:?}\n           -> {armoured}\n\
         decrypted  {:?} (matches)\n\
         keys       {keys} in the vault\n\
         audit      chain of {} verified\n",
        path.display(),
        if vault_created { "created" } else { "opened" },
        args.key,
        if key_created { "created" } else { "existing" },
        key.algorithm(),
        version.get(),
        args.message,
        args.message,
        crate::hints::count(report.records, "record", "records"),
    );
    ctx.out.data(&value, &text)
}
