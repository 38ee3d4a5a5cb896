//! What commands print: human text by default, one JSON document on stdout with `--json`; and
//! the JSON and text views of keys and audit records.

use std::borrow::Cow;
use std::io::Write;

use anyhow::{Context, Result};
use keyvault_core::{AuditRecord, KeyMetadata, KeyState, Outcome, Timestamp};
use serde_json::{Value, json};

use crate::time::format_duration;

/// How results are printed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Printer {
    json: bool,
    quiet: bool,
}

impl Printer {
    /// A printer for `--json` and `-q`.
    pub(crate) fn new(json: bool, quiet: bool) -> Self {
        Printer { json, quiet }
    }

    /// Whether `--json` was given.
    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// Print a result the user asked to see: `value` with `--json`, else `text` (even with
    /// `-q`).
    ///
    /// # Errors
    /// Writing to stdout fails.
    pub(crate) fn data(&self, value: &Value, text: &str) -> Result<()> {
        if self.json {
            print_json(value)
        } else {
            print_text(text)
        }
    }

    /// Print the outcome of a change: `value` with `--json`, else `text` unless `-q`.
    ///
    /// # Errors
    /// Writing to stdout fails.
    pub(crate) fn done(&self, value: &Value, text: &str) -> Result<()> {
        if self.json {
            print_json(value)
        } else if self.quiet {
            Ok(())
        } else {
            print_text(text)
        }
    }
}

/// One JSON document and a newline on stdout.
///
/// # Errors
/// Writing to stdout fails.
pub(crate) fn print_json(value: &Value) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value).context("cannot format the JSON output")?;
    text.push(b'\n');
    let mut out = std::io::stdout().lock();
    out.write_all(&text)
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}

/// `text` with every character that could steer a terminal written as a visible escape
/// (`\u{1b}`, `\u{7}`, `\u{202e}`, ...): C0 and C1 controls, DEL, and the bidirectional
/// overrides and isolates that reorder what is shown. Line breaks are kept only with
/// `keep_newlines`, for text of several lines that the program laid out itself.
///
/// Applied to everything printed for people (stdout text, the error line, warnings), since
/// key labels, backup comments, audit actors, legacy file names and error messages quoting
/// input can come from another user's file. JSON output is not escaped: serde already writes
/// controls as `\u` escapes and the exact string must survive.
pub(crate) fn escape_controls(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() && !(keep_newlines && c == '\n')) || is_bidi(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// One value from a file or another user inside a line of text: [`escape_controls`] with line
/// breaks escaped too, so a value cannot start a line of its own.
pub(crate) fn safe(text: &str) -> Cow<'_, str> {
    escape_controls(text, false)
}

/// Whether `bytes` are text that can go to a terminal as they are: UTF-8 with no control
/// characters but line breaks and tabs, and no bidirectional formatting characters.
pub(crate) fn is_terminal_safe(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|text| {
        !text
            .chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi(c))
    })
}

/// Unicode's bidirectional formatting characters (marks, embeddings, overrides, isolates).
fn is_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

fn print_text(text: &str) -> Result<()> {
    let text = escape_controls(text, true);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("cannot write to standard output")?;
    if !text.is_empty() && !text.ends_with('\n') {
        writeln!(out).context("cannot write to standard output")?;
    }
    out.flush().context("cannot write to standard output")
}

/// A time as RFC 3339 text.
pub(crate) fn time(t: Timestamp) -> String {
    t.to_string()
}

fn opt_time(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(time(t)))
}

/// A key's state as text, with the deletion date of a pending deletion.
pub(crate) fn state_text(state: KeyState) -> String {
    match state {
        KeyState::PendingDeletion { until, .. } => {
            format!("pending_deletion (destroyable from {})", time(until))
        }
        other => other.kind().as_str().to_owned(),
    }
}

/// The JSON view of a key.
pub(crate) fn key_json(key: &KeyMetadata) -> Value {
    let policy = key.policy();
    let (deletion_after, resume) = match key.state() {
        KeyState::PendingDeletion { until, resume } => (
            Value::String(time(until)),
            Value::String(KeyState::from(resume).kind().as_str().to_owned()),
        ),
        _ => (Value::Null, Value::Null),
    };
    json!({
        "name": key.name().as_str(),
        "id": key.id().to_string(),
        "algorithm": key.algorithm().name(),
        "state": key.state().kind().as_str(),
        "deletion_after": deletion_after,
        "resumes_as": resume,
        "created_at": time(key.created_at()),
        "updated_at": time(key.updated_at()),
        "expires_at": opt_time(key.expires_at()),
        "exportable": key.exportable(),
        "labels": key.labels(),
        "description": key.description(),
        "encryption_version": key.encryption_version().map(|v| v.get()),
        "latest_version": key.latest_version().get(),
        "min_decryption_version": key.min_decryption_version().get(),
        "versions": key.versions().iter().map(|info| json!({
            "version": info.version.get(),
            "state": info.state.as_str(),
            "created_at": time(info.created_at),
        })).collect::<Vec<_>>(),
        "policy": {
            "max_operations": policy.max_operations,
            "not_before": opt_time(policy.not_before),
            "not_after": opt_time(policy.not_after),
            "allowed_operations": policy.allowed_operations.iter().map(|op| op.as_str()).collect::<Vec<_>>(),
            "rotate_every_seconds": policy.rotation.max_age.map(|age| age.as_secs()),
            "rotate_after_uses": policy.rotation.max_uses,
        },
    })
}

/// A key as text: everything `key show` prints.
pub(crate) fn key_text(key: &KeyMetadata) -> String {
    let labels = if key.labels().is_empty() {
        "none".to_owned()
    } else {
        key.labels()
            .iter()
            .map(|(k, v)| format!("{}={}", safe(k), safe(v)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = String::new();
    let mut line = |label: &str, value: &str| {
        text.push_str(&format!("{label:<14}{value}\n"));
    };
    line("name", key.name().as_str());
    line("id", &key.id().to_string());
    line("algorithm", key.algorithm().name());
    line("state", &state_text(key.state()));
    line("created", &time(key.created_at()));
    line("updated", &time(key.updated_at()));
    line(
        "expires",
        &key.expires_at().map_or_else(|| "never".to_owned(), time),
    );
    line("exportable", if key.exportable() { "yes" } else { "no" });
    line("labels", &labels);
    if !key.description().is_empty() {
        line("description", &safe(key.description()));
    }
    line(
        "encrypts with",
        &key.encryption_version().map_or_else(
            || "no version".to_owned(),
            |v| format!("version {}", v.get()),
        ),
    );
    line(
        "decrypts",
        &format!("versions {} and up", key.min_decryption_version().get()),
    );
    text.push_str("versions\n");
    for info in key.versions() {
        text.push_str(&format!(
            "  v{:<6}{:<11}{}\n",
            info.version.get(),
            info.state.as_str(),
            time(info.created_at)
        ));
    }
    text.push_str("policy\n");
    text.push_str(&policy_text(key));
    text
}

/// A key's policy as indented text.
pub(crate) fn policy_text(key: &KeyMetadata) -> String {
    let policy = key.policy();
    let ops = policy
        .allowed_operations
        .iter()
        .map(|op| op.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let window = match (policy.not_before, policy.not_after) {
        (None, None) => "always".to_owned(),
        (Some(from), None) => format!("from {}", time(from)),
        (None, Some(until)) => format!("until {} (exclusive)", time(until)),
        (Some(from), Some(until)) => {
            format!("from {} until {} (exclusive)", time(from), time(until))
        }
    };
    let mut rotation = Vec::new();
    if let Some(age) = policy.rotation.max_age {
        rotation.push(format!("every {}", format_duration(age)));
    }
    if let Some(uses) = policy.rotation.max_uses {
        rotation.push(format!("after {uses} uses"));
    }
    let rotation = if rotation.is_empty() {
        "manual".to_owned()
    } else {
        rotation.join(", ")
    };
    format!(
        "  allowed       {}\n  max ops       {}\n  window        {window}\n  rotation      {rotation}\n",
        if ops.is_empty() { "nothing" } else { &ops },
        policy
            .max_operations
            .map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
    )
}

/// The JSON view of the policy alone.
pub(crate) fn policy_json(key: &KeyMetadata) -> Value {
    let mut value = key_json(key);
    json!({
        "name": key.name().as_str(),
        "exportable": key.exportable(),
        "policy": value.get_mut("policy").map(Value::take).unwrap_or(Value::Null),
    })
}

/// One line per key for `key list`.
pub(crate) fn key_list_text(keys: &[KeyMetadata]) -> String {
    if keys.is_empty() {
        return "no keys\n".to_owned();
    }
    let width = keys
        .iter()
        .map(|key| key.name().as_str().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut text = format!(
        "{:<width$}  {:<17}{:<20}{:<9}{}\n",
        "NAME", "STATE", "ALGORITHM", "VERSION", "CREATED"
    );
    for key in keys {
        text.push_str(&format!(
            "{:<width$}  {:<17}{:<20}{:<9}{}\n",
            key.name().as_str(),
            key.state().kind().as_str(),
            key.algorithm().name(),
            key.encryption_version()
                .map_or_else(|| "-".to_owned(), |v| v.get().to_string()),
            time(key.created_at()),
        ));
    }
    text
}

/// The outcome of an audit record: `ok`, `denied` or `error`, and why.
fn outcome(outcome: &Outcome) -> (&'static str, Option<String>) {
    let reason = match outcome {
        Outcome::Ok => None,
        Outcome::Denied { reason } => Some(reason.code().to_owned()),
        Outcome::Error { kind } => Some(kind.as_str().to_owned()),
    };
    (outcome.kind().as_str(), reason)
}

/// The JSON view of an audit record.
pub(crate) fn audit_json(record: &AuditRecord) -> Value {
    let event = &record.event;
    let (result, reason) = outcome(&event.outcome);
    json!({
        "seq": record.seq,
        "time": time(event.time),
        "operation": event.operation.as_str(),
        "key_id": event.key_id.map(|id| id.to_string()),
        "key_name": event.key_name.as_ref().map(|name| name.as_str().to_owned()),
        "key_version": event.key_version.map(|v| v.get()),
        "outcome": result,
        "reason": reason,
        "actor": event.actor,
        "request_id": event.context.request_id,
        "aad_digest": event.context.aad_digest.map(|digest| hex::encode(digest.as_bytes())),
        "details": event.context.details,
        "mac": hex::encode(record.mac.as_bytes()),
    })
}

/// One line per audit record.
pub(crate) fn audit_text(records: &[AuditRecord]) -> String {
    if records.is_empty() {
        return "no audit records match\n".to_owned();
    }
    let mut text = String::new();
    for record in records {
        let event = &record.event;
        let key = match (&event.key_name, event.key_id) {
            (Some(name), _) => safe(name.as_str()).into_owned(),
            (None, Some(id)) => id.to_string(),
            (None, None) => "-".to_owned(),
        };
        let key = match event.key_version {
            Some(version) => format!("{key} v{}", version.get()),
            None => key,
        };
        let (result, reason) = outcome(&event.outcome);
        let result = match reason {
            Some(reason) => format!("{result} ({reason})"),
            None => result.to_owned(),
        };
        let details = event
            .context
            .details
            .iter()
            .map(|(k, v)| format!("{}={}", safe(k), safe(v)))
            .collect::<Vec<_>>()
            .join(" ");
        text.push_str(&format!(
            "#{:<6}{}  {:<26} {:<24} {:<28} {}{}\n",
            record.seq,
            time(event.time),
            event.operation.as_str(),
            key,
            result,
            safe(&event.actor),
            if details.is_empty() {
                String::new()
            } else {
                format!("  {details}")
            },
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_other_text_is_kept() {
        assert!(matches!(safe("plain café ✓"), Cow::Borrowed(_)));
        assert_eq!(safe("a\u{1b}[2Jb"), r"a\u{1b}[2Jb");
        assert_eq!(
            safe("osc\u{1b}]52;c;eA==\u{7}"),
            r"osc\u{1b}]52;c;eA==\u{7}"
        );
        assert_eq!(safe("c1\u{9b}1m del\u{7f}"), r"c1\u{9b}1m del\u{7f}");
        assert_eq!(safe("bidi\u{202e}\u{2066}"), r"bidi\u{202e}\u{2066}");
        assert_eq!(safe("two\nlines\r\t"), r"two\nlines\r\t");
        assert_eq!(
            escape_controls("two\nlines\u{1b}", true),
            "two\nlines\\u{1b}"
        );
        assert!(is_terminal_safe("card 4111\n\tcafé".as_bytes()));
        assert!(!is_terminal_safe(b"\x1b]52;c;eA==\x07"));
        assert!(!is_terminal_safe(b"\xff\xfe binary"));
        assert!(!is_terminal_safe("\u{202e}txt".as_bytes()));
    }
}
