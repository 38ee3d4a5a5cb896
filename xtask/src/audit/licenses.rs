//! Licences, bans and sources as configured in deny.toml.
//!
//! With cargo-deny installed, `cargo deny check licenses bans sources` decides. Without it, the
//! built-in mode reads deny.toml with a TOML parser and checks every package of the resolved
//! graph from `cargo metadata` (all features if `[graph] all-features`, dev-dependencies
//! included, every platform):
//! - each licence expression is satisfied by `[licenses] allow` (see [`super::spdx`]), or by a
//!   per-crate `[licenses] exceptions` entry; a crate with only a licence file fails (its text
//!   needs a human or cargo-deny);
//! - no crate of `[bans] deny` (`{ crate = "name" }`, `"name@req"`, or `name` + `version`);
//! - `[bans] wildcards`: no `*` version requirement; `multiple-versions`: duplicates reported;
//! - `[sources]`: each package comes from its path, an allowed registry or an allowed git URL.
//!
//! Levels follow cargo-deny: `deny` fails, `warn` is listed, `allow` is ignored.

use std::collections::BTreeMap;
use std::path::Path;

use rustsec::semver::{Version, VersionReq};
use serde_json::Value;

use super::spdx::{self, Licensee};
use super::tools::{run_cargo, tail};
use super::{Outcome, Status};

/// The crates.io index, as Cargo.lock and `cargo metadata` name it.
const CRATES_IO: &str = "https://github.com/rust-lang/crates.io-index";
/// The same registry through the sparse protocol.
const CRATES_IO_SPARSE: &str = "sparse+https://index.crates.io/";

/// Runs cargo-deny if it is installed, the built-in check otherwise.
pub(crate) fn check(root: &Path) -> Outcome {
    if run_cargo(root, &["deny", "--version"], &[]).success {
        return with_cargo_deny(root);
    }
    let config = match std::fs::read_to_string(root.join("deny.toml")) {
        Ok(text) => match DenyConfig::parse(&text) {
            Ok(config) => config,
            Err(err) => return Outcome::fail(format!("built-in: deny.toml: {err}")),
        },
        Err(err) => return Outcome::fail(format!("built-in: cannot read deny.toml: {err}")),
    };
    let mut args = vec!["metadata", "--format-version", "1", "--locked"];
    if config.all_features {
        args.push("--all-features");
    }
    let ran = run_cargo(root, &args, &[]);
    if !ran.success {
        let mut outcome = Outcome::fail(format!("built-in: `cargo {}` failed", args.join(" ")));
        outcome.tail = Some(tail(&ran.output));
        return outcome;
    }
    match serde_json::from_str::<Value>(&ran.stdout) {
        Ok(metadata) => evaluate(&metadata, &config),
        Err(err) => Outcome::fail(format!("built-in: cannot parse cargo metadata: {err}")),
    }
}

fn with_cargo_deny(root: &Path) -> Outcome {
    let args = ["deny", "check", "licenses", "bans", "sources"];
    let ran = run_cargo(root, &args, &[]);
    if ran.success {
        Outcome::pass("cargo-deny: `cargo deny check licenses bans sources` clean")
    } else {
        let mut outcome = Outcome::fail(format!(
            "cargo-deny: `cargo deny check licenses bans sources` failed ({})",
            ran.status
        ));
        outcome.tail = Some(tail(&ran.output));
        outcome
    }
}

/// cargo-deny's three levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Deny,
    Warn,
    Allow,
}

/// A banned crate, in any version or in versions matching a requirement.
#[derive(Debug)]
struct Ban {
    name: String,
    versions: Option<VersionReq>,
}

/// The parts of deny.toml the built-in check uses.
#[derive(Debug)]
pub(crate) struct DenyConfig {
    all_features: bool,
    allow: Vec<Licensee>,
    exceptions: BTreeMap<String, Vec<Licensee>>,
    deny: Vec<Ban>,
    multiple_versions: Level,
    wildcards: Level,
    allow_wildcard_paths: bool,
    unknown_registry: Level,
    unknown_git: Level,
    allow_registry: Vec<String>,
    allow_git: Vec<String>,
}

impl DenyConfig {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let table: toml::Table = text.parse().map_err(|err| format!("{err}"))?;
        let empty = toml::Table::new();
        let section = |name: &str| -> Result<&toml::Table, String> {
            match table.get(name) {
                None => Ok(&empty),
                Some(value) => value
                    .as_table()
                    .ok_or_else(|| format!("[{name}] is not a table")),
            }
        };
        let graph = section("graph")?;
        let licenses = section("licenses")?;
        let bans = section("bans")?;
        let sources = section("sources")?;

        let allow = strings(licenses, "allow")?
            .iter()
            .map(|entry| Licensee::parse(entry).map_err(|err| format!("[licenses] allow: {err}")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut exceptions = BTreeMap::new();
        for entry in array(licenses, "exceptions")? {
            let entry = entry
                .as_table()
                .ok_or("[licenses] exceptions: entries are tables")?;
            let name = entry
                .get("crate")
                .or_else(|| entry.get("name"))
                .and_then(toml::Value::as_str)
                .ok_or("[licenses] exceptions: an entry has no crate")?;
            let allowed = strings(entry, "allow")?
                .iter()
                .map(|text| Licensee::parse(text))
                .collect::<Result<Vec<_>, _>>()?;
            exceptions.insert(name.to_owned(), allowed);
        }
        let deny = array(bans, "deny")?
            .iter()
            .map(Ban::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let allow_registry = match sources.get("allow-registry") {
            None => vec![CRATES_IO.to_owned()],
            Some(_) => strings(sources, "allow-registry")?,
        };
        Ok(DenyConfig {
            all_features: flag(graph, "all-features")?,
            allow,
            exceptions,
            deny,
            multiple_versions: level(bans, "multiple-versions", Level::Warn)?,
            wildcards: level(bans, "wildcards", Level::Allow)?,
            allow_wildcard_paths: flag(bans, "allow-wildcard-paths")?,
            unknown_registry: level(sources, "unknown-registry", Level::Warn)?,
            unknown_git: level(sources, "unknown-git", Level::Warn)?,
            allow_registry,
            allow_git: strings(sources, "allow-git")?,
        })
    }
}

impl Ban {
    fn parse(value: &toml::Value) -> Result<Self, String> {
        let (spec, version) = match value {
            toml::Value::String(spec) => (spec.as_str(), None),
            toml::Value::Table(table) => {
                let spec = table
                    .get("crate")
                    .or_else(|| table.get("name"))
                    .and_then(toml::Value::as_str)
                    .ok_or("[bans] deny: an entry has no crate")?;
                (spec, table.get("version").and_then(toml::Value::as_str))
            }
            _ => return Err("[bans] deny: entries are strings or tables".to_owned()),
        };
        let (name, version) = match spec.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (spec, version),
        };
        let versions = version
            .map(|text| {
                // A bare version means exactly that version.
                let text = if Version::parse(text).is_ok() {
                    format!("={text}")
                } else {
                    text.to_owned()
                };
                VersionReq::parse(&text).map_err(|err| format!("[bans] deny {name}: {err}"))
            })
            .transpose()?;
        Ok(Ban {
            name: name.to_owned(),
            versions,
        })
    }

    fn matches(&self, name: &str, version: &str) -> bool {
        self.name == name
            && self.versions.as_ref().is_none_or(|req| {
                Version::parse(version).is_ok_and(|version| req.matches(&version))
            })
    }
}

fn array<'a>(table: &'a toml::Table, key: &str) -> Result<&'a [toml::Value], String> {
    match table.get(key) {
        None => Ok(&[]),
        Some(value) => value
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| format!("`{key}` is not an array")),
    }
}

fn strings(table: &toml::Table, key: &str) -> Result<Vec<String>, String> {
    array(table, key)?
        .iter()
        .map(|value| {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("`{key}` holds a non-string"))
        })
        .collect()
}

fn flag(table: &toml::Table, key: &str) -> Result<bool, String> {
    match table.get(key) {
        None => Ok(false),
        Some(value) => value
            .as_bool()
            .ok_or_else(|| format!("`{key}` is not a boolean")),
    }
}

fn level(table: &toml::Table, key: &str, default: Level) -> Result<Level, String> {
    match table.get(key).map(|value| value.as_str()) {
        None => Ok(default),
        Some(Some("deny")) => Ok(Level::Deny),
        Some(Some("warn")) => Ok(Level::Warn),
        Some(Some("allow")) => Ok(Level::Allow),
        Some(_) => Err(format!("`{key}` is not deny, warn or allow")),
    }
}

/// One package of the resolved graph.
struct Package<'a> {
    name: &'a str,
    version: &'a str,
    value: &'a Value,
}

/// Checks the resolved graph in `metadata` (the JSON of `cargo metadata`) against `config`.
pub(crate) fn evaluate(metadata: &Value, config: &DenyConfig) -> Outcome {
    let packages = match resolved_packages(metadata) {
        Ok(packages) => packages,
        Err(err) => return Outcome::fail(format!("built-in: {err}")),
    };
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    let mut report = |level: Level, message: String| match level {
        Level::Deny => failures.push(message),
        Level::Warn => warnings.push(format!("warning: {message}")),
        Level::Allow => {}
    };
    let mut versions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for package in &packages {
        let label = format!("{} {}", package.name, package.version);
        if let Some(problem) = licence_problem(package, config) {
            report(Level::Deny, format!("{label}: {problem}"));
        }
        if config
            .deny
            .iter()
            .any(|ban| ban.matches(package.name, package.version))
        {
            report(
                Level::Deny,
                format!("{label}: banned in deny.toml [bans] deny"),
            );
        }
        for dependency in array_of(package.value, "dependencies") {
            let is_path = dependency.get("path").is_some();
            let private = package
                .value
                .get("publish")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty);
            if str_of(dependency, "req") == "*"
                && !(is_path && private && config.allow_wildcard_paths)
            {
                report(
                    config.wildcards,
                    format!(
                        "{label}: wildcard version requirement on {}",
                        str_of(dependency, "name")
                    ),
                );
            }
        }
        match package.value.get("source").and_then(Value::as_str) {
            None => {}
            Some(source) => {
                if let Some(level) = source_problem(source, config) {
                    report(level, format!("{label}: source {source} is not allowed"));
                }
            }
        }
        versions
            .entry(package.name)
            .or_default()
            .push(package.version);
    }
    let duplicates: Vec<String> = versions
        .iter()
        .filter(|(_, list)| list.len() > 1)
        .map(|(name, list)| format!("{name} ({})", list.join(", ")))
        .collect();
    if !duplicates.is_empty() {
        report(
            config.multiple_versions,
            format!(
                "{} crate(s) in more than one version: {}",
                duplicates.len(),
                duplicates.join(", ")
            ),
        );
    }

    let scope = format!(
        "built-in: {} packages, {} allowed licences, {} banned crate(s)",
        packages.len(),
        config.allow.len(),
        config.deny.len()
    );
    if failures.is_empty() {
        let status = if warnings.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        };
        Outcome::new(status, format!("{scope}: licences, bans and sources ok")).with_notes(warnings)
    } else {
        let detail = format!("{scope}: {} problem(s)", failures.len());
        failures.extend(warnings);
        Outcome::fail(detail).with_notes(failures)
    }
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn array_of<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The packages of the resolved graph, sorted by name and version.
fn resolved_packages(metadata: &Value) -> Result<Vec<Package<'_>>, String> {
    let by_id: BTreeMap<&str, &Value> = array_of(metadata, "packages")
        .iter()
        .map(|package| (str_of(package, "id"), package))
        .collect();
    let nodes = metadata
        .get("resolve")
        .and_then(|resolve| resolve.get("nodes"))
        .and_then(Value::as_array)
        .ok_or("cargo metadata has no resolved graph")?;
    let mut packages = nodes
        .iter()
        .map(|node| {
            let id = str_of(node, "id");
            by_id
                .get(id)
                .map(|value| Package {
                    name: str_of(value, "name"),
                    version: str_of(value, "version"),
                    value,
                })
                .ok_or_else(|| format!("resolved package {id} is not among the packages"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    packages.sort_by(|a, b| (a.name, a.version).cmp(&(b.name, b.version)));
    Ok(packages)
}

fn licence_problem(package: &Package<'_>, config: &DenyConfig) -> Option<String> {
    let Some(text) = package.value.get("license").and_then(Value::as_str) else {
        return Some(
            if package
                .value
                .get("license_file")
                .is_some_and(|file| !file.is_null())
            {
                "only a licence file, no SPDX expression (needs cargo-deny or a review)".to_owned()
            } else {
                "no licence".to_owned()
            },
        );
    };
    let expr = match spdx::parse(text) {
        Ok(expr) => expr,
        Err(err) => return Some(format!("licence `{text}` does not parse: {err}")),
    };
    let exception = config.exceptions.get(package.name);
    let allowed: Vec<Licensee> = config
        .allow
        .iter()
        .chain(exception.into_iter().flatten())
        .cloned()
        .collect();
    (!spdx::satisfied(&expr, &allowed)).then(|| format!("licence `{text}` is not allowed"))
}

/// The level at which `source` (a `cargo metadata` source id) is refused, if it is.
fn source_problem(source: &str, config: &DenyConfig) -> Option<Level> {
    if let Some(url) = source.strip_prefix("registry+") {
        return (!config.allow_registry.iter().any(|allowed| allowed == url))
            .then_some(config.unknown_registry);
    }
    if source.starts_with("sparse+") {
        let crates_io_allowed = config.allow_registry.iter().any(|url| url == CRATES_IO);
        let allowed = (source == CRATES_IO_SPARSE && crates_io_allowed)
            || config.allow_registry.iter().any(|url| {
                source
                    .strip_prefix("sparse+")
                    .is_some_and(|rest| rest == url)
            });
        return (!allowed).then_some(config.unknown_registry);
    }
    if let Some(url) = source.strip_prefix("git+") {
        let url = url.split(['?', '#']).next().unwrap_or(url);
        return (!config.allow_git.iter().any(|allowed| allowed == url))
            .then_some(config.unknown_git);
    }
    Some(config.unknown_registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DENY: &str = r#"
[graph]
all-features = true
[licenses]
allow = ["MIT", "Apache-2.0"]
[bans]
multiple-versions = "warn"
wildcards = "deny"
deny = [{ crate = "bincode" }, "sharks@<1", { name = "oldie", version = "1.2.3" }]
[sources]
unknown-registry = "deny"
unknown-git = "deny"
allow-registry = ["https://github.com/rust-lang/crates.io-index"]
"#;

    fn package(name: &str, version: &str, license: &str, source: Option<&str>) -> Value {
        serde_json::json!({
            "id": format!("{name} {version}"),
            "name": name,
            "version": version,
            "license": license,
            "source": source,
            "dependencies": [],
        })
    }

    fn metadata(packages: Vec<Value>) -> Value {
        let nodes: Vec<Value> = packages
            .iter()
            .map(|p| serde_json::json!({ "id": p["id"] }))
            .collect();
        serde_json::json!({ "packages": packages, "resolve": { "nodes": nodes } })
    }

    const REGISTRY: Option<&str> = Some("registry+https://github.com/rust-lang/crates.io-index");

    #[test]
    fn a_clean_graph_passes() {
        let config = DenyConfig::parse(DENY).unwrap();
        let outcome = evaluate(
            &metadata(vec![
                package("ours", "0.1.0", "MIT OR Apache-2.0", None),
                package("dep", "1.0.0", "MIT/Apache-2.0", REGISTRY),
            ]),
            &config,
        );
        assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
        assert!(outcome.detail.contains("built-in"));
    }

    #[test]
    fn bans_licences_and_sources_fail() {
        let config = DenyConfig::parse(DENY).unwrap();
        let outcome = evaluate(
            &metadata(vec![
                package("bincode", "1.3.3", "MIT", REGISTRY),
                package("sharks", "0.5.0", "MIT", REGISTRY),
                package("oldie", "1.2.3", "MIT", REGISTRY),
                package("copyleft", "1.0.0", "GPL-3.0", REGISTRY),
                package(
                    "forked",
                    "1.0.0",
                    "MIT",
                    Some("git+https://example.invalid/f#abc"),
                ),
                package(
                    "elsewhere",
                    "1.0.0",
                    "MIT",
                    Some("registry+https://example.invalid/i"),
                ),
            ]),
            &config,
        );
        assert_eq!(outcome.status, Status::Fail);
        let notes = outcome.notes.join("\n");
        for expected in [
            "bincode 1.3.3: banned",
            "sharks 0.5.0: banned",
            "oldie 1.2.3: banned",
            "copyleft 1.0.0: licence `GPL-3.0` is not allowed",
            "forked 1.0.0: source",
            "elsewhere 1.0.0: source",
        ] {
            assert!(notes.contains(expected), "missing {expected:?} in {notes}");
        }
    }

    #[test]
    fn version_limited_bans_spare_other_versions() {
        let config = DenyConfig::parse(DENY).unwrap();
        let outcome = evaluate(
            &metadata(vec![
                package("sharks", "1.0.0", "MIT", REGISTRY),
                package("oldie", "1.2.4", "MIT", REGISTRY),
            ]),
            &config,
        );
        assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    }

    #[test]
    fn duplicates_warn_and_wildcards_fail() {
        let config = DenyConfig::parse(DENY).unwrap();
        let mut loose = package("loose", "0.1.0", "MIT", None);
        loose["dependencies"] = serde_json::json!([{ "name": "dep", "req": "*" }]);
        let outcome = evaluate(
            &metadata(vec![
                package("dep", "1.0.0", "MIT", REGISTRY),
                package("dep", "2.0.0", "MIT", REGISTRY),
            ]),
            &config,
        );
        assert_eq!(outcome.status, Status::Warn);
        assert!(outcome.notes.join("\n").contains("dep (1.0.0, 2.0.0)"));
        let outcome = evaluate(&metadata(vec![loose]), &config);
        assert_eq!(outcome.status, Status::Fail);
        assert!(outcome.notes.join("\n").contains("wildcard"));
    }

    #[test]
    fn the_real_deny_toml_parses() {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deny.toml"))
                .unwrap();
        let config = DenyConfig::parse(&text).unwrap();
        assert!(config.all_features);
        assert!(config.deny.iter().any(|ban| ban.name == "bincode"));
        assert!(config.deny.iter().any(|ban| ban.name == "sharks"));
        assert_eq!(config.unknown_git, Level::Deny);
        assert!(config.allow.contains(&Licensee::parse("MIT").unwrap()));
    }
}
