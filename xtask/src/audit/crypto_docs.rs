//! docs/CRYPTO.md states what keyvault-crypto does: its AEAD table, its Argon2id table and the
//! OWASP floor list are generated here from the constants, between marker comments
//! (`<!-- begin generated: NAME -->` ... `<!-- end generated: NAME -->`), and the check
//! compares them with the file. On a difference it fails with a diff; with
//! `KEYVAULT_UPDATE_DOCS=1` it writes the generated text into the file instead.

use std::path::Path;

use keyvault_crypto::password::{MAX_SALT_LEN, MIN_SALT_LEN};
use keyvault_crypto::{Algorithm, Argon2Params, KEY_LEN};

use super::{Outcome, Status};

/// The document, relative to the workspace root.
pub(crate) const DOC: &str = "docs/CRYPTO.md";
/// Set to `1` to rewrite the generated parts of the document rather than compare them.
pub(crate) const UPDATE_VAR: &str = "KEYVAULT_UPDATE_DOCS";

/// Runs the check on `<root>/docs/CRYPTO.md`, or rewrites it when `KEYVAULT_UPDATE_DOCS=1`.
pub(crate) fn check(root: &Path) -> Outcome {
    let path = root.join(DOC);
    let doc = match std::fs::read_to_string(&path) {
        Ok(doc) => doc,
        Err(err) => return Outcome::fail(format!("cannot read {DOC}: {err}")),
    };
    let expected = match regenerate(&doc) {
        Ok(expected) => expected,
        Err(err) => return Outcome::fail(format!("{DOC}: {err}")),
    };
    let blocks = generated_blocks().len();
    if expected == doc {
        return Outcome::pass(format!(
            "the {blocks} generated parts of {DOC} match keyvault-crypto's constants"
        ));
    }
    if std::env::var_os(UPDATE_VAR).is_some_and(|value| value == "1") {
        return match std::fs::write(&path, &expected) {
            Ok(()) => Outcome::new(
                Status::Warn,
                format!("rewrote the generated parts of {DOC} ({UPDATE_VAR}=1); commit them"),
            ),
            Err(err) => Outcome::fail(format!("cannot write {DOC}: {err}")),
        };
    }
    Outcome::fail(format!(
        "{DOC} disagrees with keyvault-crypto; `{UPDATE_VAR}=1 cargo xtask audit --only \
         crypto-docs` rewrites its generated parts"
    ))
    .with_notes(diff(&doc, &expected))
}

/// `doc` with every generated part replaced by what the code says. Every part must be there
/// exactly once, markers included.
pub(crate) fn regenerate(doc: &str) -> Result<String, String> {
    let mut out = doc.to_owned();
    for (name, text) in generated_blocks() {
        let begin = format!("<!-- begin generated: {name} -->\n");
        let end = format!("<!-- end generated: {name} -->");
        let (Some(start), 1) = (out.find(&begin), out.matches(&begin).count()) else {
            return Err(format!("needs exactly one `{}` marker", begin.trim_end()));
        };
        let body = start + begin.len();
        let stop = out
            .get(body..)
            .and_then(|rest| rest.find(&end))
            .map(|at| body + at)
            .ok_or_else(|| format!("`{}` is not closed by `{end}`", begin.trim_end()))?;
        out.replace_range(body..stop, &text);
    }
    Ok(out)
}

/// The lines that differ, `-` as the document has them and `+` as the code says.
fn diff(doc: &str, expected: &str) -> Vec<String> {
    let old: Vec<&str> = doc.lines().collect();
    let new: Vec<&str> = expected.lines().collect();
    let mut notes: Vec<String> = old
        .iter()
        .filter(|line| !new.contains(line))
        .map(|line| format!("- {line}"))
        .collect();
    notes.extend(
        new.iter()
            .filter(|line| !old.contains(line))
            .map(|line| format!("+ {line}")),
    );
    notes
}

/// Each generated part of the document by name, with its text (whole lines).
pub(crate) fn generated_blocks() -> [(&'static str, String); 3] {
    [
        ("aead", aead_table()),
        ("argon2", argon2_table()),
        ("owasp", owasp_list()),
    ]
}

/// How the document names an algorithm, and where it is specified.
fn described(algorithm: Algorithm) -> (&'static str, &'static str) {
    match algorithm.name() {
        "xchacha20-poly1305" => ("XChaCha20-Poly1305", "draft-irtf-cfrg-xchacha-03"),
        "chacha20-poly1305" => ("ChaCha20-Poly1305", "RFC 8439"),
        "aes-256-gcm" => ("AES-256-GCM", "NIST SP 800-38D"),
        // A new algorithm shows up under its code name until it is described here.
        other => (other, "(describe in xtask/src/audit/crypto_docs.rs)"),
    }
}

fn aead_table() -> String {
    let mut table =
        "| algorithm | id | key | nonce | tag | source |\n|---|---|---|---|---|---|\n".to_owned();
    for algorithm in Algorithm::ALL {
        let (name, source) = described(algorithm);
        let default = if algorithm == Algorithm::default() {
            " (default)"
        } else {
            ""
        };
        table.push_str(&format!(
            "| {name}{default} | {} | {} B | {} B | {} B | {source} |\n",
            algorithm.id(),
            algorithm.key_len(),
            algorithm.nonce_len(),
            algorithm.tag_len()
        ));
    }
    table
}

fn argon2_table() -> String {
    let default = Argon2Params::DEFAULT;
    let accepts = |memory_kib, lanes| {
        Argon2Params {
            memory_kib,
            iterations: 1,
            lanes,
        }
        .check_bounds()
        .is_ok()
    };
    // The floors that `check_bounds` enforces, found by asking it.
    let min_lanes = (0..=Argon2Params::MAX_LANES)
        .find(|&lanes| accepts(Argon2Params::MAX_MEMORY_KIB, lanes))
        .unwrap_or(u32::MAX);
    let min_memory_per_lane = (0..=Argon2Params::MAX_MEMORY_KIB)
        .find(|&memory| accepts(memory, 1))
        .unwrap_or(u32::MAX);
    format!(
        "| parameter | default | floor | ceiling |\n\
         |---|---|---|---|\n\
         | memory | {} ({} KiB) | {} per lane; OWASP list below | {} |\n\
         | passes (t) | {} | OWASP list below | {} |\n\
         | lanes (p) | {} | {min_lanes} | {} |\n\
         | salt | random: 16 B per keyslot, 32 B per export or backup file | {MIN_SALT_LEN} B | \
         {MAX_SALT_LEN} B |\n\
         | output | {KEY_LEN} B | | |\n",
        size(default.memory_kib),
        thousands(default.memory_kib),
        size(min_memory_per_lane),
        size(Argon2Params::MAX_MEMORY_KIB),
        default.iterations,
        Argon2Params::MAX_ITERATIONS,
        default.lanes,
        Argon2Params::MAX_LANES,
    )
}

fn owasp_list() -> String {
    Argon2Params::OWASP_MINIMUMS
        .iter()
        .map(|&(memory_kib, passes)| {
            format!(
                "- {} ({} KiB), t={passes}\n",
                size(memory_kib),
                thousands(memory_kib)
            )
        })
        .collect()
}

/// A memory size in KiB, in the largest binary unit that divides it.
fn size(kib: u32) -> String {
    match kib {
        0 => "0 KiB".to_owned(),
        _ if kib.is_multiple_of(1024 * 1024) => format!("{} GiB", kib / (1024 * 1024)),
        _ if kib.is_multiple_of(1024) => format!("{} MiB", kib / 1024),
        _ => format!("{kib} KiB"),
    }
}

/// `65536` as `65,536`.
fn thousands(value: u32) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real_doc() -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(DOC)).unwrap()
    }

    #[test]
    fn the_real_doc_matches_the_code() {
        let doc = real_doc();
        let expected = regenerate(&doc).unwrap();
        assert!(expected == doc, "{:#?}", diff(&doc, &expected));
    }

    #[test]
    fn the_generated_tables_say_what_the_code_does() {
        let doc = real_doc();
        for line in [
            "| XChaCha20-Poly1305 (default) | 1 | 32 B | 24 B | 16 B | draft-irtf-cfrg-xchacha-03 |",
            "| memory | 64 MiB (65,536 KiB) | 8 KiB per lane; OWASP list below | 1 GiB |",
            "| lanes (p) | 4 | 1 | 16 |",
            "- 46 MiB (47,104 KiB), t=1",
        ] {
            assert!(doc.lines().any(|l| l == line), "{line}");
        }
    }

    #[test]
    fn a_wrong_number_is_found_and_shown_as_a_diff() {
        let doc = real_doc();
        for (wrong, right) in [
            ("| passes (t) | 4 |", "| passes (t) | 3 |"),
            (
                "| AES-256-GCM | 3 | 32 B | 12 B |",
                "| AES-256-GCM | 3 | 32 B | 16 B |",
            ),
            (
                "| XChaCha20-Poly1305 (default) | 1",
                "| XChaCha20-Poly1305 | 1",
            ),
            ("- 9 MiB (9,216 KiB), t=4", "- 9 MiB (9,216 KiB), t=3"),
        ] {
            let broken = doc.replacen(wrong, right, 1);
            assert!(broken != doc, "{wrong}");
            let fixed = regenerate(&broken).unwrap();
            assert!(fixed == doc, "{wrong}");
            let notes = diff(&broken, &fixed);
            assert!(
                notes
                    .iter()
                    .any(|n| n.starts_with("- ") && n.contains(right)),
                "{notes:?}"
            );
        }
    }

    #[test]
    fn missing_or_repeated_markers_are_errors() {
        let doc = real_doc();
        let missing = doc.replace("<!-- end generated: owasp -->", "");
        assert!(regenerate(&missing).unwrap_err().contains("not closed"));
        let gone = doc.replace("<!-- begin generated: aead -->\n", "");
        assert!(regenerate(&gone).unwrap_err().contains("exactly one"));
        let twice = format!("{doc}\n<!-- begin generated: argon2 -->\n");
        assert!(regenerate(&twice).unwrap_err().contains("exactly one"));
    }

    #[test]
    fn sizes_are_written_in_their_largest_unit() {
        assert_eq!(size(65_536), "64 MiB");
        assert_eq!(size(1024 * 1024), "1 GiB");
        assert_eq!(size(8), "8 KiB");
        assert_eq!(thousands(1_048_576), "1,048,576");
        assert_eq!(thousands(999), "999");
    }
}
