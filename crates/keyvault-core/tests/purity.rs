//! keyvault-core stays pure: its sources call no filesystem, network, thread, process,
//! environment or clock, and it depends only on the crates the design allows.

// Test code: a panic is a test failure, which is the point.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::net",
    "std::thread",
    "std::process",
    "std::env",
    "std::io",
    "SystemTime::now",
    "Instant::now",
    "File::open",
    "File::create",
    "TcpStream",
    "UdpSocket",
    "thread::spawn",
    "unsafe ",
];

/// Normal dependencies the design allows: the crypto layer, serde, thiserror, and a
/// pure base64 codec for the armour form.
const ALLOWED_DEPENDENCIES: &[&str] = &["base64ct", "keyvault-crypto", "serde", "thiserror"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn sources_call_no_io_and_no_clock() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() >= 10, "found only {files:?}");
    let mut violations = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            for pattern in FORBIDDEN {
                if line.contains(pattern) {
                    violations.push(format!("{}:{}: {pattern}", file.display(), number + 1));
                }
            }
        }
    }
    println!("scanned {} source files", files.len());
    assert!(
        violations.is_empty(),
        "impure code:\n{}",
        violations.join("\n")
    );
}

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
    let lib = include_str!("../src/lib.rs");
    assert!(lib.contains("#![forbid(unsafe_code)]"));
    assert!(lib.contains("#![deny(missing_docs)]"));
}
