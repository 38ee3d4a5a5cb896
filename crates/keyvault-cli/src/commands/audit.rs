//! `audit show`, `audit verify` and `audit export`.

use std::io::Write;

use anyhow::{Context as _, Result};
use keyvault_core::AuditRecord;
use keyvault_store::{AuditFilter, FileVault};
use serde_json::json;

use super::finish;
use crate::args::{AuditCommand, AuditFilterArgs};
use crate::context::Context;
use crate::io::Output;
use crate::output::{audit_json, audit_text};

/// Run an `audit` command.
pub(crate) fn run(ctx: &Context<'_>, command: &AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Show(args) => {
            let vault = ctx.open_vault()?;
            let mut records = read(&vault, &args.filter)?;
            finish(vault)?;
            if let Some(limit) = args.limit {
                let skip = records.len().saturating_sub(limit);
                records.drain(..skip);
            }
            ctx.out.data(
                &json!({ "records": records.iter().map(audit_json).collect::<Vec<_>>() }),
                &audit_text(&records),
            )
        }
        AuditCommand::Verify(args) => {
            let vault = ctx.open_vault()?;
            let report = match &args.since {
                Some(anchor) => vault.verify_audit_since(anchor),
                None => vault.verify_audit(),
            }
            .context("the audit log does not verify")?;
            finish(vault)?;
            let head = format!(
                "{}:{}",
                report.head.count,
                String::from(report.head.last_mac)
            );
            let since = args.since.as_ref().map_or_else(String::new, |anchor| {
                format!(
                    ", and it extends the head of {} given",
                    crate::hints::count(anchor.count, "record", "records")
                )
            });
            ctx.out.data(
                &json!({ "verified": true, "records": report.records, "head": head }),
                &format!(
                    "the audit chain verifies: {}, none edited, removed, reordered or added{since}\nhead: {head} (keep a copy elsewhere: `audit verify --since` with it detects a rollback)",
                    crate::hints::count(report.records, "record", "records")
                ),
            )
        }
        AuditCommand::Export(args) => {
            let vault = ctx.open_vault()?;
            let records = read(&vault, &args.filter)?;
            finish(vault)?;
            let mut output = Output::create(args.output.as_deref(), args.force)?;
            if ctx.out.json() && output.is_stdout() {
                return ctx.out.data(
                    &json!({ "records": records.iter().map(audit_json).collect::<Vec<_>>() }),
                    "",
                );
            }
            for record in &records {
                let mut line = serde_json::to_vec(&audit_json(record))
                    .context("cannot format an audit record")?;
                line.push(b'\n');
                output
                    .write_all(&line)
                    .context("cannot write the audit records")?;
            }
            let path = output.path().map(std::path::Path::to_path_buf);
            output.finish()?;
            match path {
                Some(path) => ctx.out.done(
                    &json!({ "out": path, "records": records.len() }),
                    &format!(
                        "wrote {} to {} (JSON lines)",
                        crate::hints::count_of(records.len(), "audit record", "audit records"),
                        path.display()
                    ),
                ),
                None => Ok(()),
            }
        }
    }
}

/// The records matching the filter flags.
fn read(vault: &FileVault, args: &AuditFilterArgs) -> Result<Vec<AuditRecord>> {
    let key = match &args.key {
        Some(name) => Some(
            vault
                .key(name)
                .with_context(|| format!("cannot filter the audit log by the key {name}"))?
                .id(),
        ),
        None => None,
    };
    let filter = AuditFilter {
        key,
        operation: args.op,
        outcome: args.outcome,
        since: args.since,
        until: args.until,
    };
    Ok(vault.audit_log(&filter)?)
}
