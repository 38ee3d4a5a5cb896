//! Unsafe code and docs: every crate root carries `#![forbid(unsafe_code)]` and
//! `#![deny(missing_docs)]`, and every workspace member inherits the workspace lints, which
//! forbid unsafe code in its tests, benches and examples too.

use std::path::Path;

use toml_edit::{DocumentMut, Item};

use super::Outcome;

/// Runs the check.
pub(crate) fn check(root: &Path) -> Outcome {
    let mut problems = Vec::new();
    let roots = match crate::crate_roots(root) {
        Ok(roots) => roots,
        Err(err) => return Outcome::fail(format!("{err:#}")),
    };
    match crate::crate_roots_missing_forbid_unsafe(root, false) {
        Ok(missing) => problems.extend(
            missing
                .into_iter()
                .map(|path| format!("{path} lacks #![forbid(unsafe_code)]")),
        ),
        Err(err) => problems.push(format!("{err:#}")),
    }
    match crate::crate_roots_missing(root, &["deny", "forbid"], "missing_docs", false) {
        Ok(missing) => problems.extend(
            missing
                .into_iter()
                .map(|path| format!("{path} lacks #![deny(missing_docs)]")),
        ),
        Err(err) => problems.push(format!("{err:#}")),
    }
    let members = match workspace_lints(root) {
        Ok((members, lint_problems)) => {
            problems.extend(lint_problems);
            members
        }
        Err(err) => {
            problems.push(err);
            0
        }
    };
    if problems.is_empty() {
        Outcome::pass(format!(
            "{} crate roots forbid unsafe code and deny missing docs; {members} members \
             inherit the workspace lints (unsafe_code = forbid)",
            roots.len()
        ))
    } else {
        Outcome::fail(format!(
            "{} problem(s): {}",
            problems.len(),
            problems.first().map_or("", String::as_str)
        ))
        .with_notes(problems)
    }
}

/// The workspace forbids `unsafe_code` and denies `missing_docs`, and each member has
/// `[lints] workspace = true`. Returns the number of members and the problems found.
fn workspace_lints(root: &Path) -> Result<(usize, Vec<String>), String> {
    let manifest = read_toml(&root.join("Cargo.toml"))?;
    let workspace = manifest
        .get("workspace")
        .filter(|item| item.is_table_like())
        .ok_or("Cargo.toml has no [workspace]")?;
    let mut problems = Vec::new();
    let rust_lints = workspace.get("lints").and_then(|lints| lints.get("rust"));
    let lint_level = |name: &str| -> Option<String> {
        let value = rust_lints?.get(name)?;
        value
            .as_str()
            .or_else(|| value.get("level").and_then(Item::as_str))
            .map(str::to_owned)
    };
    if lint_level("unsafe_code").as_deref() != Some("forbid") {
        problems.push("[workspace.lints.rust] does not forbid unsafe_code".to_owned());
    }
    if !matches!(
        lint_level("missing_docs").as_deref(),
        Some("deny" | "forbid")
    ) {
        problems.push("[workspace.lints.rust] does not deny missing_docs".to_owned());
    }
    let members: Vec<&str> = workspace
        .get("members")
        .and_then(Item::as_array)
        .ok_or("[workspace] has no members")?
        .iter()
        .filter_map(|value| value.as_str())
        .collect();
    let mut count = 0;
    for member in members {
        let dirs: Vec<std::path::PathBuf> = match member.strip_suffix("/*") {
            Some(parent) => std::fs::read_dir(root.join(parent))
                .map_err(|err| format!("reading {parent}: {err}"))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|dir| dir.join("Cargo.toml").exists())
                .collect(),
            None => vec![root.join(member)],
        };
        for dir in dirs {
            count += 1;
            let path = dir.join("Cargo.toml");
            let inherits = read_toml(&path)?
                .get("lints")
                .and_then(|lints| lints.get("workspace"))
                .and_then(Item::as_bool)
                == Some(true);
            if !inherits {
                problems.push(format!(
                    "{} lacks `[lints] workspace = true`",
                    super::shown(root, &path)
                ));
            }
        }
    }
    Ok((count, problems))
}

fn read_toml(path: &Path) -> Result<DocumentMut, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("reading {}: {err}", path.display()))?;
    text.parse()
        .map_err(|err| format!("parsing {}: {err}", path.display()))
}
