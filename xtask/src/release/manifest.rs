//! The version bump of Cargo manifests, done as text edits of the version strings alone so that
//! comments, order and formatting survive, and the check that a refreshed Cargo.lock changed
//! nothing but the workspace's own versions.
//!
//! The reader understands the TOML that manifests use: tables and dotted table headers, dotted
//! keys, inline tables, arrays and multi-line strings (skipped). A version it would have to change
//! but cannot edit safely (a multi-line inline table, a range requirement) is an error, never a
//! silent skip.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

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

/// The `[workspace.package] version` of a root manifest.
pub(crate) fn workspace_version(text: &str) -> Result<Option<String>, String> {
    Ok(items(text)?.into_iter().find_map(|item| match item {
        Item {
            section: Section::WorkspacePackage,
            key,
            value: Value::Str(version),
            ..
        } if key == ["version"] => Some(version.text),
        _ => None,
    }))
}

/// Sets every version that `role` covers to `new`. `crates` are the package names of the
/// workspace members. A dependency requirement keeps its operator (`=`, `^`, `~`).
pub(crate) fn bump_manifest(
    text: &str,
    role: Role,
    crates: &BTreeSet<String>,
    new: &str,
) -> Result<Bumped, String> {
    let mut replacements: Vec<(StrValue, String)> = Vec::new();
    // Dependencies spread over several lines (dotted keys, `[dependencies.NAME]` tables), by
    // (table, dependency key).
    let mut spread: BTreeMap<(usize, String), Dependency> = BTreeMap::new();
    for item in items(text)? {
        match (&item.section, item.key.as_slice()) {
            (Section::Package | Section::WorkspacePackage, [key])
                if key == "version" && role == Role::Workspace =>
            {
                if let Value::Str(version) = item.value {
                    replacements.push((version, new.to_owned()));
                }
            }
            (Section::Dependencies, [name]) => {
                let mut dependency = Dependency::default();
                match item.value {
                    Value::Table(pairs) => {
                        for (key, value) in pairs {
                            if let [field] = key.as_slice() {
                                dependency.set(field, value);
                            }
                        }
                    }
                    Value::MultiLine if crates.contains(name) => {
                        return Err(format!(
                            "line {}: the entry of `{name}` spans several lines; write it on one \
                             line so its version can be bumped",
                            item.line + 1
                        ));
                    }
                    _ => {}
                }
                bump_dependency(name, dependency, crates, new, &mut replacements)?;
            }
            (Section::Dependencies, [name, field]) => spread
                .entry((item.table, name.clone()))
                .or_default()
                .set(field, item.value),
            (Section::Dependency(name), [field]) => spread
                .entry((item.table, name.clone()))
                .or_default()
                .set(field, item.value),
            _ => {}
        }
    }
    for ((_, name), dependency) in spread {
        bump_dependency(&name, dependency, crates, new, &mut replacements)?;
    }
    apply(text, replacements)
}

/// What the bump needs to know of one dependency entry.
#[derive(Debug, Default)]
struct Dependency {
    has_path: bool,
    package: Option<String>,
    version: Option<StrValue>,
    version_not_a_string: bool,
}

impl Dependency {
    fn set(&mut self, field: &str, value: Value) {
        match (field, value) {
            ("path", _) => self.has_path = true,
            ("package", Value::Str(package)) => self.package = Some(package.text),
            ("version", Value::Str(version)) => self.version = Some(version),
            ("version", _) => self.version_not_a_string = true,
            _ => {}
        }
    }
}

/// Queues the version edit of a path dependency on a workspace crate that pins a version.
fn bump_dependency(
    key: &str,
    dependency: Dependency,
    crates: &BTreeSet<String>,
    new: &str,
    replacements: &mut Vec<(StrValue, String)>,
) -> Result<(), String> {
    let name = dependency.package.as_deref().unwrap_or(key);
    // Without a path it is a crates.io dependency, not this workspace's crate.
    if !crates.contains(name) || !dependency.has_path {
        return Ok(());
    }
    if dependency.version_not_a_string {
        return Err(format!(
            "the version of dependency `{key}` is not a plain string; bump it by hand"
        ));
    }
    if let Some(version) = dependency.version {
        let requirement = requirement(&version.text, new).map_err(|err| {
            format!(
                "line {}: dependency `{key}` version \"{}\": {err}",
                version.line + 1,
                version.text
            )
        })?;
        replacements.push((version, requirement));
    }
    Ok(())
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

/// Applies the replacements (string contents, quotes untouched) and lists the changed lines.
fn apply(text: &str, mut replacements: Vec<(StrValue, String)>) -> Result<Bumped, String> {
    replacements.retain(|(value, new)| value.text != *new);
    // Right to left within a line, so earlier ranges stay valid.
    replacements.sort_by_key(|(value, _)| (value.line, std::cmp::Reverse(value.range.start)));
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    let mut edits: Vec<LineEdit> = Vec::new();
    for (value, new) in &replacements {
        let line = lines
            .get_mut(value.line)
            .ok_or_else(|| format!("line {} is out of range", value.line + 1))?;
        let before = line.trim_end_matches(['\n', '\r']).to_owned();
        if line.get(value.range.clone()) != Some(value.text.as_str()) {
            return Err(format!(
                "line {}: version not where expected",
                value.line + 1
            ));
        }
        line.replace_range(value.range.clone(), new);
        let after = line.trim_end_matches(['\n', '\r']).to_owned();
        match edits.last_mut() {
            Some(last) if last.line == value.line + 1 => last.after = after,
            _ => edits.push(LineEdit {
                line: value.line + 1,
                before,
                after,
            }),
        }
    }
    Ok(Bumped {
        text: lines.concat(),
        edits,
    })
}

/// The table a line belongs to, as far as the bump cares.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Section {
    /// `[package]`.
    Package,
    /// `[workspace.package]`.
    WorkspacePackage,
    /// A dependency table: `[dependencies]`, `[dev-dependencies]`, `[build-dependencies]`,
    /// `[workspace.dependencies]`, `[target.X.dependencies]`.
    Dependencies,
    /// One dependency written as a table, such as `[dev-dependencies.NAME]`.
    Dependency(String),
    /// Anything else.
    Other,
}

fn classify(path: &[String]) -> Section {
    let is_table = |name: &String| {
        matches!(
            name.as_str(),
            "dependencies" | "dev-dependencies" | "build-dependencies"
        )
    };
    let strs: Vec<&str> = path.iter().map(String::as_str).collect();
    // The dependency-table part of the path: after `workspace` or `target.X`, else all of it.
    let tail = match strs.as_slice() {
        ["package"] => return Section::Package,
        ["workspace", "package"] => return Section::WorkspacePackage,
        ["workspace", ..] => path.get(1..),
        ["target", _, ..] => path.get(2..),
        _ => path.get(..),
    }
    .unwrap_or_default();
    match tail {
        [table] if is_table(table) => Section::Dependencies,
        [table, name] if is_table(table) => Section::Dependency(name.clone()),
        _ => Section::Other,
    }
}

/// A string value of a line: its raw contents and their byte range inside the quotes.
#[derive(Debug, Clone)]
struct StrValue {
    text: String,
    line: usize,
    range: Range<usize>,
}

/// A value as far as the bump cares.
#[derive(Debug)]
enum Value {
    Str(StrValue),
    Table(Vec<(Vec<String>, Value)>),
    /// A value that continues on later lines.
    MultiLine,
    Other,
}

/// One `key = value` line outside multi-line values.
#[derive(Debug)]
struct Item {
    /// 0-based line number.
    line: usize,
    /// Counts table headers, so entries of different tables stay apart.
    table: usize,
    section: Section,
    key: Vec<String>,
    value: Value,
}

/// Every `key = value` line of a manifest with the table it belongs to.
fn items(text: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut state = Scan::default();
    let mut section = Section::Other;
    let mut table = 0;
    for (index, line) in text.lines().enumerate() {
        if !state.is_closed() {
            state = scan(line, state);
            continue;
        }
        let mut cursor = Cursor::new(line, index);
        cursor.skip_ws();
        match cursor.peek() {
            None | Some(b'#') => {}
            Some(b'[') => {
                table += 1;
                section = cursor
                    .header()
                    .map_or(Section::Other, |path| classify(&path));
            }
            Some(_) => {
                let Some(key) = cursor.key() else {
                    continue;
                };
                cursor.skip_ws();
                if !cursor.eat(b'=') {
                    continue;
                }
                cursor.skip_ws();
                state = scan(cursor.rest(), Scan::default());
                let value = if state.is_closed() {
                    cursor.value().unwrap_or(Value::Other)
                } else {
                    Value::MultiLine
                };
                items.push(Item {
                    line: index,
                    table,
                    section: section.clone(),
                    key,
                    value,
                });
            }
        }
    }
    if state.is_closed() {
        Ok(items)
    } else {
        Err("the manifest ends inside an unclosed value".into())
    }
}

/// Where a scan stands at the end of a line: inside brackets, or inside a multi-line string.
#[derive(Debug, Clone, Copy, Default)]
struct Scan {
    depth: usize,
    multi_line: Option<&'static [u8]>,
}

impl Scan {
    fn is_closed(self) -> bool {
        self.depth == 0 && self.multi_line.is_none()
    }
}

/// Continues `state` over a line of value text, skipping strings and comments.
fn scan(text: &str, mut state: Scan) -> Scan {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if let Some(delimiter) = state.multi_line {
            if b == b'\\' && delimiter == b"\"\"\"" {
                i += 2;
            } else if bytes.get(i..i + 3) == Some(delimiter) {
                state.multi_line = None;
                i += 3;
            } else {
                i += 1;
            }
            continue;
        }
        match b {
            b'#' => break,
            b'"' | b'\'' => {
                let triple: &'static [u8] = if b == b'"' { b"\"\"\"" } else { b"'''" };
                if bytes.get(i..i + 3) == Some(triple) {
                    state.multi_line = Some(triple);
                    i += 3;
                    continue;
                }
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    i += 1;
                    if c == b'\\' && b == b'"' {
                        i += 1;
                    } else if c == b {
                        break;
                    }
                }
                continue;
            }
            b'[' | b'{' => state.depth += 1,
            b']' | b'}' => state.depth = state.depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    state
}

/// A reader over one line.
struct Cursor<'a> {
    text: &'a str,
    line: usize,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str, line: usize) -> Self {
        Self { text, line, at: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.at..).unwrap_or_default()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// A table header's key path; `None` for arrays of tables and anything malformed.
    fn header(&mut self) -> Option<Vec<String>> {
        if !self.eat(b'[') || self.peek() == Some(b'[') {
            return None;
        }
        let path = self.key()?;
        self.skip_ws();
        self.eat(b']').then_some(path)
    }

    /// A dotted key such as `a`, `a.b`, `"a".'b'`.
    fn key(&mut self) -> Option<Vec<String>> {
        let mut path = Vec::new();
        loop {
            self.skip_ws();
            let part = match self.peek()? {
                b'"' | b'\'' => self.string()?.text,
                _ => {
                    let start = self.at;
                    while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    {
                        self.at += 1;
                    }
                    if self.at == start {
                        return None;
                    }
                    self.text.get(start..self.at)?.to_owned()
                }
            };
            path.push(part);
            self.skip_ws();
            if !self.eat(b'.') {
                return Some(path);
            }
        }
    }

    /// A one-line basic or literal string, raw (versions and names hold no escapes).
    fn string(&mut self) -> Option<StrValue> {
        let quote = self.peek()?;
        self.at += 1;
        let start = self.at;
        loop {
            let b = self.peek()?;
            if b == quote {
                let range = start..self.at;
                self.at += 1;
                return Some(StrValue {
                    text: self.text.get(range.clone())?.to_owned(),
                    line: self.line,
                    range,
                });
            }
            self.at += if b == b'\\' && quote == b'"' { 2 } else { 1 };
        }
    }

    /// A value closed on this line.
    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'"' | b'\'' => self.string().map(Value::Str),
            b'{' => {
                self.at += 1;
                let mut pairs = Vec::new();
                loop {
                    self.skip_ws();
                    if self.eat(b'}') {
                        return Some(Value::Table(pairs));
                    }
                    let key = self.key()?;
                    self.skip_ws();
                    if !self.eat(b'=') {
                        return None;
                    }
                    self.skip_ws();
                    pairs.push((key, self.value()?));
                    self.skip_ws();
                    if !self.eat(b',') {
                        self.skip_ws();
                        return self.eat(b'}').then_some(Value::Table(pairs));
                    }
                }
            }
            b'[' => {
                self.at += 1;
                loop {
                    self.skip_ws();
                    if self.eat(b']') {
                        return Some(Value::Other);
                    }
                    self.value()?;
                    self.skip_ws();
                    self.eat(b',');
                }
            }
            _ => {
                let start = self.at;
                while matches!(self.peek(), Some(b) if !matches!(b, b',' | b'}' | b']' | b'#' | b' ' | b'\t'))
                {
                    self.at += 1;
                }
                (self.at > start).then_some(Value::Other)
            }
        }
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
            "[dependencies]\nkv-a = { path = \"../a\",\n  version = \"0.1.0\" }\n",
        ] {
            assert!(
                bump_manifest(text, Role::Workspace, &crates(), "0.2.0").is_err(),
                "{text}"
            );
        }
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
