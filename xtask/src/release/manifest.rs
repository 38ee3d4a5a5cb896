//! The version bump of Cargo manifests and the check that a refreshed Cargo.lock changed nothing
//! but the workspace's own versions.
//!
//! `toml_edit` finds the versions to change and where they are in the text; the bump replaces
//! the characters between their quotes and nothing else, so comments, quoting and layout
//! survive byte for byte. A version it would have to change but cannot (a range requirement, a
//! version that is not a string) is an error, never a silent skip.

use std::collections::BTreeSet;
use std::ops::Range;

use toml_edit::{Document, Item, TableLike, Value};

/// Which versions of a manifest the bump changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The workspace root or a member: `[workspace.package] version`, an explicit
    /// `[package] version`, and the version of every path dependency on a workspace crate.
    Workspace,
    /// A manifest outside the workspace (the fuzz crate): only its path dependencies on workspace
    /// crates that also pin a version. Its own version is its own business.
    Outside,
}

/// One changed line, 1-based, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineEdit {
    /// The line number.
    pub(crate) line: usize,
    /// The line before the bump.
    pub(crate) before: String,
    /// The line after the bump.
    pub(crate) after: String,
}

/// A bumped manifest.
#[derive(Debug)]
pub(crate) struct Bumped {
    /// The new text; equal to the input where no edit applies.
    pub(crate) text: String,
    /// The changed lines, in order.
    pub(crate) edits: Vec<LineEdit>,
}

fn parse(text: &str) -> Result<Document<&str>, String> {
    Document::parse(text).map_err(|err| err.to_string().trim_end().to_owned())
}

/// The `[workspace.package] version` of a root manifest.
pub(crate) fn workspace_version(text: &str) -> Result<Option<String>, String> {
    let document = parse(text)?;
    Ok(document
        .get("workspace")
        .and_then(|workspace| workspace.get("package"))
        .and_then(|package| package.get("version"))
        .and_then(Item::as_str)
        .map(str::to_owned))
}

/// Sets every version that `role` covers to `new`. `crates` are the package names of the
/// workspace members. A dependency requirement keeps its operator (`=`, `^`, `~`).
pub(crate) fn bump_manifest(
    text: &str,
    role: Role,
    crates: &BTreeSet<String>,
    new: &str,
) -> Result<Bumped, String> {
    let document = parse(text)?;
    // (byte range inside the quotes, replacement)
    let mut replacements: Vec<(Range<usize>, String)> = Vec::new();
    let mut dependency_tables: Vec<&Item> = Vec::new();
    for (key, item) in document.iter() {
        match key {
            "package" if role == Role::Workspace => {
                own_version(text, item.get("version"), new, &mut replacements)?;
            }
            "workspace" => {
                if role == Role::Workspace {
                    let package = item.get("package");
                    own_version(
                        text,
                        package.and_then(|p| p.get("version")),
                        new,
                        &mut replacements,
                    )?;
                }
                dependency_tables.extend(item.get("dependencies"));
            }
            "target" => {
                for (_, platform) in item.as_table_like().into_iter().flat_map(TableLike::iter) {
                    dependency_tables
                        .extend(DEPENDENCY_TABLES.iter().filter_map(|t| platform.get(t)));
                }
            }
            _ if DEPENDENCY_TABLES.contains(&key) => dependency_tables.push(item),
            _ => {}
        }
    }
    for table in dependency_tables {
        for (key, entry) in table.as_table_like().into_iter().flat_map(TableLike::iter) {
            bump_dependency(text, key, entry, crates, new, &mut replacements)?;
        }
    }
    Ok(apply(text, replacements))
}

/// The tables that list dependencies.
const DEPENDENCY_TABLES: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];

/// Queues `[package] version` or `[workspace.package] version` when it is a plain string
/// (`version.workspace = true` is left alone).
fn own_version(
    text: &str,
    version: Option<&Item>,
    new: &str,
    replacements: &mut Vec<(Range<usize>, String)>,
) -> Result<(), String> {
    if let Some(value) = version.and_then(Item::as_value).filter(|v| v.is_str()) {
        replacements.push((inside_quotes(text, value)?, new.to_owned()));
    }
    Ok(())
}

/// Queues the version edit of a path dependency on a workspace crate that pins a version.
fn bump_dependency(
    text: &str,
    key: &str,
    entry: &Item,
    crates: &BTreeSet<String>,
    new: &str,
    replacements: &mut Vec<(Range<usize>, String)>,
) -> Result<(), String> {
    let Some(fields) = entry.as_table_like() else {
        // `name = "1.0"`: a registry dependency.
        return Ok(());
    };
    let name = fields.get("package").and_then(Item::as_str).unwrap_or(key);
    // Without a path it is a crates.io dependency, not this workspace's crate.
    if !crates.contains(name) || !fields.contains_key("path") {
        return Ok(());
    }
    let Some(version) = fields.get("version") else {
        return Ok(());
    };
    let Some(value) = version.as_value().filter(|value| value.is_str()) else {
        return Err(format!(
            "the version of dependency `{key}` is not a plain string; bump it by hand"
        ));
    };
    let old = value.as_str().unwrap_or_default();
    let requirement = requirement(old, new)
        .map_err(|err| format!("dependency `{key}` version \"{old}\": {err}"))?;
    replacements.push((inside_quotes(text, value)?, requirement));
    Ok(())
}

/// The byte range of a one-line string's contents, between its quotes.
fn inside_quotes(text: &str, value: &Value) -> Result<Range<usize>, String> {
    let span = value.span().ok_or("a version without a position")?;
    let raw = text.get(span.clone()).unwrap_or_default();
    if raw.starts_with("\"\"\"") || raw.starts_with("'''") || raw.len() < 2 {
        return Err(format!(
            "version {raw} is not a one-line string; bump it by hand"
        ));
    }
    Ok(span.start + 1..span.end - 1)
}

/// The requirement `old` rewritten to `new`, keeping a leading `=`, `^` or `~`.
fn requirement(old: &str, new: &str) -> Result<String, String> {
    let operator: String = old
        .chars()
        .take_while(|c| matches!(c, '=' | '^' | '~' | ' '))
        .collect();
    let rest = old.get(operator.len()..).unwrap_or_default();
    if rest.is_empty() || rest.contains([',', '<', '>', '*', ' ']) {
        return Err(
            "only a single version, optionally after `=`, `^` or `~`, can be bumped".into(),
        );
    }
    Ok(format!("{}{new}", operator.trim_end()))
}

/// Applies the replacements and lists the changed lines.
fn apply(text: &str, mut replacements: Vec<(Range<usize>, String)>) -> Bumped {
    // Last first, so earlier ranges stay valid.
    replacements.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut bumped = text.to_owned();
    for (range, new) in replacements {
        bumped.replace_range(range, &new);
    }
    let edits = text
        .lines()
        .zip(bumped.lines())
        .enumerate()
        .filter(|(_, (before, after))| before != after)
        .map(|(index, (before, after))| LineEdit {
            line: index + 1,
            before: before.to_owned(),
            after: after.to_owned(),
        })
        .collect();
    Bumped {
        text: bumped,
        edits,
    }
}

/// Checks that `after` differs from `before` only in the `version` lines of the workspace's
/// packages (`members`), set to `new`. Returns how many packages changed.
pub(crate) fn check_lock_bump(
    before: &str,
    after: &str,
    members: &BTreeSet<String>,
    new: &str,
) -> Result<usize, String> {
    let old_lines: Vec<&str> = before.lines().collect();
    let new_lines: Vec<&str> = after.lines().collect();
    if old_lines.len() != new_lines.len() {
        return Err(format!(
            "Cargo.lock went from {} to {} lines: more than the workspace versions changed",
            old_lines.len(),
            new_lines.len()
        ));
    }
    let expected = format!("version = \"{new}\"");
    let mut changed = 0;
    for (index, (old, line)) in old_lines.iter().zip(&new_lines).enumerate() {
        if old == line {
            continue;
        }
        let package = index
            .checked_sub(1)
            .and_then(|previous| new_lines.get(previous))
            .and_then(|name| name.strip_prefix("name = \""))
            .and_then(|name| name.strip_suffix('"'));
        let is_member = package.is_some_and(|name| members.contains(name));
        if !(is_member && old.starts_with("version = \"") && *line == expected) {
            return Err(format!(
                "Cargo.lock line {}: `{old}` became `{line}`, which is not a workspace version",
                index + 1
            ));
        }
        changed += 1;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{LineEdit, Role, bump_manifest, check_lock_bump, workspace_version};

    fn crates() -> BTreeSet<String> {
        ["kv-a", "kv-b", "kv-c"].map(String::from).into()
    }

    fn edit(line: usize, before: &str, after: &str) -> LineEdit {
        LineEdit {
            line,
            before: before.into(),
            after: after.into(),
        }
    }

    /// The bumped text equals the input with exactly the edited lines replaced.
    fn assert_only_edits(before: &str, after: &str, edits: &[LineEdit]) {
        let old: Vec<&str> = before.split_inclusive('\n').collect();
        let new: Vec<&str> = after.split_inclusive('\n').collect();
        assert_eq!(old.len(), new.len());
        for (index, (o, n)) in old.iter().zip(&new).enumerate() {
            match edits.iter().find(|e| e.line == index + 1) {
                Some(e) => {
                    assert_eq!(o.trim_end_matches(['\r', '\n']), e.before);
                    assert_eq!(n.trim_end_matches(['\r', '\n']), e.after);
                    assert_eq!(o.ends_with('\n'), n.ends_with('\n'));
                }
                None => assert_eq!(o, n, "line {} changed", index + 1),
            }
        }
    }

    const ROOT: &str = r#"[workspace]
resolver = "3"
members = [
    "crates/a",
    "crates/b",
]
exclude = ["fuzz"]

[workspace.package]
# version = "0.1.0" in a comment stays
version = "0.1.0" # the release version
edition = "2024"

[workspace.dependencies]
kv-a = { path = "crates/a", version = "0.1.0" }
kv-b = { version = "0.1.0", path = "crates/b", default-features = false }
kv-c = { path = "crates/c" }
other = { version = "0.1.0", features = ["x", "y"] }
plain = "0.1.0"

[workspace.metadata.notes]
version = "0.1.0"

[profile.dev.package."*"]
opt-level = 3
"#;

    #[test]
    fn root_manifest_bumps_workspace_version_and_pinned_members() {
        assert_eq!(workspace_version(ROOT).unwrap().as_deref(), Some("0.1.0"));
        let bumped = bump_manifest(ROOT, Role::Workspace, &crates(), "0.2.0").unwrap();
        let expected = [
            edit(
                11,
                r#"version = "0.1.0" # the release version"#,
                r#"version = "0.2.0" # the release version"#,
            ),
            edit(
                15,
                r#"kv-a = { path = "crates/a", version = "0.1.0" }"#,
                r#"kv-a = { path = "crates/a", version = "0.2.0" }"#,
            ),
            edit(
                16,
                r#"kv-b = { version = "0.1.0", path = "crates/b", default-features = false }"#,
                r#"kv-b = { version = "0.2.0", path = "crates/b", default-features = false }"#,
            ),
        ];
        assert_eq!(bumped.edits, expected);
        assert_only_edits(ROOT, &bumped.text, &expected);
        // Idempotent: a second bump changes nothing.
        let again = bump_manifest(&bumped.text, Role::Workspace, &crates(), "0.2.0").unwrap();
        assert!(again.edits.is_empty());
        assert_eq!(again.text, bumped.text);
    }

    const MEMBER: &str = "[package]\r\nname = \"kv-c\"\r\ndescription = \"\"\"\r\n[dependencies]\r\nkv-a = { path = \"../a\", version = \"0.1.0\" }\r\n\"\"\"\r\nversion = \"0.1.0\"\r\nedition.workspace = true\r\n\r\n[features]\r\nextra = [\"kv-a/extra\"]\r\n\r\n[dependencies]\r\nkv-a = { path = \"../a\", version = \"=0.1.0\", features = [\"x\", \"y\"] } # pinned\r\nrenamed = { package = \"kv-b\", path = \"../b\", version = \"~0.1\" }\r\nkv-b.workspace = true\r\nkv-b2 = { package = \"kv-b\", version = \"0.1.0\" }\r\n\r\n[target.'cfg(unix)'.dependencies]\r\nkv-a = { path = '../a', version = '^0.1.0' }\r\n\r\n[dev-dependencies.kv-b]\r\nversion = \"0.1.0\"\r\npath = \"../b\"\r\n\r\n[build-dependencies]\r\nkv-a.version = \"0.1.0\"\r\nkv-a.path = \"../a\"\r\n\r\n[[bin]]\r\nname = \"x\"\r\n";

    #[test]
    fn member_manifest_bumps_own_version_and_every_pinned_path_dependency() {
        let bumped = bump_manifest(MEMBER, Role::Workspace, &crates(), "0.2.0-rc.1").unwrap();
        let expected = [
            edit(7, r#"version = "0.1.0""#, r#"version = "0.2.0-rc.1""#),
            edit(
                14,
                r#"kv-a = { path = "../a", version = "=0.1.0", features = ["x", "y"] } # pinned"#,
                r#"kv-a = { path = "../a", version = "=0.2.0-rc.1", features = ["x", "y"] } # pinned"#,
            ),
            edit(
                15,
                r#"renamed = { package = "kv-b", path = "../b", version = "~0.1" }"#,
                r#"renamed = { package = "kv-b", path = "../b", version = "~0.2.0-rc.1" }"#,
            ),
            edit(
                20,
                "kv-a = { path = '../a', version = '^0.1.0' }",
                "kv-a = { path = '../a', version = '^0.2.0-rc.1' }",
            ),
            edit(23, r#"version = "0.1.0""#, r#"version = "0.2.0-rc.1""#),
            edit(
                27,
                r#"kv-a.version = "0.1.0""#,
                r#"kv-a.version = "0.2.0-rc.1""#,
            ),
        ];
        assert_eq!(bumped.edits, expected);
        assert_only_edits(MEMBER, &bumped.text, &expected);
    }

    #[test]
    fn outside_manifest_keeps_its_version_and_bumps_only_pins() {
        let fuzz = "[package]\nname = \"kv-fuzz\"\nversion = \"0.0.0\"\n\n[dependencies]\n\
                    kv-a = { path = \"../a\" }\nkv-b = { path = \"../b\", version = \"0.1.0\" }\n\n\
                    [workspace]\n";
        let bumped = bump_manifest(fuzz, Role::Outside, &crates(), "0.2.0").unwrap();
        let expected = [edit(
            7,
            r#"kv-b = { path = "../b", version = "0.1.0" }"#,
            r#"kv-b = { path = "../b", version = "0.2.0" }"#,
        )];
        assert_eq!(bumped.edits, expected);
        assert_only_edits(fuzz, &bumped.text, &expected);

        let path_only =
            "[package]\nversion = \"0.0.0\"\n[dependencies]\nkv-a = { path = \"../a\" }\n";
        let bumped = bump_manifest(path_only, Role::Outside, &crates(), "0.2.0").unwrap();
        assert!(bumped.edits.is_empty());
        assert_eq!(bumped.text, path_only);
    }

    #[test]
    fn versions_that_cannot_be_edited_safely_are_errors() {
        for text in [
            "[dependencies]\nkv-a = { path = \"../a\", version = \">=0.1, <0.3\" }\n",
            "[dependencies]\nkv-a = { path = \"../a\", version = \"*\" }\n",
            "[dependencies]\nkv-a = { path = \"../a\", version = 1 }\n",
            "[dependencies]\nkv-a = { path = \"../a\", version = \"\"\"0.1.0\"\"\" }\n",
            "[dependencies\nkv-a = { path = \"../a\" }\n",
        ] {
            assert!(
                bump_manifest(text, Role::Workspace, &crates(), "0.2.0").is_err(),
                "{text}"
            );
        }
        // An inline table over several lines (TOML 1.1) is edited in place like any other.
        let spread = "[dependencies]\nkv-a = { path = \"../a\",\n  version = \"0.1.0\" }\n";
        let bumped = bump_manifest(spread, Role::Workspace, &crates(), "0.2.0").unwrap();
        assert_eq!(
            bumped.edits,
            [edit(
                3,
                "  version = \"0.1.0\" }",
                "  version = \"0.2.0\" }"
            )]
        );
        // The same forms on a crate outside the workspace are none of the bump's business.
        let foreign = "[dependencies]\nserde = { path = \"../s\", version = \">=1, <2\" }\n";
        assert!(
            bump_manifest(foreign, Role::Workspace, &crates(), "0.2.0")
                .unwrap()
                .edits
                .is_empty()
        );
    }

    const LOCK: &str = "version = 4\n\n[[package]]\nname = \"kv-a\"\nversion = \"0.1.0\"\n\n\
                        [[package]]\nname = \"serde\"\nversion = \"1.0.0\"\nsource = \"registry\"\n";

    #[test]
    fn lock_may_change_only_workspace_versions() {
        let members: BTreeSet<String> = ["kv-a".to_owned()].into();
        let bumped = LOCK.replace("\"0.1.0\"", "\"0.2.0\"");
        assert_eq!(check_lock_bump(LOCK, &bumped, &members, "0.2.0"), Ok(1));
        assert_eq!(check_lock_bump(LOCK, LOCK, &members, "0.2.0"), Ok(0));
        let moved = bumped.replace("1.0.0", "1.0.1");
        assert!(check_lock_bump(LOCK, &moved, &members, "0.2.0").is_err());
        let wrong = LOCK.replace("\"0.1.0\"", "\"0.3.0\"");
        assert!(check_lock_bump(LOCK, &wrong, &members, "0.2.0").is_err());
        let grown = format!("{bumped}\n[[package]]\nname = \"x\"\n");
        assert!(check_lock_bump(LOCK, &grown, &members, "0.2.0").is_err());
    }
}
