//! `encrypt`, `decrypt`, `rewrap`, `datakey`, `mac`, `verify` and `derive`.

use std::io::{BufReader, Chain, Cursor, IsTerminal, Read, Write};

use anyhow::{Context as _, Result};
use base64ct::{Base64, Encoding};
use keyvault_core::KeyName;
use keyvault_core::envelope::{self, MAX_ARMOURED_LEN, MAX_PLAINTEXT_LEN};
use keyvault_core::envelope::{Envelope, Purpose};
use keyvault_crypto::{Algorithm, SecretBytes, SecretKey, Zeroizing};
use keyvault_store::stream::{self, DEFAULT_CHUNK_SIZE, StreamHeader, StreamReader, StreamWriter};
use keyvault_store::{FileVault, Signature, StoreError};
use serde_json::{Value, json};

use super::finish;
use crate::args::{
    DatakeyArgs, DecryptArgs, DeriveArgs, EncryptArgs, FormatArg, MacArgs, RewrapArgs, VerifyArgs,
};
use crate::context::Context;
use crate::exit::{Code, Failure};
use crate::io::{Input, Output, write_behind};
use crate::log;
use crate::output::is_terminal_safe;
use crate::progress::Progress;

/// Most data `mac` and `verify` hold in memory.
const MAX_MAC_INPUT: usize = MAX_PLAINTEXT_LEN;
/// Bytes moved per step when copying to or from a stream (and shown by the progress bar).
const COPY_BLOCK: usize = 256 * 1024;
/// Blocks read ahead of the copy (see `copy_stream`).
const READ_AHEAD_BLOCKS: usize = 16;

fn aad(text: Option<&String>) -> &[u8] {
    text.map_or(&[], |text| text.as_bytes())
}

/// The envelope format or the stream format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Envelope,
    Stream,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Envelope => "envelope",
            Format::Stream => "stream",
        }
    }
}

fn is_stdin(path: Option<&std::path::Path>) -> bool {
    path.is_none_or(|path| path == std::path::Path::new("-"))
}

/// `keyvault encrypt`.
pub(crate) fn encrypt(ctx: &Context<'_>, args: &EncryptArgs) -> Result<()> {
    let format = match (args.format, args.armor) {
        (FormatArg::Stream, true) => {
            return Err(Failure::usage(
                "--armor writes one text envelope; it cannot be combined with --format stream",
            )
            .into());
        }
        (FormatArg::Envelope, _) | (FormatArg::Auto, true) => Format::Envelope,
        (FormatArg::Stream, false) => Format::Stream,
        (FormatArg::Auto, false) if is_stdin(args.input.as_deref()) => Format::Envelope,
        (FormatArg::Auto, false) => Format::Stream,
    };
    let to_stdout = is_stdin(args.output.as_deref());
    if format == Format::Stream && to_stdout && ctx.out.json() {
        return Err(Failure::usage(
            "--json prints one JSON document on stdout, so a stream needs --out FILE",
        )
        .into());
    }
    let mut input = Input::open(args.input.as_deref())?;
    // --armor always writes one envelope, also for --in FILE, so a file too large for one is
    // refused before anything is read, rather than after.
    if args.armor
        && let Some(len) = input
            .len()
            .filter(|&len| usize::try_from(len).map_or(true, |len| len > MAX_PLAINTEXT_LEN))
    {
        return Err(Failure::usage(format!(
            "--armor writes one text envelope of at most {} MiB, and {} is {len} bytes; drop \
             --armor to encrypt it in the stream format, which has no size limit",
            MAX_PLAINTEXT_LEN >> 20,
            input.name()
        ))
        .into());
    }
    let output = Output::create(args.output.as_deref(), args.force)?;
    if !(args.armor || ctx.out.json() && format == Format::Envelope) {
        output.refuse_binary_on_terminal("pass --armor for text, or --out FILE")?;
    }
    let vault = ctx.open_vault()?;
    match format {
        Format::Envelope => encrypt_envelope(ctx, args, vault, &mut input, output),
        Format::Stream => encrypt_stream(ctx, args, vault, &mut input, output),
    }
}

fn encrypt_envelope(
    ctx: &Context<'_>,
    args: &EncryptArgs,
    vault: FileVault,
    input: &mut Input,
    mut output: Output,
) -> Result<()> {
    let plaintext = input.read_all(
        MAX_PLAINTEXT_LEN,
        if args.armor {
            "drop --armor and encrypt it with --in FILE or --format stream, which have no size \
             limit"
        } else {
            "encrypt it with --in FILE or --format stream, which have no size limit"
        },
    )?;
    log::info!(
        "encrypting {} from {} with the key {}",
        crate::hints::count_of(plaintext.len(), "byte", "bytes"),
        input.name(),
        args.key
    );
    let sealed = vault
        .encrypt(&args.key, &plaintext, aad(args.aad.as_ref()))
        .with_context(|| format!("cannot encrypt with the key {}", args.key))?;
    finish(vault)?;
    let version = Envelope::parse(&sealed)?.header().key_version.get();
    if ctx.out.json() && output.is_stdout() {
        return ctx.out.data(
            &json!({
                "key": args.key.as_str(),
                "version": version,
                "format": "envelope",
                "ciphertext": envelope::armour(&sealed)?,
            }),
            "",
        );
    }
    let written = if args.armor {
        let text = envelope::armour(&sealed)?;
        writeln!(output, "{text}").context("cannot write the ciphertext")?;
        text.len() + 1
    } else {
        output
            .write_all(&sealed)
            .context("cannot write the ciphertext")?;
        sealed.len()
    };
    summary(
        ctx,
        output,
        &args.key,
        version,
        Format::Envelope,
        plaintext.len() as u64,
        written as u64,
    )
}

fn encrypt_stream(
    ctx: &Context<'_>,
    args: &EncryptArgs,
    vault: FileVault,
    input: &mut Input,
    mut output: Output,
) -> Result<()> {
    // The stream uses the AEAD of the vault key; an HMAC key is refused by the data-key request.
    let algorithm = vault
        .key(&args.key)
        .with_context(|| format!("cannot encrypt with the key {}", args.key))?
        .algorithm()
        .aead()
        .unwrap_or(Algorithm::XChaCha20Poly1305);
    let mut header = StreamHeader::new(algorithm, DEFAULT_CHUNK_SIZE)?;
    let data_key = vault
        .generate_stream_key(&args.key, &header.wrap_aad(aad(args.aad.as_ref())))
        .with_context(|| format!("cannot encrypt with the key {}", args.key))?;
    let version = data_key.version.get();
    header.set_wrapped_key(data_key.wrapped)?;
    finish(vault)?;
    log::info!(
        "encrypting {} as a stream ({} KiB chunks) with the key {} version {version}",
        input.name(),
        header.chunk_size() / 1024,
        args.key
    );
    let mut progress = Progress::bytes(input.len(), "encrypting");
    const WRITING: &str = "cannot write the encrypted output";
    // The ciphertext is written on another thread while the next chunks are sealed.
    let plaintext_len = write_behind(&mut output, WRITING, |behind| {
        let mut writer =
            StreamWriter::new(&data_key.plaintext, &header, behind).context(WRITING)?;
        drop(data_key.plaintext);
        let plaintext_len = copy_stream(
            input.reader(),
            &mut writer,
            &mut progress,
            "cannot read the input",
            WRITING,
        )?;
        writer
            .finish()
            .map_err(|err| stream_failure(err, WRITING))?;
        Ok(plaintext_len)
    })?;
    progress.finish();
    let written = header.sealed_len(plaintext_len);
    summary(
        ctx,
        output,
        &args.key,
        version,
        Format::Stream,
        plaintext_len,
        written,
    )
}

/// Copy `input` to `output` (either may be a stream adapter), telling `progress` each block;
/// returns the bytes copied. `input` is read on a thread of its own, a few blocks ahead, so
/// reading (and, for a stream being decrypted, opening its chunks) goes on while `output`
/// writes (or seals) what came before. A stream's failure (a chunk that does not
/// authenticate, a truncated stream) keeps its typed error; other I/O errors say which side
/// failed.
fn copy_stream(
    input: &mut (impl Read + Send),
    output: &mut impl Write,
    progress: &mut Progress,
    reading: &str,
    writing: &str,
) -> Result<u64> {
    std::thread::scope(|scope| {
        let (filled, received) = std::sync::mpsc::sync_channel(READ_AHEAD_BLOCKS);
        let (returned, empty) = std::sync::mpsc::sync_channel(READ_AHEAD_BLOCKS + 1);
        for _ in 0..=READ_AHEAD_BLOCKS {
            // Cannot fail: the channel has room for every block and its receiver is here.
            let _ = returned.send(Zeroizing::new(Vec::with_capacity(COPY_BLOCK)));
        }
        scope.spawn(move || {
            // Ends when the input does, on an error, or when the copy stops taking blocks.
            for mut block in empty {
                match read_block(input, &mut block) {
                    Ok(0) => break,
                    Ok(_) => {
                        if filled.send(Ok(block)).is_err() {
                            break;
                        }
                    }
                    Err(err) => {
                        let _ = filled.send(Err(err));
                        break;
                    }
                }
            }
        });
        let mut total: u64 = 0;
        for block in received {
            let block: Zeroizing<Vec<u8>> = block.map_err(|err| stream_failure(err, reading))?;
            output
                .write_all(&block)
                .map_err(|err| stream_failure(err, writing))?;
            let n = block.len() as u64;
            total = total.saturating_add(n);
            progress.advance(n);
            // The reader may have stopped already; the block is then simply dropped (wiped).
            let _ = returned.send(block);
        }
        output.flush().map_err(|err| stream_failure(err, writing))?;
        Ok(total)
    })
}

/// Fill `block` with the next bytes of `input` (up to [`COPY_BLOCK`]); 0 at the end.
fn read_block(input: &mut impl Read, block: &mut Zeroizing<Vec<u8>>) -> std::io::Result<usize> {
    block.resize(COPY_BLOCK, 0);
    loop {
        match input.read(block) {
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(n) => {
                block.truncate(n);
                return Ok(n);
            }
            Err(err) => {
                block.clear();
                return Err(err);
            }
        }
    }
}

/// An I/O error from copying a stream: the stream's own failure as its typed error (exit code
/// 3 for damage), anything else as the I/O error it is, said with `what`.
fn stream_failure(err: std::io::Error, what: &str) -> anyhow::Error {
    match StoreError::from_stream_io(err) {
        StoreError::StreamIo(io) => anyhow::Error::new(io).context(what.to_owned()),
        failure => failure.into(),
    }
}

/// Finish the output and report what was written (a report only when the data went to a file).
fn summary(
    ctx: &Context<'_>,
    output: Output,
    key: &KeyName,
    version: u32,
    format: Format,
    plaintext: u64,
    written: u64,
) -> Result<()> {
    let path = output.path().map(std::path::Path::to_path_buf);
    output.finish()?;
    let Some(path) = path else {
        return Ok(());
    };
    ctx.out.done(
        &json!({
            "key": key.as_str(),
            "version": version,
            "format": format.name(),
            "out": path,
            "plaintext_bytes": plaintext,
            "ciphertext_bytes": written,
        }),
        &format!(
            "encrypted {} with the key {key} version {version} into {} ({} format)",
            crate::hints::count(plaintext, "byte", "bytes"),
            path.display(),
            format.name()
        ),
    )
}

/// The rest of a stream after its first bytes were read to tell what the input is.
type ChunkReader<'a> = Chain<Cursor<Vec<u8>>, &'a mut BufReader<Box<dyn Read + Send>>>;

/// A ciphertext as read from the input: an envelope in memory, or a stream being read.
enum Ciphertext<'a> {
    /// A whole envelope.
    Envelope {
        /// Its bytes.
        bytes: Vec<u8>,
        /// Whether it came as `kv1:` text.
        armoured: bool,
    },
    /// A stream: its header, and a reader at the first chunk.
    Stream {
        /// The header.
        header: StreamHeader,
        /// The chunks.
        reader: ChunkReader<'a>,
    },
}

fn not_a_ciphertext(why: &str) -> anyhow::Error {
    Failure::new(
        Code::Authentication,
        format!(
            "the input is not a keyvault ciphertext ({why}): expected an envelope, its kv1: \
             text form, or an encrypted stream"
        ),
    )
    .into()
}

/// Read the input far enough to know what it is.
fn read_ciphertext(input: &mut Input) -> Result<Ciphertext<'_>> {
    let name = input.name().to_owned();
    let mut start = Vec::with_capacity(4);
    input
        .reader()
        .take(4)
        .read_to_end(&mut start)
        .with_context(|| format!("cannot read {name}"))?;
    if stream::is_stream(&start) {
        let mut reader = Cursor::new(start).chain(input.reader());
        let header = StreamHeader::read_from(&mut reader)?;
        return Ok(Ciphertext::Stream { header, reader });
    }
    let mut bytes = start;
    let cap = u64::try_from(MAX_ARMOURED_LEN).unwrap_or(u64::MAX);
    input
        .reader()
        .take(cap)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {name}"))?;
    if bytes.len() > MAX_ARMOURED_LEN {
        return Err(not_a_ciphertext("it is larger than any envelope"));
    }
    if bytes.starts_with(&envelope::MAGIC) {
        return Ok(Ciphertext::Envelope {
            bytes,
            armoured: false,
        });
    }
    let text = bytes.trim_ascii();
    if text.starts_with(envelope::ARMOUR_PREFIX.as_bytes()) {
        let text = std::str::from_utf8(text).map_err(|_| not_a_ciphertext("not text"))?;
        return Ok(Ciphertext::Envelope {
            bytes: envelope::dearmour(text)?,
            armoured: true,
        });
    }
    if bytes.is_empty() {
        return Err(not_a_ciphertext("it is empty"));
    }
    Err(not_a_ciphertext("unknown header"))
}

/// The name of the key with `id`, if the vault still knows it.
fn key_name_of(vault: &FileVault, envelope: &[u8]) -> (Option<String>, Option<u32>) {
    let Ok(parsed) = Envelope::parse(envelope) else {
        return (None, None);
    };
    let header = parsed.header();
    let name = vault
        .key_by_key_id(header.key_id)
        .ok()
        .map(|key| key.name().as_str().to_owned());
    (name, Some(header.key_version.get()))
}

/// "cannot decrypt with the key orders" when the name is known, else just `what`.
fn with_key_name(what: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{what} with the key {name}"),
        None => what.to_owned(),
    }
}

/// A ciphertext that did not open, said so a user can act: its key is not in this vault, or
/// the possible causes of an authentication failure.
fn opening_failed(ctx: &Context<'_>, err: anyhow::Error, what: &str) -> anyhow::Error {
    let err = crate::hints::explain_authentication(err, crate::hints::DECRYPT_CAUSES);
    match ctx.vault_path() {
        Ok(path) => crate::hints::ciphertext_key_missing(err, what, &path),
        Err(_) => err,
    }
}

/// Unwrap a stream's data key.
fn stream_key(vault: &FileVault, header: &StreamHeader, caller_aad: &[u8]) -> Result<SecretKey> {
    // Checked and audited as `unwrap`, the counterpart of the `generate_data_key` that made it.
    vault
        .unwrap_stream_key(header.wrapped_key(), &header.wrap_aad(caller_aad))
        .context("cannot unwrap the stream's data key")
}

/// `keyvault decrypt`.
pub(crate) fn decrypt(ctx: &Context<'_>, args: &DecryptArgs) -> Result<()> {
    let mut input = Input::open(args.input.as_deref())?;
    let total = input.len();
    let input_name = input.name().to_owned();
    let ciphertext = read_ciphertext(&mut input)?;
    let to_stdout = is_stdin(args.output.as_deref());
    let caller_aad = aad(args.aad.as_ref());
    // Plaintext is bytes, not text: on a terminal it could be escape sequences. A stream goes
    // out chunk by chunk, so it never goes to a terminal; an envelope's plaintext does only if
    // it is plain text (checked below), and with --json it comes inside the document, escaped.
    let on_terminal = to_stdout && !ctx.out.json() && std::io::stdout().is_terminal();
    if on_terminal && matches!(ciphertext, Ciphertext::Stream { .. }) {
        return Err(binary_on_terminal().into());
    }
    match ciphertext {
        Ciphertext::Stream { header, reader } => {
            if to_stdout && ctx.out.json() {
                return Err(Failure::usage(
                    "--json prints one JSON document on stdout, so a stream needs --out FILE",
                )
                .into());
            }
            let vault = ctx.open_vault()?;
            let (key_name, version) = key_name_of(&vault, header.wrapped_key());
            let key = stream_key(&vault, &header, caller_aad)
                .map_err(|err| opening_failed(ctx, err, "cannot decrypt the stream"))?;
            finish(vault)?;
            let mut output = Output::create(args.output.as_deref(), args.force)?;
            log::info!("decrypting the stream {input_name} into {}", output.name());
            let mut progress = Progress::bytes(total, "decrypting");
            let mut plaintext = StreamReader::new(&key, &header, reader)?;
            drop(key);
            let plaintext_len = copy_stream(
                &mut plaintext,
                &mut output,
                &mut progress,
                "cannot read the encrypted input",
                "cannot write the decrypted output",
            )?;
            progress.finish();
            let path = output.path().map(std::path::Path::to_path_buf);
            // Only now, with every chunk authenticated, does the file appear at its name.
            output.finish()?;
            match path {
                Some(path) => ctx.out.done(
                    &json!({
                        "format": "stream",
                        "key": key_name,
                        "version": version,
                        "out": path,
                        "plaintext_bytes": plaintext_len,
                    }),
                    &format!(
                        "decrypted {} into {}",
                        crate::hints::count(plaintext_len, "byte", "bytes"),
                        path.display()
                    ),
                ),
                None => Ok(()),
            }
        }
        Ciphertext::Envelope { bytes, .. } => {
            let vault = ctx.open_vault()?;
            let (key_name, version) = key_name_of(&vault, &bytes);
            let with_key = with_key_name("cannot decrypt", key_name.as_deref());
            let plaintext = if Envelope::parse(&bytes)
                .is_ok_and(|envelope| envelope.header().purpose == Purpose::DataKey)
            {
                // A wrapped data key (from `datakey`) opens only as one: checked and audited
                // as `unwrap`, never as `decrypt`.
                let data_key = vault
                    .unwrap_data_key(&bytes, caller_aad)
                    .context(with_key_name(
                        "cannot unwrap the data key",
                        key_name.as_deref(),
                    ))
                    .map_err(|err| opening_failed(ctx, err, "cannot unwrap the data key"))?;
                SecretBytes::new(data_key.expose_secret().to_vec())
            } else {
                vault
                    .decrypt(&bytes, caller_aad)
                    .context(with_key)
                    .map_err(|err| opening_failed(ctx, err, "cannot decrypt"))?
            };
            finish(vault)?;
            if to_stdout && ctx.out.json() {
                return ctx.out.data(
                    &json!({
                        "format": "envelope",
                        "key": key_name,
                        "version": version,
                        "plaintext": std::str::from_utf8(&plaintext).ok(),
                        "plaintext_base64": Zeroizing::new(Base64::encode_string(&plaintext)).as_str(),
                    }),
                    "",
                );
            }
            if on_terminal && !is_terminal_safe(&plaintext) {
                return Err(binary_on_terminal().into());
            }
            let mut output = Output::create(args.output.as_deref(), args.force)?;
            output
                .write_all(&plaintext)
                .context("cannot write the plaintext")?;
            let path = output.path().map(std::path::Path::to_path_buf);
            output.finish()?;
            match path {
                Some(path) => ctx.out.done(
                    &json!({
                        "format": "envelope",
                        "key": key_name,
                        "version": version,
                        "out": path,
                        "plaintext_bytes": plaintext.len(),
                    }),
                    &format!(
                        "decrypted {} into {}",
                        crate::hints::count_of(plaintext.len(), "byte", "bytes"),
                        path.display()
                    ),
                ),
                None => Ok(()),
            }
        }
    }
}

/// Exit code 2 for plaintext that would go raw to a terminal.
fn binary_on_terminal() -> Failure {
    Failure::usage(
        "refusing to write binary plaintext to the terminal; pass --out FILE, pipe it to a \
         program, or use --json",
    )
}

/// `keyvault rewrap`.
pub(crate) fn rewrap(ctx: &Context<'_>, args: &RewrapArgs) -> Result<()> {
    let mut input = Input::open(args.input.as_deref())?;
    let total = input.len();
    let ciphertext = read_ciphertext(&mut input)?;
    let to_stdout = is_stdin(args.output.as_deref());
    let caller_aad = aad(args.aad.as_ref());
    match ciphertext {
        Ciphertext::Stream {
            mut header,
            mut reader,
        } => {
            if args.armor {
                return Err(Failure::usage("--armor applies to envelopes, not streams").into());
            }
            if to_stdout && ctx.out.json() {
                return Err(Failure::usage(
                    "--json prints one JSON document on stdout, so a stream needs --out FILE",
                )
                .into());
            }
            let mut output = Output::create(args.output.as_deref(), args.force)?;
            output.refuse_binary_on_terminal("pass --out FILE")?;
            let vault = ctx.open_vault()?;
            let (key_name, from) = key_name_of(&vault, header.wrapped_key());
            let rewrapped = vault
                .rewrap(header.wrapped_key(), &header.wrap_aad(caller_aad))
                .context(with_key_name(
                    "cannot rewrap the stream's data key",
                    key_name.as_deref(),
                ))
                .map_err(|err| opening_failed(ctx, err, "cannot rewrap the stream"))?;
            finish(vault)?;
            let to = Envelope::parse(&rewrapped)?.header().key_version.get();
            header.set_wrapped_key(rewrapped)?;
            output
                .write_all(&header.to_bytes())
                .context("cannot write the stream header")?;
            let mut progress = Progress::bytes(total, "copying");
            copy_stream(
                &mut reader,
                &mut output,
                &mut progress,
                "cannot read the encrypted input",
                "cannot write the output",
            )?;
            progress.finish();
            let path = output.path().map(std::path::Path::to_path_buf);
            output.finish()?;
            rewrap_report(ctx, path, key_name, from, to, Format::Stream)
        }
        Ciphertext::Envelope { bytes, armoured } => {
            let armour = armoured || args.armor;
            let mut output = Output::create(args.output.as_deref(), args.force)?;
            if !armour && !ctx.out.json() {
                output.refuse_binary_on_terminal("pass --armor for text, or --out FILE")?;
            }
            let vault = ctx.open_vault()?;
            let (key_name, from) = key_name_of(&vault, &bytes);
            let rewrapped = vault
                .rewrap(&bytes, caller_aad)
                .context(with_key_name("cannot rewrap", key_name.as_deref()))
                .map_err(|err| opening_failed(ctx, err, "cannot rewrap"))?;
            finish(vault)?;
            let to = Envelope::parse(&rewrapped)?.header().key_version.get();
            if to_stdout && ctx.out.json() {
                return ctx.out.data(
                    &json!({
                        "format": "envelope",
                        "key": key_name,
                        "from_version": from,
                        "to_version": to,
                        "ciphertext": envelope::armour(&rewrapped)?,
                    }),
                    "",
                );
            }
            if armour {
                writeln!(output, "{}", envelope::armour(&rewrapped)?)
            } else {
                output.write_all(&rewrapped)
            }
            .context("cannot write the ciphertext")?;
            let path = output.path().map(std::path::Path::to_path_buf);
            output.finish()?;
            rewrap_report(ctx, path, key_name, from, to, Format::Envelope)
        }
    }
}

fn rewrap_report(
    ctx: &Context<'_>,
    path: Option<std::path::PathBuf>,
    key: Option<String>,
    from: Option<u32>,
    to: u32,
    format: Format,
) -> Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    ctx.out.done(
        &json!({
            "format": format.name(),
            "key": key,
            "from_version": from,
            "to_version": to,
            "out": path,
        }),
        &format!(
            "rewrapped {} under version {to} into {}",
            format.name(),
            path.display()
        ),
    )
}

/// `keyvault datakey`.
pub(crate) fn datakey(ctx: &Context<'_>, args: &DatakeyArgs) -> Result<()> {
    let vault = ctx.open_vault()?;
    let data_key = vault
        .generate_data_key(&args.key, aad(args.aad.as_ref()))
        .with_context(|| format!("cannot generate a data key with the key {}", args.key))?;
    finish(vault)?;
    let wrapped = envelope::armour(&data_key.wrapped)?;
    let plaintext = Zeroizing::new(Base64::encode_string(data_key.plaintext.expose_secret()));
    let mut value = json!({
        "key": args.key.as_str(),
        "version": data_key.version.get(),
        "wrapped": wrapped,
    });
    let text = if args.wrapped_only {
        format!("{wrapped}\n")
    } else {
        if let Value::Object(map) = &mut value {
            map.insert(
                "plaintext_base64".to_owned(),
                Value::String(plaintext.as_str().to_owned()),
            );
        }
        format!("wrapped    {wrapped}\nplaintext  {}\n", plaintext.as_str())
    };
    ctx.out.data(&value, &text)
}

/// `keyvault mac`.
pub(crate) fn mac(ctx: &Context<'_>, args: &MacArgs) -> Result<()> {
    let mut input = Input::open(args.input.as_deref())?;
    let data = input.read_all(MAX_MAC_INPUT, "MAC a digest of it instead")?;
    let vault = ctx.open_vault()?;
    let signature = vault
        .sign(&args.key, &data)
        .with_context(|| format!("cannot compute a MAC with the key {}", args.key))?;
    finish(vault)?;
    ctx.out.data(
        &json!({
            "key": args.key.as_str(),
            "version": signature.version.get(),
            "tag": signature.to_string(),
        }),
        &signature.to_string(),
    )
}

/// `keyvault verify`.
pub(crate) fn verify(ctx: &Context<'_>, args: &VerifyArgs) -> Result<()> {
    let signature: Signature = args
        .tag
        .parse()
        .map_err(|err| Failure::usage(format!("--tag is not a MAC tag: {err}")))?;
    let mut input = Input::open(args.input.as_deref())?;
    let data = input.read_all(MAX_MAC_INPUT, "MAC a digest of it instead")?;
    let vault = ctx.open_vault()?;
    vault
        .verify(&args.key, &data, &signature)
        .with_context(|| {
            format!(
                "the tag does not verify with the key {} version {}",
                args.key,
                signature.version.get()
            )
        })?;
    finish(vault)?;
    ctx.out.data(
        &json!({
            "key": args.key.as_str(),
            "version": signature.version.get(),
            "valid": true,
        }),
        "valid",
    )
}

/// `keyvault derive`.
pub(crate) fn derive(ctx: &Context<'_>, args: &DeriveArgs) -> Result<()> {
    let vault = ctx.open_vault()?;
    let (version, material) = vault
        .derive(&args.key, args.context.as_bytes(), usize::from(args.length))
        .with_context(|| format!("cannot derive with the key {}", args.key))?;
    finish(vault)?;
    let hex = Zeroizing::new(hex::encode(&material[..]));
    ctx.out.data(
        &json!({
            "key": args.key.as_str(),
            "version": version.get(),
            "context": args.context,
            "length": args.length,
            "hex": hex.as_str(),
        }),
        hex.as_str(),
    )
}
