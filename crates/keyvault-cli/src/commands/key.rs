//! `key create|list|show|rotate|activate|enable|disable|deprecate|revoke|schedule-deletion|
//! cancel-deletion|destroy|policy|trim|rename`.

use std::time::Duration;

use anyhow::{Context as _, Result};
use keyvault_core::{KeyMetadata, KeyName, KeyOperation, KeyPolicy, Transition, VersionTransition};
use keyvault_store::{FileVault, KeyFilter, NewKey};
use serde_json::json;

use super::finish;
use crate::args::{
    KeyCommand, KeyCreateArgs, KeyListArgs, KeyPolicyArgs, KeyVersionArg, PolicyFlags,
    ScheduleDeletionArgs,
};
use crate::context::Context;
use crate::output::{self, key_json, key_text, state_text};
use crate::time;

/// Run a `key` command.
pub(crate) fn run(ctx: &Context<'_>, command: &KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Create(args) => create(ctx, args),
        KeyCommand::List(args) => list(ctx, args),
        KeyCommand::Show(args) => {
            let vault = ctx.open_vault()?;
            let key = vault.key(&args.name)?;
            finish(vault)?;
            ctx.out.data(&key_json(&key), &key_text(&key))
        }
        KeyCommand::Rotate(args) => {
            let vault = ctx.open_vault()?;
            let key = vault
                .rotate(&args.name)
                .with_context(|| format!("cannot rotate the key {}", args.name))?;
            finish(vault)?;
            let version = key.encryption_version().map_or_else(
                || "no version".to_owned(),
                |v| format!("version {}", v.get()),
            );
            ctx.out.done(
                &key_json(&key),
                &format!(
                    "rotated the key {}: {version} encrypts from now on",
                    args.name
                ),
            )
        }
        KeyCommand::Activate(args) => transition(ctx, &args.name, Transition::Activate, "activate"),
        KeyCommand::Enable(args) => {
            switch(ctx, args, Transition::Enable, VersionTransition::Enable)
        }
        KeyCommand::Disable(args) => {
            switch(ctx, args, Transition::Disable, VersionTransition::Disable)
        }
        KeyCommand::Deprecate(args) => {
            transition(ctx, &args.name, Transition::Deprecate, "deprecate")
        }
        KeyCommand::Revoke(args) => {
            switch(ctx, args, Transition::Revoke, VersionTransition::Revoke)
        }
        KeyCommand::ScheduleDeletion(args) => schedule_deletion(ctx, args),
        KeyCommand::CancelDeletion(args) => transition(
            ctx,
            &args.name,
            Transition::CancelDeletion,
            "cancel the deletion of",
        ),
        KeyCommand::Destroy(args) => {
            switch(ctx, args, Transition::Destroy, VersionTransition::Destroy)
        }
        KeyCommand::Policy(args) => policy(ctx, args),
        KeyCommand::Trim(args) => {
            let vault = ctx.open_vault()?;
            let key = vault
                .trim(&args.name, args.min_version)
                .with_context(|| format!("cannot trim the key {}", args.name))?;
            scrub_material(&vault)?;
            finish(vault)?;
            ctx.out.done(
                &key_json(&key),
                &format!(
                    "trimmed the key {}: versions below {} are destroyed",
                    args.name,
                    args.min_version.get()
                ),
            )
        }
        KeyCommand::Rename(args) => {
            let vault = ctx.open_vault()?;
            let key = vault
                .rename_key(&args.name, &args.new_name)
                .with_context(|| format!("cannot rename the key {}", args.name))?;
            finish(vault)?;
            ctx.out.done(
                &key_json(&key),
                &format!("renamed the key {} to {}", args.name, args.new_name),
            )
        }
    }
}

fn create(ctx: &Context<'_>, args: &KeyCreateArgs) -> Result<()> {
    let mut policy = KeyPolicy::default();
    apply_flags(&mut policy, &args.policy);
    if args.exportable {
        policy = policy.also_allow(KeyOperation::Export);
    }
    let mut spec = NewKey::new(args.name.clone(), args.algorithm);
    spec.labels = args.labels.iter().cloned().collect();
    spec.description = args.description.clone().unwrap_or_default();
    spec.policy = policy;
    spec.expires_at = args.expires;
    spec.exportable = args.exportable;
    spec.pending = args.pending;
    let vault = ctx.open_vault()?;
    let key = vault
        .create_key(spec)
        .with_context(|| format!("cannot create the key {}", args.name))?;
    finish(vault)?;
    ctx.out.done(
        &key_json(&key),
        &format!(
            "created the key {} ({}, version 1, {})",
            key.name(),
            key.algorithm(),
            state_text(key.state())
        ),
    )
}

fn list(ctx: &Context<'_>, args: &KeyListArgs) -> Result<()> {
    let filter = KeyFilter {
        state: args.state,
        algorithm: args.algorithm,
        label: args.label.clone(),
    };
    let vault = ctx.open_vault()?;
    let keys = vault.list_keys(&filter)?;
    finish(vault)?;
    ctx.out.data(
        &json!({ "keys": keys.iter().map(key_json).collect::<Vec<_>>() }),
        &output::key_list_text(&keys),
    )
}

/// A key transition with a message "key NAME is now STATE".
fn transition(ctx: &Context<'_>, name: &KeyName, transition: Transition, verb: &str) -> Result<()> {
    let vault = ctx.open_vault()?;
    let destroys = matches!(transition, Transition::Destroy);
    let key = apply_transition(&vault, name, transition, verb)?;
    if destroys {
        scrub_material(&vault)?;
    }
    finish(vault)?;
    ctx.out.done(
        &key_json(&key),
        &format!("the key {name} is now {}", state_text(key.state())),
    )
}

fn apply_transition(
    vault: &FileVault,
    name: &KeyName,
    transition: Transition,
    verb: &str,
) -> Result<KeyMetadata> {
    vault
        .transition(name, transition)
        .with_context(|| format!("cannot {verb} the key {name}"))
}

/// After destroying material: check that no old copy of it is left in the vault's files.
fn scrub_material(vault: &FileVault) -> Result<()> {
    let scrub = vault
        .scrub()
        .context("the key material was destroyed, but clearing old copies of it failed")?;
    super::warn_if_unscrubbed(scrub, "old copies of the destroyed key material");
    Ok(())
}

/// A key transition, or with `--version` the matching version transition.
fn switch(
    ctx: &Context<'_>,
    args: &KeyVersionArg,
    key_transition: Transition,
    version_transition: VersionTransition,
) -> Result<()> {
    let Some(version) = args.version else {
        let verb = key_transition.kind().as_str().replace('_', " ");
        return transition(ctx, &args.name, key_transition, &verb);
    };
    let vault = ctx.open_vault()?;
    let key = vault
        .version_transition(&args.name, version, version_transition)
        .with_context(|| {
            format!(
                "cannot {version_transition} version {} of the key {}",
                version.get(),
                args.name
            )
        })?;
    if version_transition == VersionTransition::Destroy {
        scrub_material(&vault)?;
    }
    finish(vault)?;
    let state = key
        .version(version)
        .map_or("unknown", |info| info.state.as_str());
    ctx.out.done(
        &key_json(&key),
        &format!(
            "version {} of the key {} is now {state}",
            version.get(),
            args.name
        ),
    )
}

fn schedule_deletion(ctx: &Context<'_>, args: &ScheduleDeletionArgs) -> Result<()> {
    // One minute beyond the days asked for, so the vault (whose clock is read a moment later)
    // never sees a window shorter than the minimum of one day.
    let window = Duration::from_secs(u64::from(args.days) * 86_400 + 60);
    let until = time::now().saturating_add(window);
    transition(
        ctx,
        &args.name,
        Transition::ScheduleDeletion { until },
        "schedule the deletion of",
    )
}

fn policy(ctx: &Context<'_>, args: &KeyPolicyArgs) -> Result<()> {
    let vault = ctx.open_vault()?;
    let mut key = vault.key(&args.name)?;
    if !args.changes_anything() && !args.disallow_export {
        finish(vault)?;
        return ctx.out.data(
            &output::policy_json(&key),
            &format!(
                "policy of the key {} (exportable: {})\n{}",
                args.name,
                if key.exportable() { "yes" } else { "no" },
                output::policy_text(&key)
            ),
        );
    }
    if args.changes_anything() {
        let mut policy = key.policy().clone();
        apply_flags(&mut policy, &args.set);
        if args.no_max_operations {
            policy.max_operations = None;
        }
        if args.no_not_before {
            policy.not_before = None;
        }
        if args.no_not_after {
            policy.not_after = None;
        }
        if args.no_rotate_every {
            policy.rotation.max_age = None;
        }
        if args.no_rotate_after {
            policy.rotation.max_uses = None;
        }
        key = vault
            .set_policy(&args.name, policy)
            .with_context(|| format!("cannot change the policy of the key {}", args.name))?;
    }
    if args.disallow_export {
        key = vault
            .disallow_export(&args.name)
            .with_context(|| format!("cannot forbid the export of the key {}", args.name))?;
    }
    finish(vault)?;
    ctx.out.done(
        &output::policy_json(&key),
        &format!(
            "updated the policy of the key {} (exportable: {})\n{}",
            args.name,
            if key.exportable() { "yes" } else { "no" },
            output::policy_text(&key)
        ),
    )
}

/// Apply the policy flags that were given.
fn apply_flags(policy: &mut KeyPolicy, flags: &PolicyFlags) {
    if let Some(max) = flags.max_operations {
        policy.max_operations = Some(max);
    }
    if let Some(not_before) = flags.not_before {
        policy.not_before = Some(not_before);
    }
    if let Some(not_after) = flags.not_after {
        policy.not_after = Some(not_after);
    }
    if let Some(allow) = &flags.allow {
        policy.allowed_operations = allow.iter().copied().collect();
    }
    if let Some(age) = flags.rotate_every {
        policy.rotation.max_age = Some(age);
    }
    if let Some(uses) = flags.rotate_after {
        policy.rotation.max_uses = Some(uses);
    }
}
