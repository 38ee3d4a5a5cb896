//! `export`, `import`, `backup create|verify|inspect`, `restore` and `migrate rust-keyvault`:
//! the portable formats of keyvault-backup.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use keyvault_backup::legacy::{LegacyExport, LegacyStore, LegacyUnlock, MigrationOptions};
use keyvault_backup::{
    BackupConfig, BackupReport, ExportOptions, ExportedKey, ImportConflict, ImportOptions,
    MergePolicy, MergeReport, SkipReason, VaultBackup,
};
use keyvault_core::KeyName;
use keyvault_store::FileVault;
use serde_json::{Value, json};

use super::finish;
use crate::args::{
    BackupCommand, BackupCreateArgs, ConflictArg, ExportArgs, ExportFormatArg, ImportArgs,
    MigrateArgs, MigrateCommand, RestoreArgs,
};
use crate::context::{self, Context};
use crate::exit::{Code, Failure};
use crate::io::{Output, refuse_existing};
use crate::log;
use crate::output::{key_json, safe, time};
use crate::password::Source;
use crate::progress::Spinner;

/// `keyvault export`.
pub(crate) fn export(ctx: &Context<'_>, args: &ExportArgs) -> Result<()> {
    if !args.force {
        refuse_existing(&args.output, true)?;
    }
    let options = ExportOptions {
        versions: args.versions.clone(),
        argon2: context::argon2_params()?,
        comment: args.comment.clone(),
    };
    let vault = ctx.open_vault()?;
    let password = Source::export().new_password()?;
    let exported = {
        let _spinner = Spinner::start("wrapping the key under the export password");
        keyvault_backup::export_key(&vault, &args.name, &password, &options)
            .with_context(|| format!("cannot export the key {}", args.name))?
    };
    finish(vault)?;
    let bytes = match args.format {
        ExportFormatArg::Json => exported.to_json().into_bytes(),
        ExportFormatArg::Binary => exported.to_bytes(),
    };
    let mut output = Output::create(Some(&args.output), args.force)?;
    output
        .write_all(&bytes)
        .context("cannot write the export file")?;
    output.finish()?;
    let versions: Vec<u32> = exported.versions().iter().map(|v| v.get()).collect();
    ctx.out.done(
        &json!({
            "key": args.name.as_str(),
            "out": args.output,
            "format": match args.format { ExportFormatArg::Json => "json", ExportFormatArg::Binary => "binary" },
            "versions": versions,
            "bytes": bytes.len(),
        }),
        &format!(
            "exported the key {} (versions {}) to {}",
            args.name,
            versions
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            args.output.display()
        ),
    )
}

/// Read at most `limit` bytes of `path`.
fn read_bounded(path: &Path, limit: usize, what: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the {what} {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the {what} {}", path.display()))?;
    if bytes.len() > limit {
        return Err(Failure::new(
            Code::Authentication,
            format!(
                "{} is larger than any {what} ({} MiB at most)",
                path.display(),
                limit >> 20
            ),
        )
        .into());
    }
    Ok(bytes)
}

/// `keyvault import`.
pub(crate) fn import(ctx: &Context<'_>, args: &ImportArgs) -> Result<()> {
    let bytes = read_bounded(&args.file, keyvault_backup::MAX_EXPORT_LEN, "export file")?;
    let exported = ExportedKey::decode(&bytes)
        .with_context(|| format!("cannot read the export file {}", args.file.display()))?;
    let conflict = match (&args.rename, args.replace) {
        (Some(name), _) => ImportConflict::Rename(name.clone()),
        (None, true) => ImportConflict::Replace,
        (None, false) => ImportConflict::Refuse,
    };
    let options = ImportOptions {
        conflict,
        allow_expired: args.allow_expired,
    };
    let vault = ctx.open_vault()?;
    let password = Source::export().existing()?;
    let key = {
        let _spinner = Spinner::start("unwrapping the exported key");
        keyvault_backup::import_key(&vault, &exported, &password, &options).with_context(|| {
            format!(
                "cannot import the key {} from {}",
                exported.metadata().name(),
                args.file.display()
            )
        })?
    };
    finish(vault)?;
    ctx.out.done(
        &key_json(&key),
        &format!(
            "imported the key {} ({}, {}) from {}",
            key.name(),
            key.algorithm(),
            crate::hints::count_of(key.versions().len(), "version", "versions"),
            args.file.display()
        ),
    )
}

/// Read backup files.
fn read_backups(files: &[PathBuf]) -> Result<Vec<VaultBackup>> {
    files
        .iter()
        .map(|file| {
            VaultBackup::read_file(file)
                .with_context(|| format!("cannot read the backup {}", file.display()))
        })
        .collect()
}

/// `keyvault backup ...`.
pub(crate) fn backup(ctx: &Context<'_>, command: &BackupCommand) -> Result<()> {
    match command {
        BackupCommand::Create(args) => create_backup(ctx, args),
        BackupCommand::Verify(args) => {
            let chain = read_backups(&args.files)?;
            let password = Source::backup().existing()?;
            let _spinner = Spinner::start("verifying");
            let (reports, keys, audit_records) = if let ([single], [file]) =
                (&chain[..], &args.files[..])
            {
                let report = keyvault_backup::verify_backup(single, &password)
                    .with_context(|| format!("the backup {} does not verify", file.display()))?;
                let keys = report.key_count;
                let audit = report.audit_records;
                (vec![report], keys, audit)
            } else {
                let report = keyvault_backup::verify_chain(&chain, &password)
                    .context("the backup chain does not verify")?;
                (report.backups, report.keys, Some(report.audit_records))
            };
            let value = json!({
                "verified": true,
                "backups": reports.iter().zip(&args.files).map(|(r, f)| report_json(r, f)).collect::<Vec<_>>(),
                "keys": keys,
                "audit_records": audit_records,
            });
            let mut text = String::new();
            for (report, file) in reports.iter().zip(&args.files) {
                text.push_str(&format!(
                    "verified {}: {} backup {}, {}, made {}\n",
                    file.display(),
                    if report.base.is_some() {
                        "incremental"
                    } else {
                        "full"
                    },
                    report.backup_id,
                    crate::hints::count(report.key_count, "key", "keys"),
                    time(report.created_at)
                ));
            }
            text.push_str(&format!(
                "a restore would hold {}{}\n",
                crate::hints::count(keys, "key", "keys"),
                audit_records.map_or_else(String::new, |n| format!(
                    " and {}",
                    crate::hints::count(n, "audit record", "audit records")
                ))
            ));
            ctx.out.data(&value, &text)
        }
        BackupCommand::Inspect(args) => {
            let backup = VaultBackup::read_file(&args.file)
                .with_context(|| format!("cannot read the backup {}", args.file.display()))?;
            let meta = backup.metadata();
            let params = backup.argon2_params();
            let value = json!({
                "file": args.file,
                "authenticated": false,
                "backup_id": meta.checksum.to_string(),
                "base": meta.base.map(|id| id.to_string()),
                "incremental": meta.base.is_some(),
                "created_at": time(meta.created_at),
                "format_version": meta.format_version,
                "key_count": meta.key_count,
                "compressed": meta.compressed,
                "has_audit_logs": meta.has_audit_logs,
                "comment": meta.comment,
                "data_size": meta.data_size,
                "file_size": backup.as_bytes().len(),
                "sequence": meta.sequence,
                "lineage": hex::encode(meta.lineage),
                "audit_records": meta.audit_head.count,
                "argon2": { "memory_kib": params.memory_kib, "iterations": params.iterations, "lanes": params.lanes },
                "algorithm": backup.encryption_algorithm().name(),
            });
            let text = format!(
                "backup        {}\n\
                 id            {}\n\
                 kind          {}\n\
                 created       {}\n\
                 keys          {}\n\
                 audit log     {}\n\
                 compressed    {}\n\
                 comment       {}\n\
                 sizes         {} bytes of data, {} bytes on disk\n\
                 format        v{}, {}, Argon2id {} KiB / {} passes / {} lanes\n\
                 (read from the header without the password: run `keyvault backup verify` to \
                 authenticate it)\n",
                args.file.display(),
                meta.checksum,
                match meta.base {
                    Some(base) => format!("incremental, follows {base}"),
                    None => "full".to_owned(),
                },
                time(meta.created_at),
                meta.key_count,
                if meta.has_audit_logs {
                    format!(
                        "included ({})",
                        crate::hints::count(meta.audit_head.count, "record", "records")
                    )
                } else {
                    "not included".to_owned()
                },
                if meta.compressed { "yes (zstd)" } else { "no" },
                meta.comment.as_deref().map_or(Cow::Borrowed("none"), safe),
                meta.data_size,
                backup.as_bytes().len(),
                meta.format_version,
                backup.encryption_algorithm().name(),
                params.memory_kib,
                params.iterations,
                params.lanes,
            );
            ctx.out.data(&value, &text)
        }
    }
}

fn report_json(report: &BackupReport, file: &Path) -> Value {
    json!({
        "file": file,
        "backup_id": report.backup_id.to_string(),
        "base": report.base.map(|id| id.to_string()),
        "created_at": time(report.created_at),
        "key_count": report.key_count,
        "comment": report.comment,
        "compressed": report.compressed,
        "audit_records": report.audit_records,
        "data_size": report.data_size,
        "file_size": report.file_size,
    })
}

fn create_backup(ctx: &Context<'_>, args: &BackupCreateArgs) -> Result<()> {
    if !args.force {
        refuse_existing(&args.output, true)?;
    }
    let base = args
        .incremental_from
        .as_ref()
        .map(|path| {
            VaultBackup::read_file(path)
                .with_context(|| format!("cannot read the base backup {}", path.display()))
        })
        .transpose()?;
    let argon2 = context::argon2_params()?;
    let vault = ctx.open_vault()?;
    let password = Source::backup().new_password()?;
    let mut config = BackupConfig::new(password.to_vec());
    config.include_audit_logs = !args.no_audit;
    config.compress = !args.no_compress;
    config.comment = args.comment.clone();
    config.argon2 = argon2;
    let backup = {
        let _spinner = Spinner::start("backing up the vault");
        match &base {
            Some(base) => keyvault_backup::create_incremental_backup(&vault, base, &config),
            None => keyvault_backup::create_backup(&vault, &config),
        }
        .context("cannot back up the vault")?
    };
    finish(vault)?;
    // Written like every --out file: complete under a temporary name, then moved into place
    // (replacing an existing file only with --force).
    let mut output = Output::create(Some(&args.output), args.force)?;
    output
        .write_all(backup.as_bytes())
        .with_context(|| format!("cannot write the backup {}", args.output.display()))?;
    output.finish()?;
    let meta = backup.metadata();
    log::info!("backup {} written", meta.checksum);
    ctx.out.done(
        &json!({
            "out": args.output,
            "backup_id": meta.checksum.to_string(),
            "base": meta.base.map(|id| id.to_string()),
            "incremental": meta.base.is_some(),
            "key_count": meta.key_count,
            "compressed": meta.compressed,
            "has_audit_logs": meta.has_audit_logs,
            "bytes": backup.as_bytes().len(),
        }),
        &format!(
            "wrote {} backup {} of {} to {} ({}{})",
            if meta.base.is_some() {
                "an incremental"
            } else {
                "a full"
            },
            meta.checksum,
            crate::hints::count(meta.key_count, "key", "keys"),
            args.output.display(),
            crate::hints::count_of(backup.as_bytes().len(), "byte", "bytes"),
            if meta.has_audit_logs {
                ", audit log included"
            } else {
                ""
            },
        ),
    )
}

/// `keyvault restore`.
pub(crate) fn restore(ctx: &Context<'_>, args: &RestoreArgs) -> Result<()> {
    refuse_existing(&args.to, false)?;
    let chain = read_backups(&args.files)?;
    let options = context::vault_options()?;
    let backup_password = Source::backup().existing()?;
    let vault_password = ctx.new_vault_password()?;
    let vault = {
        let _spinner = Spinner::start("restoring");
        keyvault_backup::restore_to_file(
            &args.to,
            &chain,
            &backup_password,
            &vault_password,
            options,
        )
        .with_context(|| format!("cannot restore into {}", args.to.display()))?
    };
    let keys = vault
        .list_keys(&keyvault_store::KeyFilter::default())?
        .len();
    let audit = vault
        .verify_audit()
        .context("the restored audit log does not verify")?;
    finish(vault)?;
    ctx.out.done(
        &json!({
            "vault": args.to,
            "backups": args.files.len(),
            "keys": keys,
            "audit_records": audit.records,
        }),
        &format!(
            "restored {} into a new vault at {}: {}, {} verified",
            crate::hints::count_of(args.files.len(), "backup", "backups"),
            args.to.display(),
            crate::hints::count_of(keys, "key", "keys"),
            crate::hints::count(audit.records, "audit record", "audit records")
        ),
    )
}

/// `keyvault migrate ...`.
pub(crate) fn migrate(ctx: &Context<'_>, command: &MigrateCommand) -> Result<()> {
    match command {
        MigrateCommand::RustKeyvault(args) => migrate_rust_keyvault(ctx, args),
    }
}

fn migrate_rust_keyvault(ctx: &Context<'_>, args: &MigrateArgs) -> Result<()> {
    if let Some(missing) = args.paths.iter().find(|path| !path.exists()) {
        return Err(Failure::new(
            Code::NotFound,
            format!("{} does not exist", missing.display()),
        )
        .into());
    }
    let directory = match &args.paths[..] {
        [single] if single.is_dir() => Some(single.clone()),
        paths => {
            if let Some(dir) = paths.iter().find(|path| path.is_dir()) {
                return Err(Failure::usage(format!(
                    "{} is a directory: migrate one FileStore directory, or export files",
                    dir.display()
                ))
                .into());
            }
            None
        }
    };
    let mut options = MigrationOptions {
        name_prefix: args.prefix.clone(),
        exportable: args.exportable,
        conflict: match args.on_conflict {
            ConflictArg::Refuse => MergePolicy::Refuse,
            ConflictArg::Skip => MergePolicy::Skip,
            ConflictArg::Replace => MergePolicy::Replace,
        },
        ..MigrationOptions::default()
    };
    options.names = args.names.iter().cloned().collect();
    // Read the old keys before touching the vault, so a wrong password changes nothing.
    let (keys, unreadable) = match &directory {
        Some(dir) => {
            // Ask for a password only when the store's files show it is encrypted;
            // --plaintext skips the check.
            let needs_password = !args.plaintext
                && keyvault_backup::legacy::store_needs_password(dir).with_context(|| {
                    format!("cannot read the rust-keyvault store {}", dir.display())
                })?;
            if !args.plaintext && !needs_password {
                log::info!(
                    "{} holds unencrypted keys: no password needed",
                    dir.display()
                );
            }
            let password = if needs_password {
                Some(Source::migrate().existing()?)
            } else {
                None
            };
            let unlock = match &password {
                None => LegacyUnlock::Plaintext,
                Some(password) => LegacyUnlock::Password {
                    password,
                    argon2: args.legacy_argon2,
                },
            };
            let _spinner = Spinner::start("reading the rust-keyvault store");
            let store = LegacyStore::open(dir, &unlock)
                .with_context(|| format!("cannot read the rust-keyvault store {}", dir.display()))
                .map_err(|err| explain_legacy_password(err, password.is_some()))?;
            (store.keys, store.unreadable)
        }
        None => {
            let password = Source::migrate().existing()?;
            let _spinner = Spinner::start("reading the rust-keyvault exports");
            let mut keys = Vec::new();
            for path in &args.paths {
                let export = LegacyExport::read_file(path).with_context(|| {
                    format!("cannot read the rust-keyvault export {}", path.display())
                })?;
                keys.push(export.decrypt(&password).with_context(|| {
                    format!("cannot open the rust-keyvault export {}", path.display())
                })?);
            }
            (keys, Vec::new())
        }
    };
    // A --name for a base id that was not read is a typing mistake: never silently ignored.
    if let Some((base_id, name)) = args
        .names
        .iter()
        .find(|(base_id, _)| !keys.iter().any(|key| key.info.base_id == *base_id))
    {
        return Err(Failure::usage(format!(
            "--name {}={name}: no key read from {} has this base id",
            hex_id(*base_id),
            args.paths
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    for (path, reason) in &unreadable {
        log::warning!(
            "skipped {}, which is not a key file: {reason}",
            path.display()
        );
    }
    let vault = ctx.open_vault()?;
    let report = keyvault_backup::legacy::migrate(&vault, &keys, &options)
        .context("cannot migrate the rust-keyvault keys")?;
    // What each skipped key's name or id collides with, while the vault is open.
    let taken: BTreeMap<String, String> = report
        .skipped
        .iter()
        .filter(|(_, reason)| *reason == SkipReason::NameTakenByAnotherKey)
        .map(|(name, _)| {
            let base_id = keys
                .iter()
                .map(|key| key.info.base_id)
                .find(|base_id| migrated_name(*base_id, &options) == name.as_str());
            (name.to_string(), what_is_taken(&vault, name, base_id))
        })
        .collect();
    finish(vault)?;
    migrate_report(ctx, &report, keys.len(), &unreadable, &taken)
}

/// The name a legacy key with `base_id` gets under `options` (as the migration names it).
fn migrated_name(base_id: [u8; 16], options: &MigrationOptions) -> String {
    options.names.get(&base_id).map_or_else(
        || format!("{}{}", options.name_prefix, hex_id(base_id)),
        |name| name.as_str().to_owned(),
    )
}

fn hex_id(id: [u8; 16]) -> String {
    keyvault_core::KeyId::from_bytes(id).to_string()
}

/// "the name NAME is taken by the vault's key ID" or "its id ID is the vault's key OTHER".
fn what_is_taken(vault: &FileVault, name: &KeyName, base_id: Option<[u8; 16]>) -> String {
    if let Ok(holder) = vault.key(name)
        && base_id.is_none_or(|id| holder.id() != keyvault_core::KeyId::from_bytes(id))
    {
        return format!("the name {name} is taken by another key, {}", holder.id());
    }
    if let Some(id) = base_id
        && let Ok(holder) = vault.key_by_key_id(keyvault_core::KeyId::from_bytes(id))
    {
        return format!(
            "its id {} is taken by the key {} in the vault",
            holder.id(),
            holder.name()
        );
    }
    "its name or id is taken by another key".to_owned()
}

/// A FileStore that did not open with the password given, with the possible causes.
fn explain_legacy_password(err: anyhow::Error, with_password: bool) -> anyhow::Error {
    let wrong_password = err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<keyvault_backup::BackupError>(),
            Some(keyvault_backup::BackupError::WrongPassword { .. })
        )
    });
    if with_password && (wrong_password || crate::hints::is_authentication(&err)) {
        Failure::new(
            Code::Authentication,
            format!(
                "{}; {}",
                crate::hints::sentence(&err),
                crate::hints::LEGACY_STORE_CAUSES
            ),
        )
        .into()
    } else {
        err
    }
}

fn skip_reason(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::DestroyedInBackup => "destroyed at the source",
        SkipReason::Conflict => "name or id already in the vault",
        SkipReason::NameTakenByAnotherKey => "name taken by another key",
        SkipReason::DestroyedInVault => "destroyed in the vault",
        SkipReason::NewerInVault => "the vault's copy is newer",
        SkipReason::Refused(_) => "replacing it would move the vault's key backwards",
        _ => "skipped",
    }
}

fn migrate_report(
    ctx: &Context<'_>,
    report: &MergeReport,
    versions_read: usize,
    unreadable: &[(PathBuf, String)],
    taken: &BTreeMap<String, String>,
) -> Result<()> {
    let reason_of = |name: &KeyName, reason: SkipReason| {
        taken
            .get(name.as_str())
            .cloned()
            .unwrap_or_else(|| skip_reason(reason).to_owned())
    };
    let names = |list: &[keyvault_core::KeyName]| {
        list.iter()
            .map(|name| name.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let value = json!({
        "versions_read": versions_read,
        "imported": names(&report.imported),
        "replaced": names(&report.replaced),
        "skipped": report.skipped.iter().map(|(name, reason)| json!({
            "name": name.as_str(), "reason": reason_of(name, *reason),
        })).collect::<Vec<_>>(),
        "unreadable_files": unreadable.iter().map(|(path, _)| path).collect::<Vec<_>>(),
    });
    let mut text = format!(
        "read {}; imported {}, replaced {}, skipped {}\n",
        crate::hints::count_of(
            versions_read,
            "rust-keyvault key version",
            "rust-keyvault key versions"
        ),
        report.imported.len(),
        report.replaced.len(),
        report.skipped.len()
    );
    for name in &report.imported {
        text.push_str(&format!("  imported  {name}\n"));
    }
    for name in &report.replaced {
        text.push_str(&format!("  replaced  {name}\n"));
    }
    for (name, reason) in &report.skipped {
        text.push_str(&format!(
            "  skipped   {name} ({})\n",
            reason_of(name, *reason)
        ));
    }
    text.push_str(
        "data rust-keyvault encrypted must be decrypted with the old keys and re-encrypted \
         (see MIGRATION.md)\n",
    );
    ctx.out.done(&value, &text)
}
