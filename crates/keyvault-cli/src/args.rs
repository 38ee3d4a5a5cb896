//! The command line, declared once with clap: parsing, `--help`, shell completions and the man
//! page all come from these definitions.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use keyvault_core::audit::ChainMac;
use keyvault_core::{
    AuditOperation, ChainHead, KeyAlgorithm, KeyName, KeyOperation, KeyVersion, OutcomeKind,
    StateKind, Timestamp,
};
use keyvault_crypto::Argon2Params;

use crate::time::{parse_duration, parse_timestamp};

/// Manage keys in a local vault: encrypt, decrypt, MAC and derive with named, versioned,
/// policy-governed keys whose every use is audited.
#[derive(Debug, Parser)]
#[command(
    name = "keyvault",
    version,
    max_term_width = 100,
    after_help = HELP_TEXT,
)]
pub(crate) struct Cli {
    /// Options for every command.
    #[command(flatten)]
    pub(crate) global: Global,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Text at the end of `keyvault --help`: where the vault and passwords come from, and the exit
/// codes (kept equal to `exit::EXIT_CODES_HELP` by a test).
const HELP_TEXT: &str =
    "Vault: --vault PATH, else $KEYVAULT_PATH, else $XDG_DATA_HOME/keyvault/vault.db
(~/.local/share/keyvault/vault.db when XDG_DATA_HOME is unset).

Passwords come from a file, then a variable, then a no-echo prompt on the terminal:
  vault    --password-file / KEYVAULT_PASSWORD_FILE, then KEYVAULT_PASSWORD
  passwd   KEYVAULT_NEW_PASSWORD_FILE, then KEYVAULT_NEW_PASSWORD
  export   KEYVAULT_EXPORT_PASSWORD_FILE, then KEYVAULT_EXPORT_PASSWORD
  backup   KEYVAULT_BACKUP_PASSWORD_FILE, then KEYVAULT_BACKUP_PASSWORD
  migrate  KEYVAULT_MIGRATE_PASSWORD_FILE, then KEYVAULT_MIGRATE_PASSWORD
KEYVAULT_ARGON2=MEMORY_KIB,PASSES,LANES sets the Argon2id cost of new passwords (for tests and
small machines; never below the OWASP minimums). KEYVAULT_ACTOR names who acts in the audit log.

Exit codes:
  0  success
  1  any other error
  2  usage: bad arguments, options or environment settings
  3  authentication failed: wrong password, tampered, truncated or foreign data
  4  refused by the key's lifecycle or policy
  5  not found: no such vault, key, version or input file
  141 standard output was closed before everything was written (as after SIGPIPE)";

/// Options accepted by every command.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The vault file [default: $KEYVAULT_PATH, else $XDG_DATA_HOME/keyvault/vault.db]
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) vault: Option<PathBuf>,
    /// Read the vault password from FILE (else KEYVAULT_PASSWORD_FILE, KEYVAULT_PASSWORD, a prompt)
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
    /// Open the vault with the share in FILE (repeat for each; see `keyvault slot`)
    #[arg(long = "share", global = true, value_name = "FILE")]
    pub(crate) share_files: Vec<PathBuf>,
    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Say more on stderr: -v what is done, -vv details
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Say nothing on stderr but errors, and draw no progress bars
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a new vault (the password is asked twice on a terminal)
    Init(InitArgs),
    /// Change the vault password (the master key is rewrapped; keys are untouched)
    Passwd,
    /// Show the vault: path, keys by state, audit log size, file permissions
    Status,
    /// Create the vault and a key if missing, encrypt and decrypt a message, verify the audit log
    Quickstart(QuickstartArgs),
    /// Create, inspect, rotate and govern keys
    #[command(subcommand)]
    Key(KeyCommand),
    /// List, add and remove the vault's keyslots: recovery key, M-of-N shares, password
    #[command(subcommand)]
    Slot(SlotCommand),
    /// Encrypt stdin or a file with a key (files and --format stream use the streaming format)
    Encrypt(EncryptArgs),
    /// Decrypt an envelope (binary or kv1: text) or an encrypted stream; no key name needed
    Decrypt(DecryptArgs),
    /// Re-encrypt a ciphertext under its key's current version without revealing the plaintext
    Rewrap(RewrapArgs),
    /// Generate a random data key, in the clear and wrapped under a vault key
    Datakey(DatakeyArgs),
    /// Compute an HMAC-SHA256 tag over stdin or a file with an HMAC key
    Mac(MacArgs),
    /// Check an HMAC-SHA256 tag (exit code 3 if it does not match)
    Verify(VerifyArgs),
    /// Derive key material for a context from an HMAC key (HKDF-SHA256)
    Derive(DeriveArgs),
    /// Export a key to a password-protected file
    Export(ExportArgs),
    /// Import a key from an export file
    Import(ImportArgs),
    /// Back up the whole vault, and check or describe backups
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Restore a full backup (and its incremental backups) into a new vault file
    Restore(RestoreArgs),
    /// Read, verify and export the tamper-evident audit log
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Bring keys over from other tools
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per command into a directory
    Man(ManArgs),
}

/// `quickstart`.
#[derive(Debug, Args)]
pub(crate) struct QuickstartArgs {
    /// The message to encrypt and decrypt
    #[arg(default_value = "hello from keyvault")]
    pub(crate) message: String,
    /// The key to use (created if missing)
    #[arg(long, default_value = "quickstart", value_parser = key_name)]
    pub(crate) key: KeyName,
}

/// `key ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create a key
    Create(KeyCreateArgs),
    /// List keys, optionally filtered
    List(KeyListArgs),
    /// Show a key: state, versions, policy, labels
    Show(KeyNameArg),
    /// Add a new version that encrypts from now on
    Rotate(KeyNameArg),
    /// Activate a key created with --pending
    Activate(KeyNameArg),
    /// Enable a disabled key, or one version of it with --version
    Enable(KeyVersionArg),
    /// Disable a key (reversibly), or one version of it with --version
    Disable(KeyVersionArg),
    /// Deprecate a key: it only decrypts and verifies from now on
    Deprecate(KeyNameArg),
    /// Revoke a compromised key (permanently), or one version of it with --version
    Revoke(KeyVersionArg),
    /// Schedule a key's destruction after a window in which it can be cancelled
    ScheduleDeletion(ScheduleDeletionArgs),
    /// Cancel a scheduled deletion
    CancelDeletion(KeyNameArg),
    /// Destroy a key whose deletion window has passed, or one version of it with --version
    Destroy(KeyVersionArg),
    /// Show or change a key's usage policy
    Policy(KeyPolicyArgs),
    /// Destroy every version below a floor and stop decrypting with them
    Trim(KeyTrimArgs),
    /// Rename a key (its id, versions and ciphertexts are unchanged)
    Rename(KeyRenameArgs),
}

/// A key name.
#[derive(Debug, Args)]
pub(crate) struct KeyNameArg {
    /// The key's name
    #[arg(value_parser = key_name)]
    pub(crate) name: KeyName,
}

/// A key name and an optional version.
#[derive(Debug, Args)]
pub(crate) struct KeyVersionArg {
    /// The key's name
    #[arg(value_parser = key_name)]
    pub(crate) name: KeyName,
    /// Act on this version only
    #[arg(long, value_parser = key_version)]
    pub(crate) version: Option<KeyVersion>,
}

/// `key create`.
#[derive(Debug, Args)]
pub(crate) struct KeyCreateArgs {
    /// The new key's name (a-z, 0-9, '-', '_', '.'; starting with a letter or digit)
    #[arg(value_parser = key_name)]
    pub(crate) name: KeyName,
    /// Its algorithm, which also fixes its purpose (encryption or MAC)
    #[arg(long, value_parser = named(&KeyAlgorithm::ALL, KeyAlgorithm::name),
          default_value_t = KeyAlgorithm::XChaCha20Poly1305)]
    pub(crate) algorithm: KeyAlgorithm,
    /// A label KEY=VALUE (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = label)]
    pub(crate) labels: Vec<(String, String)>,
    /// A free-text description
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// When the key stops working (exclusive)
    #[arg(long, value_name = "TIME", value_parser = timestamp)]
    pub(crate) expires: Option<Timestamp>,
    /// Allow the key to be exported (adds export to the allowed operations)
    #[arg(long)]
    pub(crate) exportable: bool,
    /// Create it pending: unusable until `key activate`
    #[arg(long)]
    pub(crate) pending: bool,
    /// Policy settings
    #[command(flatten)]
    pub(crate) policy: PolicyFlags,
}

/// Policy settings shared by `key create` and `key policy`.
#[derive(Debug, Args)]
pub(crate) struct PolicyFlags {
    /// Most operations the key may ever perform
    #[arg(long, value_name = "N")]
    pub(crate) max_operations: Option<u64>,
    /// First time the key may be used (inclusive)
    #[arg(long, value_name = "TIME", value_parser = timestamp)]
    pub(crate) not_before: Option<Timestamp>,
    /// First time the key may no longer be used (exclusive)
    #[arg(long, value_name = "TIME", value_parser = timestamp)]
    pub(crate) not_after: Option<Timestamp>,
    /// The operations allowed, comma-separated (replaces the list)
    #[arg(long, value_name = "OPS", value_delimiter = ',',
          value_parser = named(&KeyOperation::ALL, KeyOperation::as_str))]
    pub(crate) allow: Option<Vec<KeyOperation>>,
    /// Rotate automatically once the current version is this old (e.g. 90d)
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub(crate) rotate_every: Option<Duration>,
    /// Rotate automatically once the current version has protected N messages
    #[arg(long, value_name = "N")]
    pub(crate) rotate_after: Option<u64>,
}

/// `key list`.
#[derive(Debug, Args)]
pub(crate) struct KeyListArgs {
    /// Only keys in this state
    #[arg(long, value_parser = named(&StateKind::ALL, StateKind::as_str))]
    pub(crate) state: Option<StateKind>,
    /// Only keys of this algorithm
    #[arg(long, value_parser = named(&KeyAlgorithm::ALL, KeyAlgorithm::name))]
    pub(crate) algorithm: Option<KeyAlgorithm>,
    /// Only keys with this label
    #[arg(long, value_name = "KEY=VALUE", value_parser = label)]
    pub(crate) label: Option<(String, String)>,
}

/// `key schedule-deletion`.
#[derive(Debug, Args)]
pub(crate) struct ScheduleDeletionArgs {
    /// The key's name
    #[arg(value_parser = key_name)]
    pub(crate) name: KeyName,
    /// Days until the key may be destroyed (at least 1)
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub(crate) days: u32,
}

/// `key policy`.
#[derive(Debug, Args)]
pub(crate) struct KeyPolicyArgs {
    /// The key's name
    #[arg(value_parser = key_name)]
    pub(crate) name: KeyName,
    /// New settings (without any, the policy is shown)
    #[command(flatten)]
    pub(crate) set: PolicyFlags,
    /// Remove the operation limit
    #[arg(long, conflicts_with = "max_operations")]
    pub(crate) no_max_operations: bool,
    /// Remove the start of the usage window
    #[arg(long, conflicts_with = "not_before")]
    pub(crate) no_not_before: bool,
    /// Remove the end of the usage window
    #[arg(long, conflicts_with = "not_after")]
    pub(crate) no_not_after: bool,
    /// Stop rotating by age
    #[arg(long, conflicts_with = "rotate_every")]
    pub(crate) no_rotate_every: bool,
    /// Stop rotating by use count
    #[arg(long, conflicts_with = "rotate_after")]
    pub(crate) no_rotate_after: bool,
    /// Forbid export of the key's material, for good
    #[arg(long)]
    pub(crate) disallow_export: bool,
}

impl KeyPolicyArgs {
    /// Whether any change was asked for.
    pub(crate) fn changes_anything(&self) -> bool {
        let set = &self.set;
        set.max_operations.is_some()
            || set.not_before.is_some()
            || set.not_after.is_some()
            || set.allow.is_some()
            || set.rotate_every.is_some()
            || set.rotate_after.is_some()
            || self.no_max_operations
            || self.no_not_before
            || self.no_not_after
            || self.no_rotate_every
            || self.no_rotate_after
    }
}

/// `key trim`.
#[derive(Debug, Args)]
pub(crate) struct KeyTrimArgs {
    /// The key's name
    #[arg(value_parser = key_name)]
    pub(crate) name: KeyName,
    /// The lowest version to keep; every version below is destroyed
    #[arg(long, value_name = "V", value_parser = key_version)]
    pub(crate) min_version: KeyVersion,
}

/// `key rename`.
#[derive(Debug, Args)]
pub(crate) struct KeyRenameArgs {
    /// The key's current name
    #[arg(value_parser = key_name)]
    pub(crate) name: KeyName,
    /// Its new name
    #[arg(value_parser = key_name)]
    pub(crate) new_name: KeyName,
}

/// `encrypt`.
#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    /// The key to encrypt with
    #[arg(long, value_parser = key_name)]
    pub(crate) key: KeyName,
    /// Associated data that decryption must repeat (authenticated, not encrypted)
    #[arg(long, value_name = "TEXT")]
    pub(crate) aad: Option<String>,
    /// Read the plaintext from FILE instead of stdin
    #[arg(long = "in", value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
    /// Write the ciphertext to FILE instead of stdout
    #[arg(long = "out", value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Replace the --out file if it exists (by default an existing file is refused)
    #[arg(long)]
    pub(crate) force: bool,
    /// Write the envelope as one line of text (kv1:...)
    #[arg(long, visible_alias = "armour")]
    pub(crate) armor: bool,
    /// envelope: one message up to 64 MiB; stream: chunked, any size; auto: stream for --in
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub(crate) format: FormatArg,
}

/// `decrypt`.
#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    /// The associated data given when encrypting
    #[arg(long, value_name = "TEXT")]
    pub(crate) aad: Option<String>,
    /// Read the ciphertext from FILE instead of stdin
    #[arg(long = "in", value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
    /// Write the plaintext to FILE (only once fully authenticated) instead of stdout
    #[arg(long = "out", value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Replace the --out file if it exists (by default an existing file is refused)
    #[arg(long)]
    pub(crate) force: bool,
}

/// `rewrap`.
#[derive(Debug, Args)]
pub(crate) struct RewrapArgs {
    /// The associated data given when encrypting
    #[arg(long, value_name = "TEXT")]
    pub(crate) aad: Option<String>,
    /// Read the ciphertext from FILE instead of stdin
    #[arg(long = "in", value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
    /// Write the new ciphertext to FILE instead of stdout
    #[arg(long = "out", value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Replace the --out file if it exists (by default an existing file is refused)
    #[arg(long)]
    pub(crate) force: bool,
    /// Write an envelope as text (kv1:...) even if it came in binary
    #[arg(long, visible_alias = "armour")]
    pub(crate) armor: bool,
}

/// `datakey`.
#[derive(Debug, Args)]
pub(crate) struct DatakeyArgs {
    /// The key that wraps the data key
    #[arg(long, value_parser = key_name)]
    pub(crate) key: KeyName,
    /// Associated data that unwrapping (decrypt) must repeat
    #[arg(long, value_name = "TEXT")]
    pub(crate) aad: Option<String>,
    /// Print only the wrapped form
    #[arg(long)]
    pub(crate) wrapped_only: bool,
}

/// `mac`.
#[derive(Debug, Args)]
pub(crate) struct MacArgs {
    /// The HMAC key
    #[arg(long, value_parser = key_name)]
    pub(crate) key: KeyName,
    /// Read the data from FILE instead of stdin
    #[arg(long = "in", value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
}

/// `verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The HMAC key
    #[arg(long, value_parser = key_name)]
    pub(crate) key: KeyName,
    /// The tag printed by `mac` (kvmac1:VERSION:HEX)
    #[arg(long)]
    pub(crate) tag: String,
    /// Read the data from FILE instead of stdin
    #[arg(long = "in", value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
}

/// `derive`.
#[derive(Debug, Args)]
pub(crate) struct DeriveArgs {
    /// The HMAC key to derive from
    #[arg(long, value_parser = key_name)]
    pub(crate) key: KeyName,
    /// What the material is for; the same key version and context give the same bytes
    #[arg(long)]
    pub(crate) context: String,
    /// Bytes to derive
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=8160))]
    pub(crate) length: u16,
}

/// `export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The key to export (it must be exportable)
    #[arg(value_parser = key_name)]
    pub(crate) name: KeyName,
    /// The export file to write
    #[arg(long = "out", value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Replace the --out file if it exists (by default an existing file is refused)
    #[arg(long)]
    pub(crate) force: bool,
    /// The file's encoding
    #[arg(long, value_enum, default_value_t = ExportFormatArg::Json)]
    pub(crate) format: ExportFormatArg,
    /// Export only these versions (comma-separated; default: every live version)
    #[arg(long, value_name = "V,...", value_delimiter = ',', value_parser = key_version)]
    pub(crate) versions: Option<Vec<KeyVersion>>,
    /// A comment stored (authenticated) in the file
    #[arg(long)]
    pub(crate) comment: Option<String>,
}

/// `import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The export file
    pub(crate) file: PathBuf,
    /// Import under this name instead
    #[arg(long, value_name = "NEW", value_parser = key_name, conflicts_with = "replace")]
    pub(crate) rename: Option<KeyName>,
    /// Replace the vault's copy of the same key (same id), adding the file's versions
    #[arg(long)]
    pub(crate) replace: bool,
    /// Import even if the key has expired
    #[arg(long)]
    pub(crate) allow_expired: bool,
}

/// `backup ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum BackupCommand {
    /// Write a backup of the whole vault
    Create(BackupCreateArgs),
    /// Check backups (a full one and its incrementals, in order) without restoring
    Verify(BackupFilesArgs),
    /// Describe a backup from its authenticated header
    Inspect(BackupFileArg),
}

/// `backup create`.
#[derive(Debug, Args)]
pub(crate) struct BackupCreateArgs {
    /// The backup file to write
    #[arg(long = "out", value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Replace the --out file if it exists (by default an existing file is refused)
    #[arg(long)]
    pub(crate) force: bool,
    /// Write only what changed since this earlier backup of the same vault
    #[arg(long, value_name = "BASE")]
    pub(crate) incremental_from: Option<PathBuf>,
    /// Do not compress
    #[arg(long)]
    pub(crate) no_compress: bool,
    /// Leave the audit log out
    #[arg(long)]
    pub(crate) no_audit: bool,
    /// A comment stored (authenticated) in the backup
    #[arg(long)]
    pub(crate) comment: Option<String>,
}

/// Backup files.
#[derive(Debug, Args)]
pub(crate) struct BackupFilesArgs {
    /// The backup files: a full backup, then its incremental backups in order
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
}

/// One backup file.
#[derive(Debug, Args)]
pub(crate) struct BackupFileArg {
    /// The backup file
    pub(crate) file: PathBuf,
}

/// `restore`.
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The backup files: a full backup, then its incremental backups in order
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// The new vault file to create (it must not exist)
    #[arg(long, value_name = "PATH")]
    pub(crate) to: PathBuf,
}

/// `audit ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Show audit records, optionally filtered
    Show(AuditShowArgs),
    /// Verify the whole audit chain (exit code 3 if it was tampered with)
    Verify(AuditVerifyArgs),
    /// Write audit records as JSON lines
    Export(AuditExportArgs),
}

/// `audit verify` options.
#[derive(Debug, Args)]
pub(crate) struct AuditVerifyArgs {
    /// Also check that the log still extends HEAD (COUNT:MAC, as printed by an earlier
    /// `audit verify`): detects a vault put back to an older copy
    #[arg(long, value_name = "HEAD", value_parser = chain_head)]
    pub(crate) since: Option<ChainHead>,
}

/// Audit filters.
#[derive(Debug, Args)]
pub(crate) struct AuditFilterArgs {
    /// Only records about this key
    #[arg(long, value_parser = key_name)]
    pub(crate) key: Option<KeyName>,
    /// Only records of this operation (encrypt, decrypt, create_key, rotate, ...)
    #[arg(long, value_parser = named(AuditOperation::ALL, AuditOperation::as_str))]
    pub(crate) op: Option<AuditOperation>,
    /// Only records with this outcome
    #[arg(long, value_parser = named(&OutcomeKind::ALL, OutcomeKind::as_str))]
    pub(crate) outcome: Option<OutcomeKind>,
    /// Only records at or after this time
    #[arg(long, value_name = "TIME", value_parser = timestamp, allow_hyphen_values = true)]
    pub(crate) since: Option<Timestamp>,
    /// Only records before this time
    #[arg(long, value_name = "TIME", value_parser = timestamp, allow_hyphen_values = true)]
    pub(crate) until: Option<Timestamp>,
}

/// `audit show`.
#[derive(Debug, Args)]
pub(crate) struct AuditShowArgs {
    /// Filters
    #[command(flatten)]
    pub(crate) filter: AuditFilterArgs,
    /// Show only the last N matching records
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
}

/// `audit export`.
#[derive(Debug, Args)]
pub(crate) struct AuditExportArgs {
    /// Filters
    #[command(flatten)]
    pub(crate) filter: AuditFilterArgs,
    /// Write to FILE instead of stdout
    #[arg(long = "out", value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Replace the --out file if it exists (by default an existing file is refused)
    #[arg(long)]
    pub(crate) force: bool,
}

/// `migrate ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum MigrateCommand {
    /// Import keys from rust-keyvault 0.2: a FileStore directory or an export file
    RustKeyvault(MigrateArgs),
}

/// `migrate rust-keyvault`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// A rust-keyvault FileStore directory, or export files (the versions of one key may come
    /// in separate files)
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// The FileStore is not encrypted (no password)
    #[arg(long)]
    pub(crate) plaintext: bool,
    /// The Argon2 settings the FileStore was used with: balanced (rust-keyvault's default),
    /// high-security, fast-insecure, or MEMORY_KIB,PASSES,LANES
    #[arg(long, value_name = "SETTINGS", default_value = "balanced", value_parser = legacy_argon2)]
    pub(crate) legacy_argon2: Argon2Params,
    /// Name migrated keys PREFIX + their id in hex
    #[arg(long, value_name = "PREFIX", default_value = "legacy-")]
    pub(crate) prefix: String,
    /// Name one key: its rust-keyvault base id (32 hex digits) = its new name (repeatable)
    #[arg(long = "name", value_name = "BASE_ID=NAME", value_parser = legacy_name)]
    pub(crate) names: Vec<([u8; 16], KeyName)>,
    /// Make the migrated keys exportable
    #[arg(long)]
    pub(crate) exportable: bool,
    /// What to do with keys whose name or id the vault already uses
    #[arg(long, value_enum, default_value_t = ConflictArg::Refuse)]
    pub(crate) on_conflict: ConflictArg,
}

/// `keyvault init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Also add a recovery-key slot and print its key once
    #[arg(long)]
    pub(crate) recovery: bool,
    /// Also add a shares slot: any M of N shares open the vault (written to --out-dir)
    #[arg(long, value_name = "M/N", value_parser = shares_spec, requires = "out_dir")]
    pub(crate) shares: Option<(u8, u8)>,
    /// Where --shares writes its share files
    #[arg(long, value_name = "DIR", requires = "shares")]
    pub(crate) out_dir: Option<PathBuf>,
    /// Also add a PKCS#11 slot: the token's module (with --pkcs11-token and --pkcs11-key)
    #[arg(long, value_name = "PATH", requires_all = ["pkcs11_token", "pkcs11_key"])]
    pub(crate) pkcs11_module: Option<PathBuf>,
    /// The PKCS#11 token's label
    #[arg(long, value_name = "LABEL", requires = "pkcs11_module")]
    pub(crate) pkcs11_token: Option<String>,
    /// The label of the AES key on the token
    #[arg(long, value_name = "LABEL", requires = "pkcs11_module")]
    pub(crate) pkcs11_key: Option<String>,
    /// Also add an AWS KMS slot under this KMS key (id, ARN or alias/NAME)
    #[arg(long, value_name = "ID")]
    pub(crate) aws_kms_key_id: Option<String>,
}

fn shares_spec(text: &str) -> Result<(u8, u8), String> {
    let (threshold, count) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not M/N (for example 3/5)"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u8>()
            .map_err(|_| format!("{text:?} is not M/N (for example 3/5)"))
    };
    Ok((number(threshold)?, number(count)?))
}

/// `keyvault slot`.
#[derive(Debug, Subcommand)]
pub(crate) enum SlotCommand {
    /// List the keyslots: id, kind and settings
    List,
    /// Add a keyslot
    #[command(subcommand)]
    Add(SlotAddCommand),
    /// Remove a keyslot (never the last); its bytes are scrubbed from the file
    Remove(SlotIdArg),
    /// Check share files against the vault without opening it (no password needed)
    VerifyShare(VerifyShareArgs),
}

/// `keyvault slot add`.
#[derive(Debug, Subcommand)]
pub(crate) enum SlotAddCommand {
    /// A recovery key, printed once: keep it offline; it opens the vault without the password
    Recovery,
    /// A secret split into N share files, any M of which open the vault
    Shares(AddSharesArgs),
    /// An AES key on a PKCS#11 token (HSM) that wraps the vault's key; PIN from
    /// KEYVAULT_PKCS11_PIN_FILE, KEYVAULT_PKCS11_PIN or a prompt
    Pkcs11(AddPkcs11Args),
    /// An AWS KMS key that wraps the vault's key (credentials and region from the AWS
    /// environment or profile; AWS_ENDPOINT_URL_KMS for another endpoint)
    AwsKms(AddAwsKmsArgs),
}

/// `keyvault slot add aws-kms`.
#[derive(Debug, Args)]
pub(crate) struct AddAwsKmsArgs {
    /// The KMS key: its id, ARN or alias (alias/NAME)
    #[arg(long, value_name = "ID")]
    pub(crate) key_id: String,
}

/// `keyvault slot add pkcs11`.
#[derive(Debug, Args)]
pub(crate) struct AddPkcs11Args {
    /// The token's PKCS#11 module (a shared library)
    #[arg(long, value_name = "PATH")]
    pub(crate) module: PathBuf,
    /// The token's label
    #[arg(long, value_name = "LABEL")]
    pub(crate) token: String,
    /// The label of the AES key on the token
    #[arg(long, value_name = "LABEL")]
    pub(crate) key: String,
}

/// `keyvault slot add shares`.
#[derive(Debug, Args)]
pub(crate) struct AddSharesArgs {
    /// How many shares open the vault (M, at least 2)
    #[arg(long, value_name = "M")]
    pub(crate) threshold: u8,
    /// How many shares to deal (N, at most 32)
    #[arg(long = "shares", value_name = "N")]
    pub(crate) count: u8,
    /// Write share-I-of-N.txt files (0600) into DIR, one per custodian
    #[arg(long, value_name = "DIR")]
    pub(crate) out_dir: PathBuf,
}

/// A keyslot id.
#[derive(Debug, Args)]
pub(crate) struct SlotIdArg {
    /// The slot's id (from `keyvault slot list`)
    pub(crate) id: u32,
}

/// `keyvault slot verify-share`.
#[derive(Debug, Args)]
pub(crate) struct VerifyShareArgs {
    /// Share files to check
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
}

/// `migrate --on-conflict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ConflictArg {
    /// Import nothing if any key conflicts
    Refuse,
    /// Import the keys that do not conflict
    Skip,
    /// Replace the vault's copy of the same key when the migrated one is at least as recent
    Replace,
}

/// `completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// `man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write keyvault.1 and one page per command into DIR instead of printing keyvault.1
    #[arg(long = "out", value_name = "DIR")]
    pub(crate) output: Option<PathBuf>,
}

/// `encrypt --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// A stream for --in FILE, an envelope for stdin
    Auto,
    /// One envelope (up to 64 MiB of plaintext)
    Envelope,
    /// The chunked stream format (any size, bounded memory)
    Stream,
}

/// `export --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormatArg {
    /// JSON text
    Json,
    /// Compact binary
    Binary,
}

fn legacy_argon2(text: &str) -> Result<Argon2Params, String> {
    use keyvault_backup::legacy::{
        LEGACY_ARGON2_BALANCED, LEGACY_ARGON2_FAST_INSECURE, LEGACY_ARGON2_HIGH_SECURITY,
    };
    match text {
        "balanced" | "default" => return Ok(LEGACY_ARGON2_BALANCED),
        "high-security" => return Ok(LEGACY_ARGON2_HIGH_SECURITY),
        "fast-insecure" => return Ok(LEGACY_ARGON2_FAST_INSECURE),
        _ => {}
    }
    let numbers: Vec<u32> = text
        .split(',')
        .map(|part| part.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?} is not balanced, high-security, fast-insecure or M,T,P"))?;
    let [memory_kib, iterations, lanes] = numbers[..] else {
        return Err(format!("{text:?} is not MEMORY_KIB,PASSES,LANES"));
    };
    let params = Argon2Params {
        memory_kib,
        iterations,
        lanes,
    };
    // Typed values out of range are a usage error here, before any file is read.
    params.check_bounds().map_err(|err| err.to_string())?;
    Ok(params)
}

fn legacy_name(text: &str) -> Result<([u8; 16], KeyName), String> {
    let (id, name) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not BASE_ID=NAME"))?;
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(id, &mut bytes)
        .map_err(|_| format!("{id:?} is not a rust-keyvault id (32 hex digits)"))?;
    Ok((bytes, key_name(name)?))
}

fn key_name(text: &str) -> Result<KeyName, String> {
    KeyName::new(text).map_err(|err| err.to_string())
}

/// A chain head as `audit verify` prints it: the record count, a colon, the last MAC in hex.
fn chain_head(text: &str) -> Result<ChainHead, String> {
    let malformed =
        || format!("{text:?} is not an audit head (COUNT:MAC, as `audit verify` prints)");
    let (count, mac) = text.trim().split_once(':').ok_or_else(malformed)?;
    Ok(ChainHead {
        count: count.parse().map_err(|_| malformed())?,
        last_mac: ChainMac::try_from(mac.to_owned()).map_err(|_| malformed())?,
    })
}

fn key_version(text: &str) -> Result<KeyVersion, String> {
    let number: u32 = text
        .trim_start_matches(['v', 'V'])
        .parse()
        .map_err(|_| format!("{text:?} is not a version number"))?;
    KeyVersion::new(number).map_err(|err| err.to_string())
}

fn label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not a label: use KEY=VALUE"))?;
    if key.is_empty() {
        return Err(format!("{text:?} has an empty label key"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

fn timestamp(text: &str) -> Result<Timestamp, String> {
    parse_timestamp(text)
}

fn duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("a duration must be longer than zero".to_owned());
    }
    Ok(duration)
}

/// A parser for one of core's closed sets (algorithms, operations, states, outcomes) by its
/// stable names, ignoring case and taking `-` for `_`. The names come from core, so help,
/// completions and clap's "did you mean" list exactly what core accepts: no CLI copy of the enum
/// can drift from it.
fn named<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> Named<T> {
    Named { all, name }
}

#[derive(Clone)]
struct Named<T: 'static> {
    all: &'static [T],
    name: fn(T) -> &'static str,
}

impl<T: Copy + Send + Sync + 'static> TypedValueParser for Named<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let loose = |text: &str| text.replace('-', "_").to_ascii_lowercase();
        let wanted = value.to_str().map(loose);
        if let Some(found) = self
            .all
            .iter()
            .copied()
            .find(|&item| wanted.as_deref() == Some(loose((self.name)(item)).as_str()))
        {
            return Ok(found);
        }
        // Not a name: let clap word the refusal, with the names and its suggestion.
        let names = self.all.iter().map(|&item| (self.name)(item));
        PossibleValuesParser::new(names).parse_ref(cmd, arg, value)?;
        Err(clap::Error::new(clap::error::ErrorKind::InvalidValue).with_cmd(cmd))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            self.all
                .iter()
                .map(|&item| PossibleValue::new((self.name)(item))),
        ))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use keyvault_cli::exit::EXIT_CODES_HELP;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn listed_state(text: &str) -> Result<Option<StateKind>, clap::Error> {
        let cli = Cli::try_parse_from(["keyvault", "key", "list", "--state", text])?;
        match cli.command {
            Command::Key(KeyCommand::List(args)) => Ok(args.state),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn closed_sets_take_every_core_name_and_nothing_else() {
        for state in StateKind::ALL {
            let name = state.as_str();
            for text in [
                name.to_owned(),
                name.replace('_', "-"),
                name.to_ascii_uppercase(),
            ] {
                assert_eq!(listed_state(&text).unwrap(), Some(state), "{text}");
            }
        }
        let err = listed_state("activ").unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        assert!(err.to_string().contains("'active'"), "{err}");
        // Help lists exactly core's names.
        let command = Cli::command();
        let list = command
            .find_subcommand("key")
            .and_then(|key| key.find_subcommand("list"))
            .unwrap();
        let state = list
            .get_arguments()
            .find(|arg| arg.get_id() == "state")
            .unwrap();
        let names: Vec<String> = state
            .get_possible_values()
            .iter()
            .map(|value| value.get_name().to_owned())
            .collect();
        let core: Vec<&str> = StateKind::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, core);
    }

    #[test]
    fn help_lists_the_exit_codes() {
        assert!(HELP_TEXT.ends_with(EXIT_CODES_HELP));
    }
}
