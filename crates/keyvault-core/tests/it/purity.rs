//! keyvault-core stays pure: it depends only on the crates the design allows. (That its sources
//! call no filesystem, network, thread, process, environment or clock is enforced by clippy's
//! `disallowed-methods` and `disallowed-types` in crates/keyvault-core/clippy.toml.)

// Tests may read files (golden files, docs), which keyvault-core itself never does.
#![allow(clippy::disallowed_methods)]

use std::path::Path;

/// Normal dependencies the design allows: the crypto layer, serde, thiserror, and a
/// pure base64 codec for the armour form.
const ALLOWED_DEPENDENCIES: &[&str] = &["base64ct", "keyvault-crypto", "serde", "thiserror"];

/// The names in one `[section]` of a TOML file (the text before `=` on each line).
fn section_keys(toml: &str, section: &str) -> Vec<String> {
    toml.lines()
        .skip_while(|line| line.trim() != section)
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .filter_map(|line| {
            let line = line.trim();
            (!line.is_empty() && !line.starts_with('#'))
                .then(|| line.split('=').next().unwrap_or("").trim().to_owned())
        })
        .collect()
}

#[test]
fn manifest_has_only_allowed_dependencies() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let mut dependencies = section_keys(&manifest, "[dependencies]");
    dependencies.sort();
    assert_eq!(dependencies, ALLOWED_DEPENDENCIES);
    assert!(
        !manifest.contains("[target.") && !manifest.contains("[build-dependencies]"),
        "no platform-specific or build dependencies"
    );
    for banned in ["bincode", "sharks"] {
        assert!(!manifest.contains(banned), "{banned} is not allowed");
    }
    assert!(manifest.contains("[lints]\nworkspace = true"));
}

#[test]
fn crate_root_forbids_unsafe_and_requires_docs() {
    let lib = include_str!("../../src/lib.rs");
    assert!(lib.contains("#![forbid(unsafe_code)]"));
    assert!(lib.contains("#![deny(missing_docs)]"));
}
