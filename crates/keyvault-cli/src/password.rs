//! Where passwords come from.
//!
//! Each password has a file source, an environment variable and a prompt, tried in that order:
//!
//! | password | file | variable |
//! |---|---|---|
//! | the vault's | `--password-file` or `KEYVAULT_PASSWORD_FILE` | `KEYVAULT_PASSWORD` |
//! | a new one for `passwd` | `KEYVAULT_NEW_PASSWORD_FILE` | `KEYVAULT_NEW_PASSWORD` |
//! | an export file's | `KEYVAULT_EXPORT_PASSWORD_FILE` | `KEYVAULT_EXPORT_PASSWORD` |
//! | a backup's | `KEYVAULT_BACKUP_PASSWORD_FILE` | `KEYVAULT_BACKUP_PASSWORD` |
//! | a rust-keyvault store's or export's | `KEYVAULT_MIGRATE_PASSWORD_FILE` | `KEYVAULT_MIGRATE_PASSWORD` |
//!
//! A password file holds the password alone; one trailing newline is ignored. Without a file
//! or variable the password is asked for on the terminal without echo (twice when a new one
//! is being set); with no terminal either, the command fails with a sentence naming the
//! sources. Passwords live in zeroizing buffers and are never printed or logged.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use zeroize::Zeroizing;

use crate::exit::{Code, Failure};
use crate::log;

/// A password, wiped from memory when dropped.
pub(crate) type Password = Zeroizing<Vec<u8>>;

/// Longest password file read (a password is not a document).
const MAX_PASSWORD_FILE: u64 = 64 * 1024;

/// One kind of password and its sources.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// What it is, for prompts and errors ("vault password").
    what: &'static str,
    /// A file named on the command line, which wins over everything.
    file_flag: Option<PathBuf>,
    /// The variable naming a file.
    file_env: &'static str,
    /// The variable holding the password.
    env: &'static str,
}

impl Source {
    /// The vault password: `--password-file`, `KEYVAULT_PASSWORD_FILE`, `KEYVAULT_PASSWORD`.
    pub(crate) fn vault(file_flag: Option<&Path>) -> Self {
        Source {
            what: "vault password",
            file_flag: file_flag.map(Path::to_path_buf),
            file_env: "KEYVAULT_PASSWORD_FILE",
            env: "KEYVAULT_PASSWORD",
        }
    }

    /// The new vault password of `passwd`.
    pub(crate) fn new_vault() -> Self {
        Source {
            what: "new vault password",
            file_flag: None,
            file_env: "KEYVAULT_NEW_PASSWORD_FILE",
            env: "KEYVAULT_NEW_PASSWORD",
        }
    }

    /// The password of key export files.
    pub(crate) fn export() -> Self {
        Source {
            what: "export password",
            file_flag: None,
            file_env: "KEYVAULT_EXPORT_PASSWORD_FILE",
            env: "KEYVAULT_EXPORT_PASSWORD",
        }
    }

    /// The password of backup files.
    pub(crate) fn backup() -> Self {
        Source {
            what: "backup password",
            file_flag: None,
            file_env: "KEYVAULT_BACKUP_PASSWORD_FILE",
            env: "KEYVAULT_BACKUP_PASSWORD",
        }
    }

    /// The password of a rust-keyvault store or export being migrated.
    pub(crate) fn migrate() -> Self {
        Source {
            what: "rust-keyvault password",
            file_flag: None,
            file_env: "KEYVAULT_MIGRATE_PASSWORD_FILE",
            env: "KEYVAULT_MIGRATE_PASSWORD",
        }
    }

    /// An existing password: asked once on a terminal.
    ///
    /// # Errors
    /// An unreadable or empty file, an empty variable, or no source and no terminal.
    pub(crate) fn existing(&self) -> Result<Password> {
        self.obtain(false)
    }

    /// A password being set: asked twice on a terminal, and the two must match.
    ///
    /// # Errors
    /// As [`Source::existing`], and two different answers.
    pub(crate) fn new_password(&self) -> Result<Password> {
        self.obtain(true)
    }

    fn obtain(&self, confirm: bool) -> Result<Password> {
        if let Some(path) = &self.file_flag {
            return read_file(path, self.what);
        }
        // An empty `..._FILE=` means "not set", as it does for most tools, not the path "".
        if let Some(path) = std::env::var_os(self.file_env).filter(|path| !path.is_empty()) {
            return read_file(Path::new(&path), self.what)
                .with_context(|| format!("{} (from {})", self.what, self.file_env));
        }
        if let Some(value) = std::env::var_os(self.env) {
            log::debug!("reading the {} from {}", self.what, self.env);
            let password = Zeroizing::new(value.into_encoded_bytes());
            if password.is_empty() {
                return Err(Failure::usage(format!("{} is set but empty", self.env)).into());
            }
            return Ok(password);
        }
        self.prompt(confirm)
    }

    fn prompt(&self, confirm: bool) -> Result<Password> {
        if !terminal_available() {
            return Err(Failure::usage(format!(
                "no {what} given and no terminal to ask on: set {env}, or {file_env} to a file \
                 holding it{flag}",
                what = self.what,
                env = self.env,
                file_env = self.file_env,
                flag = if self.file_env == "KEYVAULT_PASSWORD_FILE" {
                    ", or pass --password-file"
                } else {
                    ""
                },
            ))
            .into());
        }
        let first = ask(&format!("{}: ", capitalised(self.what)))?;
        if first.is_empty() {
            return Err(Failure::usage(format!("the {} is empty", self.what)).into());
        }
        if confirm {
            let second = ask(&format!("Repeat the {}: ", self.what))?;
            if first != second {
                return Err(Failure::usage(format!("the two {}s do not match", self.what)).into());
            }
        }
        Ok(first)
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Ask on the terminal without echo.
fn ask(prompt: &str) -> Result<Password> {
    let answer = Zeroizing::new(
        rpassword::prompt_password(prompt).context("cannot read a password from the terminal")?,
    );
    Ok(Zeroizing::new(answer.as_bytes().to_vec()))
}

/// Whether a terminal is there to ask on.
fn terminal_available() -> bool {
    #[cfg(unix)]
    {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_ok()
    }
    #[cfg(not(unix))]
    {
        use std::io::IsTerminal;
        std::io::stdin().is_terminal()
    }
}

/// A password file's content without one trailing newline.
fn read_file(path: &Path, what: &str) -> Result<Password> {
    log::debug!("reading the {what} from {}", path.display());
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read the {what} file {}", path.display()))?;
    let mut content = Zeroizing::new(Vec::new());
    file.take(MAX_PASSWORD_FILE + 1)
        .read_to_end(&mut content)
        .with_context(|| format!("cannot read the {what} file {}", path.display()))?;
    if u64::try_from(content.len()).unwrap_or(u64::MAX) > MAX_PASSWORD_FILE {
        return Err(Failure::new(
            Code::Usage,
            format!(
                "the {what} file {} is larger than {MAX_PASSWORD_FILE} bytes",
                path.display()
            ),
        )
        .into());
    }
    if content.last() == Some(&b'\n') {
        content.pop();
        if content.last() == Some(&b'\r') {
            content.pop();
        }
    }
    if content.is_empty() {
        return Err(Failure::usage(format!("the {what} file {} is empty", path.display())).into());
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn files_lose_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, b"secret one\r\n").unwrap();
        assert_eq!(&read_file(&path, "test").unwrap()[..], b"secret one");
        std::fs::write(&path, b"two\n\n").unwrap();
        assert_eq!(&read_file(&path, "test").unwrap()[..], b"two\n");
        std::fs::write(&path, b"\n").unwrap();
        let err = read_file(&path, "test").unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
    }

    #[test]
    fn capitalises() {
        assert_eq!(capitalised("vault password"), "Vault password");
        assert_eq!(capitalised(""), "");
    }
}
