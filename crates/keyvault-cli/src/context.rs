//! What every command shares: where the vault is, how it is opened, and how results print.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use keyvault_crypto::Argon2Params;
use keyvault_store::{BusyWait, FileVault, ManualClock, RecoveryKey, Share, Unlock, VaultOptions};

use crate::args::Global;
use crate::exit::{Code, Failure};
use crate::log;
use crate::output::Printer;
use crate::password::{Password, Source};
use crate::progress::Spinner;
use crate::time;

/// The variable that sets Argon2id costs for new passwords.
pub(crate) const ARGON2_ENV: &str = "KEYVAULT_ARGON2";
/// The variable that names the actor recorded in the audit log.
pub(crate) const ACTOR_ENV: &str = "KEYVAULT_ACTOR";

/// The shared state of one run.
pub(crate) struct Context<'a> {
    global: &'a Global,
    /// How results print.
    pub(crate) out: Printer,
}

impl<'a> Context<'a> {
    /// The context of a run with these global options.
    pub(crate) fn new(global: &'a Global) -> Self {
        Context {
            global,
            out: Printer::new(global.json, global.quiet),
        }
    }

    /// The vault file: `--vault`, else `KEYVAULT_PATH`, else the per-user default.
    ///
    /// # Errors
    /// No path given and no home directory to put the default in.
    pub(crate) fn vault_path(&self) -> Result<PathBuf> {
        if let Some(path) = &self.global.vault {
            return Ok(path.clone());
        }
        if let Some(path) = std::env::var_os("KEYVAULT_PATH").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(path));
        }
        default_vault_path().ok_or_else(|| {
            Failure::usage(
                "no vault path: pass --vault PATH or set KEYVAULT_PATH (neither XDG_DATA_HOME \
                 nor HOME is set to find the default)",
            )
            .into()
        })
    }

    /// The vault password's sources.
    pub(crate) fn vault_password(&self) -> Source {
        Source::vault(self.global.password_file.as_deref())
    }

    /// Open the vault: with its password, or as `KEYVAULT_UNLOCK` says (`recovery`,
    /// `shares`); `--share` files alone also choose shares.
    ///
    /// # Errors
    /// No vault (exit 5), a wrong secret or a foreign file (exit 3), an unknown
    /// `KEYVAULT_UNLOCK` (exit 2), other store errors.
    pub(crate) fn open_vault(&self) -> Result<FileVault> {
        let path = self.vault_path()?;
        if !path.exists() {
            return Err(no_vault_hint(&path).into());
        }
        let method = std::env::var(UNLOCK_ENV).ok().filter(|m| !m.is_empty());
        let method = match method.as_deref() {
            None if !self.global.share_files.is_empty() => "shares",
            None => match crate::custody::unattended(&path)? {
                Some(wrapper) => return self.open_vault_by(&path, &Unlock::External(&*wrapper)),
                None => "password",
            },
            Some(method) => method,
        };
        match method {
            "password" => {
                let password = self.vault_password().existing()?;
                self.open_vault_with(&path, &password)
            }
            "recovery" => {
                let text = Source::recovery().existing()?;
                let text = std::str::from_utf8(&text)
                    .map_err(|_| Failure::usage("the recovery key is not text"))?;
                let key = RecoveryKey::from_text(text)?;
                self.open_vault_by(&path, &Unlock::Recovery(&key))
            }
            "shares" => {
                let shares = self.shares(&path)?;
                self.open_vault_by(&path, &Unlock::Shares(&shares))
            }
            "pkcs11" => match crate::custody::pkcs11_for_vault(&path)? {
                Some(wrapper) => self.open_vault_by(&path, &Unlock::External(&*wrapper)),
                None => Err(Failure::usage(format!(
                    "{UNLOCK_ENV}=pkcs11 needs {} set to the token's PKCS#11 module, and a vault \
                     with a pkcs11 slot (`keyvault slot add pkcs11`)",
                    crate::custody::PKCS11_MODULE_ENV
                ))
                .into()),
            },
            "aws-kms" => match crate::custody::aws_kms_for_vault(&path)? {
                Some(wrapper) => self.open_vault_by(&path, &Unlock::External(&*wrapper)),
                None => Err(Failure::usage(
                    "this vault has no aws-kms slot (`keyvault slot add aws-kms --key-id ID`)",
                )
                .into()),
            },
            other => Err(Failure::usage(format!(
                "{UNLOCK_ENV}={other:?} is not a way to open a vault: use password, recovery, \
                 shares, pkcs11 or aws-kms"
            ))
            .into()),
        }
    }

    /// The shares named by `--share`, or asked for one by one on a terminal until as many as
    /// the first one's threshold are in.
    fn shares(&self, path: &Path) -> Result<Vec<Share>> {
        let mut shares = self
            .global
            .share_files
            .iter()
            .map(|file| read_share(file))
            .collect::<Result<Vec<_>>>()?;
        let wanted = |shares: &[Share]| {
            shares
                .first()
                .is_none_or(|first| shares.len() < usize::from(first.threshold()))
        };
        while wanted(&shares) {
            let Some(typed) = Source::share(shares.len() + 1)? else {
                if shares.is_empty() {
                    return Err(Failure::usage(
                        "no share given and no terminal to ask on: pass --share FILE once per \
                         share",
                    )
                    .into());
                }
                // Too few: the vault says how many it needs.
                break;
            };
            let text = std::str::from_utf8(&typed)
                .map_err(|_| Failure::usage("a share is text (KVSHARE-...)"))?;
            let share = Share::from_text(text)?;
            log::info!(
                "share {} of {} for the vault at {}",
                share.index(),
                share.count(),
                path.display()
            );
            shares.push(share);
        }
        Ok(shares)
    }

    /// Open the vault at `path` with `password`.
    ///
    /// # Errors
    /// As [`Context::open_vault`].
    pub(crate) fn open_vault_with(&self, path: &Path, password: &[u8]) -> Result<FileVault> {
        self.open_vault_by(path, &Unlock::Password(password))
    }

    fn open_vault_by(&self, path: &Path, how: &Unlock<'_>) -> Result<FileVault> {
        log::info!(
            "opening the vault at {} ({})",
            path.display(),
            how.describe()
        );
        let options = vault_options()?;
        let vault = {
            let _spinner = Spinner::start("unlocking the vault");
            FileVault::open_file_with(path, how, options)
        }
        .with_context(|| format!("cannot open the vault at {}", path.display()))?;
        warn_permissions(&vault, path);
        Ok(vault)
    }

    /// Create a new vault at `path` with `password`, making its directory (0700) if needed.
    ///
    /// # Errors
    /// A file already at `path`; weak Argon2 settings; I/O errors.
    pub(crate) fn create_vault(&self, path: &Path, password: &[u8]) -> Result<FileVault> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty())
            && !dir.exists()
        {
            create_private_dir(dir)
                .with_context(|| format!("cannot create the directory {}", dir.display()))?;
        }
        let options = vault_options()?;
        log::info!(
            "creating a vault at {} (Argon2id {} KiB, {} passes, {} lanes)",
            path.display(),
            options.argon2.memory_kib,
            options.argon2.iterations,
            options.argon2.lanes
        );
        let _spinner = Spinner::start("creating the vault");
        FileVault::create(path, password, options)
            .with_context(|| format!("cannot create a vault at {}", path.display()))
    }

    /// The vault's new password (asked twice on a terminal).
    ///
    /// # Errors
    /// As [`Source::new_password`].
    pub(crate) fn new_vault_password(&self) -> Result<Password> {
        self.vault_password().new_password()
    }
}

/// The variable that chooses how the vault is opened: `password` (the default), `recovery`
/// or `shares`.
pub(crate) const UNLOCK_ENV: &str = "KEYVAULT_UNLOCK";

/// Longest share file read.
const MAX_SHARE_FILE: u64 = 16 * 1024;

/// A share file: the share's text, after any `#` comment lines.
pub(crate) fn read_share(path: &Path) -> Result<Share> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read the share file {}", path.display()))?;
    let mut content = zeroize::Zeroizing::new(String::new());
    file.take(MAX_SHARE_FILE)
        .read_to_string(&mut content)
        .with_context(|| format!("cannot read the share file {}", path.display()))?;
    let text: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
        content
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .collect(),
    );
    Share::from_text(&text).with_context(|| format!("in the share file {}", path.display()))
}

/// The per-user default vault: `$XDG_DATA_HOME/keyvault/vault.db`, else
/// `$HOME/.local/share/keyvault/vault.db` (`%APPDATA%\keyvault\vault.db` on Windows).
pub(crate) fn default_vault_path() -> Option<PathBuf> {
    let nonempty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(data) = nonempty("XDG_DATA_HOME") {
        return Some(PathBuf::from(data).join("keyvault").join("vault.db"));
    }
    if cfg!(windows)
        && let Some(appdata) = nonempty("APPDATA")
    {
        return Some(PathBuf::from(appdata).join("keyvault").join("vault.db"));
    }
    nonempty("HOME").map(|home| {
        PathBuf::from(home)
            .join(".local")
            .join("share")
            .join("keyvault")
            .join("vault.db")
    })
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn warn_permissions(vault: &FileVault, path: &Path) {
    match vault.insecure_permissions() {
        Ok(Some(mode)) => log::warning!(
            "the vault file {} can be read by other users (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        ),
        Ok(None) => {}
        Err(err) => log::debug!("cannot check the vault file's permissions: {err}"),
    }
}

/// The vault options of this run: Argon2 costs from `KEYVAULT_ARGON2`, the actor, the clock.
///
/// # Errors
/// A malformed or too weak `KEYVAULT_ARGON2` (exit 2).
pub(crate) fn vault_options() -> Result<VaultOptions> {
    let mut options = VaultOptions {
        argon2: argon2_params()?,
        actor: actor(),
        busy_wait: BusyWait {
            // The library's bounds (30 s in all, a word after 2 s), with the word on stderr.
            on_wait: Some(Arc::new(crate::progress::say_waiting_for_the_lock)),
            ..BusyWait::default()
        },
        ..VaultOptions::default()
    };
    if let Some(now) = time::test_now() {
        log::warning!(
            "{} is set: the clock is fixed at {now} (for tests only)",
            time::TEST_NOW_ENV
        );
        options.clock = Arc::new(ManualClock::new(now));
    }
    Ok(options)
}

/// Argon2id costs for new passwords: `KEYVAULT_ARGON2=MEMORY_KIB,PASSES,LANES`, or the library
/// default. Values below the OWASP minimums are refused.
///
/// # Errors
/// A malformed or too weak value (exit 2).
pub(crate) fn argon2_params() -> Result<Argon2Params> {
    let Some(value) = std::env::var_os(ARGON2_ENV) else {
        return Ok(Argon2Params::DEFAULT);
    };
    let value = value.to_string_lossy().into_owned();
    let malformed = || {
        Failure::usage(format!(
            "{ARGON2_ENV}={value:?} is not MEMORY_KIB,PASSES,LANES (for example 19456,2,1)"
        ))
    };
    let numbers: Vec<u32> = value
        .split(',')
        .map(|part| part.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| malformed())?;
    let [memory_kib, iterations, lanes] = numbers[..] else {
        return Err(malformed().into());
    };
    let params = Argon2Params {
        memory_kib,
        iterations,
        lanes,
    };
    params
        .validate()
        .map_err(|err| Failure::usage(format!("{ARGON2_ENV}={value:?} is refused: {err}")))?;
    log::debug!(
        "Argon2id costs from {ARGON2_ENV}: {memory_kib} KiB, {iterations} passes, {lanes} lanes"
    );
    Ok(params)
}

/// Who acts: `KEYVAULT_ACTOR`, else `cli:` and the user's login name.
fn actor() -> String {
    if let Some(actor) = std::env::var_os(ACTOR_ENV).filter(|a| !a.is_empty()) {
        return actor.to_string_lossy().into_owned();
    }
    // An empty variable names no one, so it falls through to the next, as an unset one does.
    let user = ["USER", "USERNAME"]
        .into_iter()
        .filter_map(std::env::var_os)
        .find(|user| !user.is_empty())
        .map(|user| user.to_string_lossy().into_owned());
    match user {
        Some(user) => format!("cli:{user}"),
        None => "cli".to_owned(),
    }
}

/// Exit code 5, with a hint, for a vault path where there is no file. The path is named in full,
/// with the directory a relative path was taken from: following the hint from another directory
/// would otherwise create a second, empty vault.
pub(crate) fn no_vault_hint(path: &Path) -> Failure {
    Failure::new(
        Code::NotFound,
        format!(
            "no vault at {}; create one with `keyvault init` or point --vault at one",
            describe_path(path)
        ),
    )
}

/// `path` in full, and for a relative path where it was taken from: "/home/me/demo.vault
/// (demo.vault from the current directory /home/me)".
pub(crate) fn describe_path(path: &Path) -> String {
    if path.is_absolute() {
        return path.display().to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => format!(
            "{} ({} from the current directory {})",
            cwd.join(path).display(),
            path.display(),
            cwd.display()
        ),
        Err(_) => path.display().to_string(),
    }
}
