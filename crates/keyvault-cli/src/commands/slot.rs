//! `keyvault slot`: the vault's keyslots (see docs/CEREMONY.md for a whole key ceremony).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use keyvault_store::{FileBackend, FileVault, RecoveryKey, SlotDescription, SlotInfo, Vault};
use serde_json::{Value, json};

use super::{finish, warn_if_unscrubbed};
use crate::args::{
    AddAwsKmsArgs, AddPkcs11Args, AddSharesArgs, SlotAddCommand, SlotCommand, VerifyShareArgs,
};
use crate::context::{Context, read_share};
use crate::exit::{Code, Failure};
use crate::output::safe;

/// Run a `keyvault slot` command.
pub(crate) fn run(ctx: &Context<'_>, command: &SlotCommand) -> Result<()> {
    match command {
        SlotCommand::List => list(ctx),
        SlotCommand::Add(SlotAddCommand::Recovery) => add_recovery(ctx),
        SlotCommand::Add(SlotAddCommand::Shares(args)) => add_shares(ctx, args),
        SlotCommand::Add(SlotAddCommand::Pkcs11(args)) => add_pkcs11(ctx, args),
        SlotCommand::Add(SlotAddCommand::AwsKms(args)) => add_aws_kms(ctx, args),
        SlotCommand::Remove(args) => remove(ctx, args.id),
        SlotCommand::VerifyShare(args) => verify_shares(ctx, args),
    }
}

fn list(ctx: &Context<'_>) -> Result<()> {
    let vault = ctx.open_vault()?;
    let slots = vault.slots()?;
    finish(vault)?;
    let text = slots
        .iter()
        .map(|slot| format!("{:>3}  {}", slot.id, describe(slot)))
        .collect::<Vec<_>>()
        .join("\n");
    ctx.out.data(
        &json!({ "slots": slots.iter().map(slot_json).collect::<Vec<_>>() }),
        &text,
    )
}

fn add_recovery(ctx: &Context<'_>) -> Result<()> {
    let vault = ctx.open_vault()?;
    let (id, key) = vault
        .add_recovery_slot()
        .context("cannot add a recovery key")?;
    finish(vault)?;
    ctx.out.data(
        &json!({ "slot": id, "recovery_key": key.to_text().as_str() }),
        &recovery_text(id, &key),
    )
}

/// What `slot add recovery` and `init --recovery` say: the key, once.
pub(crate) fn recovery_text(id: u32, key: &RecoveryKey) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(format!(
        "added recovery-key slot {id}. Write this key down and keep it offline; it is shown only \
         now and opens the vault without the password:\n\n    {}\n",
        key.to_text().as_str()
    ))
}

fn add_shares(ctx: &Context<'_>, args: &AddSharesArgs) -> Result<()> {
    check_share_dir(&args.out_dir, args.count)?;
    let vault = ctx.open_vault()?;
    let (id, written) = deal_shares(&vault, args.threshold, args.count, &args.out_dir)?;
    finish(vault)?;
    ctx.out.done(
        &json!({ "slot": id, "threshold": args.threshold, "shares": written }),
        &shares_text(id, args.threshold, args.count, &args.out_dir),
    )
}

/// What `slot add shares` and `init --shares` say.
pub(crate) fn shares_text(id: u32, threshold: u8, count: u8, dir: &Path) -> String {
    format!(
        "added shares slot {id}: {count} shares in {}, any {threshold} of which open the vault; \
         give one file to each custodian, then delete them here",
        dir.display()
    )
}

fn share_file(dir: &Path, index: u8, count: u8) -> PathBuf {
    dir.join(format!("share-{index}-of-{count}.txt"))
}

/// Refuse, before anything is dealt, a directory that is missing or already holds share files.
pub(crate) fn check_share_dir(dir: &Path, count: u8) -> Result<()> {
    if !dir.is_dir() {
        return Err(Failure::usage(format!(
            "{} is not a directory: create it (on the medium the shares go to) first",
            dir.display()
        ))
        .into());
    }
    for index in 1..=count {
        let file = share_file(dir, index, count);
        if file.exists() {
            return Err(Failure::new(
                Code::Failure,
                format!(
                    "{} already exists; choose an empty directory",
                    file.display()
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// Add a shares slot and write one 0600 file per share into `dir`.
pub(crate) fn deal_shares(
    vault: &FileVault,
    threshold: u8,
    count: u8,
    dir: &Path,
) -> Result<(u32, Vec<PathBuf>)> {
    let (id, shares) = vault
        .add_shares_slot(threshold, count)
        .context("cannot add a shares slot")?;
    let mut written = Vec::new();
    for share in &shares {
        let path = share_file(dir, share.index(), share.count());
        let content = zeroize::Zeroizing::new(format!(
            "# keyvault share {index} of {count}: any {threshold} open vault {vault} (slot {id}).\n\
             # Keep it offline; check it with `keyvault slot verify-share FILE`.\n{text}\n",
            index = share.index(),
            count = share.count(),
            threshold = share.threshold(),
            vault = share.vault_id(),
            text = share.to_text().as_str(),
        ));
        keyvault_store::durable::write_new(&path, content.as_bytes())
            .with_context(|| format!("cannot write the share file {}", path.display()))?;
        written.push(path);
    }
    Ok((id, written))
}

fn add_pkcs11(ctx: &Context<'_>, args: &AddPkcs11Args) -> Result<()> {
    let wrapper = crate::custody::pkcs11_for_new_slot(args)?;
    let vault = ctx.open_vault()?;
    let id = vault
        .add_external_slot(&*wrapper)
        .context("cannot add a PKCS#11 slot")?;
    finish(vault)?;
    ctx.out.done(
        &json!({ "slot": id, "provider": "pkcs11", "token": args.token, "key": args.key }),
        &format!(
            "added PKCS#11 slot {id}: the key {:?} on the token {:?} opens the vault (set {} to \
             the module to open it without a password)",
            safe(&args.key),
            safe(&args.token),
            crate::custody::PKCS11_MODULE_ENV
        ),
    )
}

fn add_aws_kms(ctx: &Context<'_>, args: &AddAwsKmsArgs) -> Result<()> {
    let wrapper = crate::custody::aws_kms_for_new_slot(args)?;
    let vault = ctx.open_vault()?;
    let id = vault
        .add_external_slot(&*wrapper)
        .context("cannot add an AWS KMS slot")?;
    finish(vault)?;
    ctx.out.done(
        &json!({ "slot": id, "provider": "aws-kms", "key_id": args.key_id }),
        &format!(
            "added AWS KMS slot {id}: the KMS key {} opens the vault wherever AWS credentials \
             allowed to use it are configured",
            safe(&args.key_id)
        ),
    )
}

fn remove(ctx: &Context<'_>, id: u32) -> Result<()> {
    let vault = ctx.open_vault()?;
    let scrub = vault
        .remove_slot(id)
        .with_context(|| format!("cannot remove keyslot {id}"))?;
    finish(vault)?;
    warn_if_unscrubbed(scrub, "a copy of the removed keyslot");
    ctx.out.done(
        &json!({ "removed_slot": id }),
        &format!("removed keyslot {id}"),
    )
}

fn verify_shares(ctx: &Context<'_>, args: &VerifyShareArgs) -> Result<()> {
    let path = ctx.vault_path()?;
    let backend = FileBackend::open(&path)
        .with_context(|| format!("cannot read the vault at {}", path.display()))?;
    let mut checked = Vec::new();
    for file in &args.files {
        let share = read_share(file)?;
        Vault::check_share(&backend, &share)
            .with_context(|| format!("{} is not a share of this vault", safe_path(file)))?;
        checked.push(json!({
            "file": file,
            "index": share.index(),
            "threshold": share.threshold(),
            "count": share.count(),
        }));
    }
    let text = format!(
        "{} share{} of the vault at {} check out",
        checked.len(),
        if checked.len() == 1 { "" } else { "s" },
        path.display()
    );
    ctx.out.done(&json!({ "verified": checked }), &text)
}

fn safe_path(path: &Path) -> String {
    safe(&path.display().to_string()).into_owned()
}

fn describe(slot: &SlotInfo) -> String {
    match &slot.slot {
        SlotDescription::Password { argon2 } => format!(
            "password (Argon2id {} KiB, {} passes, {} lanes)",
            argon2.memory_kib, argon2.iterations, argon2.lanes
        ),
        SlotDescription::Recovery => "recovery key".to_owned(),
        SlotDescription::Shares { threshold, count } => {
            format!("shares: any {threshold} of {count}")
        }
        SlotDescription::External { provider, settings } => {
            let settings = settings
                .iter()
                .map(|(name, value)| format!("{name}={}", safe(value)))
                .collect::<Vec<_>>()
                .join(" ");
            format!("{} {settings}", safe(provider))
        }
        _ => "a kind this version cannot describe".to_owned(),
    }
}

fn slot_json(slot: &SlotInfo) -> Value {
    match &slot.slot {
        SlotDescription::Password { argon2 } => json!({
            "id": slot.id, "kind": "password",
            "argon2": { "memory_kib": argon2.memory_kib, "iterations": argon2.iterations,
                        "lanes": argon2.lanes },
        }),
        SlotDescription::Recovery => json!({ "id": slot.id, "kind": "recovery" }),
        SlotDescription::Shares { threshold, count } => json!({
            "id": slot.id, "kind": "shares", "threshold": threshold, "count": count,
        }),
        SlotDescription::External { provider, settings } => json!({
            "id": slot.id, "kind": "external", "provider": provider, "settings": settings,
        }),
        _ => json!({ "id": slot.id, "kind": "unknown" }),
    }
}
