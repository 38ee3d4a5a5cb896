//! Encrypted file stream v1: data of any size sealed in bounded memory (docs/FORMATS.md,
//! "Encrypted file stream v1").
//!
//! A fresh random data key per file, wrapped by a vault key ([`crate::Vault::generate_stream_key`]),
//! seals the data in chunks (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár):
//! chunk `i` is sealed under the nonce `prefix || i (u32 big-endian) || last`, where `prefix`
//! is random per file and `last` is 1 for the final chunk only. So a chunk moved, dropped,
//! repeated or appended, and a file cut at a chunk boundary, all fail to authenticate; and every
//! chunk is authenticated before any of its plaintext is released.
//!
//! ```text
//! offset   size  field
//!      0      3  magic "KVS" (4B 56 53)
//!      3      1  format version = 1
//!      4      1  algorithm id (1 XChaCha20-Poly1305, 2 ChaCha20-Poly1305, 3 AES-256-GCM)
//!      5      4  chunk size C: plaintext bytes per chunk, u32 big-endian, 1 KiB ..= 16 MiB
//!      9      P  nonce prefix (P = nonce length - 5: 19 for XChaCha20-Poly1305, 7 otherwise)
//!    9+P      2  wrapped key length W, u16 big-endian, 1 ..= 1024
//!   11+P      W  the data key in a v1 ciphertext envelope under the vault key
//!  11+P+W        chunks: C bytes of ciphertext + 16-byte tag each; the final chunk carries
//!                0 ..= C bytes of ciphertext (0 only for an empty file) + its tag
//! ```
//!
//! The first `9 + P` bytes are the *fixed header*. Every chunk's associated data is the fixed
//! header; the wrapped key's associated data is `"keyvault-stream-v1\0" || fixed header ||
//! caller AAD` ([`StreamHeader::wrap_aad`]). Re-wrapping the data key under a newer vault key
//! version ([`crate::Vault::rewrap`]) therefore replaces the wrapped key without touching the
//! chunks.
//!
//! Writing: [`StreamHeader::new`], [`crate::Vault::generate_stream_key`] with
//! [`StreamHeader::wrap_aad`], [`StreamHeader::set_wrapped_key`], then a [`StreamWriter`] and its
//! [`StreamWriter::finish`]. Reading: [`StreamHeader::read_from`] (which names the wrapping key
//! through [`StreamHeader::wrapped_key`] before anything is decrypted),
//! [`crate::Vault::unwrap_stream_key`], then a [`StreamReader`]. Both adapters report stream
//! failures as [`std::io::Error`]s carrying a [`StoreError`]; [`StoreError::from_stream_io`]
//! takes it back out.

use std::fmt;
use std::io::{self, Read, Write};

use keyvault_crypto::{
    AeadKey, Algorithm, SecretBytes, SecretKey, TAG_LEN, Tag, Zeroizing, hazmat,
};

use crate::error::{Result, StoreError};

/// The first three bytes of a stream file.
pub const MAGIC: [u8; 3] = *b"KVS";
/// The format version written and read.
pub const FORMAT_VERSION: u8 = 1;
/// The chunk size to write: 64 KiB of plaintext per chunk.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// The smallest chunk size accepted.
pub const MIN_CHUNK_SIZE: u32 = 1024;
/// The largest chunk size accepted (bounds the memory a hostile file can make the reader use).
pub const MAX_CHUNK_SIZE: u32 = 16 << 20;
/// The largest wrapped key accepted.
pub const MAX_WRAPPED_LEN: usize = 1024;
/// Bytes of the nonce after the prefix: the 4-byte counter and the 1-byte last-chunk flag.
const NONCE_SUFFIX_LEN: usize = 5;
/// Plaintext a writer seals in one batch (see `chunks_per_batch`).
const BATCH_BYTES: usize = 4 << 20;
/// Most chunks in one batch.
const MAX_BATCH_CHUNKS: usize = 64;
/// Bytes of the fixed header before the nonce prefix.
const FIXED_LEN: usize = 9;
/// Domain separation of the wrapped key's associated data.
const WRAP_DOMAIN: &[u8] = b"keyvault-stream-v1\0";

/// Whether `start` (the first bytes of some input) begins a stream file.
#[must_use]
pub fn is_stream(start: &[u8]) -> bool {
    start.starts_with(&MAGIC)
}

/// A stream file's header. Nothing in it is secret: the data key is sealed in the wrapped key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamHeader {
    algorithm: Algorithm,
    chunk_size: u32,
    prefix: Vec<u8>,
    wrapped_key: Vec<u8>,
}

impl StreamHeader {
    /// A header for a new file: a random nonce prefix, and no wrapped key yet.
    ///
    /// # Errors
    /// [`StoreError::StreamParameter`] for a chunk size outside
    /// [`MIN_CHUNK_SIZE`]`..=`[`MAX_CHUNK_SIZE`]; a crypto error if there is no randomness.
    pub fn new(algorithm: Algorithm, chunk_size: u32) -> Result<Self> {
        if !chunk_size_in_bounds(chunk_size) {
            return Err(StoreError::StreamParameter {
                reason: format!(
                    "a chunk size must be within {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE} bytes"
                ),
            });
        }
        let mut prefix = vec![0u8; prefix_len(algorithm)];
        keyvault_crypto::random::fill(&mut prefix)?;
        Ok(StreamHeader {
            algorithm,
            chunk_size,
            prefix,
            wrapped_key: Vec::new(),
        })
    }

    /// The chunks' algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Plaintext bytes per chunk.
    #[must_use]
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The wrapped data key (a ciphertext envelope, which names its key id and version).
    #[must_use]
    pub fn wrapped_key(&self) -> &[u8] {
        &self.wrapped_key
    }

    /// Set the wrapped data key.
    ///
    /// # Errors
    /// [`StoreError::StreamParameter`] for an empty envelope or one over [`MAX_WRAPPED_LEN`].
    pub fn set_wrapped_key(&mut self, wrapped: Vec<u8>) -> Result<()> {
        if wrapped.is_empty() || wrapped.len() > MAX_WRAPPED_LEN {
            return Err(StoreError::StreamParameter {
                reason: format!(
                    "a wrapped stream key of {} bytes does not fit the stream header",
                    wrapped.len()
                ),
            });
        }
        self.wrapped_key = wrapped;
        Ok(())
    }

    /// The associated data the wrapped key is sealed with, for
    /// [`crate::Vault::generate_stream_key`], [`crate::Vault::unwrap_stream_key`] and
    /// [`crate::Vault::rewrap`].
    #[must_use]
    pub fn wrap_aad(&self, caller_aad: &[u8]) -> Vec<u8> {
        let mut out = WRAP_DOMAIN.to_vec();
        out.extend_from_slice(&self.fixed_bytes());
        out.extend_from_slice(caller_aad);
        out
    }

    /// The whole header as written.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.fixed_bytes();
        let len = u16::try_from(self.wrapped_key.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.wrapped_key);
        out
    }

    /// The length of a stream file with this header carrying `plaintext_len` bytes.
    #[must_use]
    pub fn sealed_len(&self, plaintext_len: u64) -> u64 {
        let chunks = plaintext_len.div_ceil(u64::from(self.chunk_size)).max(1);
        let header = u64::try_from(self.to_bytes().len()).unwrap_or(u64::MAX);
        header
            .saturating_add(plaintext_len)
            .saturating_add(chunks.saturating_mul(TAG_LEN as u64))
    }

    /// Read and check a header, bounding every length before reading it. On success `input` is
    /// at the first chunk.
    ///
    /// # Errors
    /// [`StoreError::NotAStream`] for anything that is not a v1 stream header;
    /// [`StoreError::StreamTruncated`] if the input ends inside it; [`StoreError::StreamIo`].
    pub fn read_from(input: &mut impl Read) -> Result<Self> {
        let mut fixed = [0u8; FIXED_LEN];
        read_exact_or_truncated(input, &mut fixed)?;
        let [m0, m1, m2, version, algorithm, c0, c1, c2, c3] = fixed;
        if [m0, m1, m2] != MAGIC {
            return Err(not_a_stream(
                "it does not start with a stream header".into(),
            ));
        }
        if version != FORMAT_VERSION {
            return Err(not_a_stream(format!(
                "its stream format version {version} is not supported (this build reads version {FORMAT_VERSION})"
            )));
        }
        let algorithm = Algorithm::from_id(algorithm)
            .map_err(|_| not_a_stream(format!("its algorithm id {algorithm} is unknown")))?;
        let chunk_size = u32::from_be_bytes([c0, c1, c2, c3]);
        if !chunk_size_in_bounds(chunk_size) {
            return Err(not_a_stream(format!(
                "its chunk size {chunk_size} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}"
            )));
        }
        let mut prefix = vec![0u8; prefix_len(algorithm)];
        read_exact_or_truncated(input, &mut prefix)?;
        let mut len = [0u8; 2];
        read_exact_or_truncated(input, &mut len)?;
        let len = usize::from(u16::from_be_bytes(len));
        if len == 0 || len > MAX_WRAPPED_LEN {
            return Err(not_a_stream(format!(
                "its wrapped key length {len} is outside 1..={MAX_WRAPPED_LEN}"
            )));
        }
        let mut wrapped_key = vec![0u8; len];
        read_exact_or_truncated(input, &mut wrapped_key)?;
        Ok(StreamHeader {
            algorithm,
            chunk_size,
            prefix,
            wrapped_key,
        })
    }

    /// The fixed header: everything before the wrapped key's length.
    fn fixed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + self.prefix.len());
        out.extend_from_slice(&MAGIC);
        out.push(FORMAT_VERSION);
        out.push(self.algorithm.id());
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&self.prefix);
        out
    }

    fn chunk_len(&self) -> usize {
        usize::try_from(self.chunk_size).unwrap_or(usize::MAX)
    }
}

fn prefix_len(algorithm: Algorithm) -> usize {
    algorithm.nonce_len().saturating_sub(NONCE_SUFFIX_LEN)
}

fn chunk_size_in_bounds(chunk_size: u32) -> bool {
    (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size)
}

fn not_a_stream(reason: String) -> StoreError {
    StoreError::NotAStream { reason }
}

fn too_many_chunks() -> StoreError {
    StoreError::StreamParameter {
        reason: "a stream cannot number more than 2^32 chunks".into(),
    }
}

fn read_exact_or_truncated(input: &mut impl Read, buf: &mut [u8]) -> Result<()> {
    let n = read_full(input, buf).map_err(StoreError::StreamIo)?;
    if n < buf.len() {
        return Err(StoreError::StreamTruncated);
    }
    Ok(())
}

/// Fill `buf` from `input` until it is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// A stream failure as the `io::Error` the `Read` and `Write` adapters must return.
fn into_io(err: StoreError) -> io::Error {
    let kind = match err {
        StoreError::StreamChunk { .. }
        | StoreError::StreamTruncated
        | StoreError::NotAStream { .. } => io::ErrorKind::InvalidData,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, err)
}

impl StoreError {
    /// The typed error behind an `io::Error` from a [`StreamReader`] or [`StreamWriter`]: the
    /// stream failure it carries, or [`StoreError::StreamIo`] for an error of the underlying
    /// reader or writer.
    #[must_use]
    pub fn from_stream_io(err: io::Error) -> StoreError {
        if !err.get_ref().is_some_and(|inner| inner.is::<StoreError>()) {
            return StoreError::StreamIo(err);
        }
        match err.into_inner().map(|inner| inner.downcast::<StoreError>()) {
            Some(Ok(store)) => *store,
            Some(Err(other)) => StoreError::StreamIo(io::Error::other(other)),
            None => StoreError::StreamIo(io::Error::other("stream error")),
        }
    }
}

/// The chunk cipher: the data key, the chunks' associated data and the nonce prefix.
struct Chunks {
    key: AeadKey,
    aad: Vec<u8>,
    prefix: Vec<u8>,
}

impl Chunks {
    fn new(key: &SecretKey, header: &StreamHeader) -> Result<Self> {
        Ok(Chunks {
            key: AeadKey::new(header.algorithm, key)?,
            aad: header.fixed_bytes(),
            prefix: header.prefix.clone(),
        })
    }

    fn nonce(&self, index: u32, last: bool) -> Vec<u8> {
        let mut nonce = Vec::with_capacity(self.prefix.len() + NONCE_SUFFIX_LEN);
        nonce.extend_from_slice(&self.prefix);
        nonce.extend_from_slice(&index.to_be_bytes());
        nonce.push(u8::from(last));
        nonce
    }

    fn seal(&self, index: u32, last: bool, body: &mut [u8]) -> Result<Tag> {
        Ok(hazmat::seal_in_place_detached(
            &self.key,
            &self.nonce(index, last),
            &self.aad,
            body,
        )?)
    }

    fn open(&self, index: u32, last: bool, body: &mut [u8], tag: &[u8]) -> Result<()> {
        // Which check failed stays opaque: only the chunk's position is reported.
        hazmat::open_in_place_detached(&self.key, &self.nonce(index, last), &self.aad, body, tag)
            .map_err(|_| StoreError::StreamChunk { index })
    }
}

/// Encrypts plaintext written to it into a stream: the header first (in [`StreamWriter::new`]),
/// then each chunk once it is full and more plaintext follows, and the final chunk in
/// [`StreamWriter::finish`].
///
/// A writer dropped without `finish` leaves a stream without its final chunk, which every
/// reader refuses as truncated. After an error the writer refuses further use.
pub struct StreamWriter<W: Write> {
    inner: W,
    chunks: Chunks,
    chunk_len: usize,
    /// The plaintext of the chunks being filled: up to `batch` chunks, sealed together on
    /// several threads.
    buf: Zeroizing<Vec<u8>>,
    batch: usize,
    /// The index of the first chunk in `buf`.
    index: u32,
    failed: bool,
}

impl<W: Write> fmt::Debug for StreamWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("chunk_size", &self.chunk_len)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl<W: Write> StreamWriter<W> {
    /// Write `header` to `inner` and get ready to seal plaintext under the data `key` (the one
    /// whose wrapped form is in the header).
    ///
    /// # Errors
    /// [`StoreError::StreamParameter`] for a header without its wrapped key;
    /// [`StoreError::StreamIo`] if the header cannot be written.
    pub fn new(key: &SecretKey, header: &StreamHeader, mut inner: W) -> Result<Self> {
        if header.wrapped_key.is_empty() {
            return Err(StoreError::StreamParameter {
                reason: "the stream header has no wrapped key".into(),
            });
        }
        let chunks = Chunks::new(key, header)?;
        inner
            .write_all(&header.to_bytes())
            .map_err(StoreError::StreamIo)?;
        let chunk_len = header.chunk_len();
        let batch = chunks_per_batch(chunk_len);
        Ok(StreamWriter {
            inner,
            chunks,
            chunk_len,
            buf: Zeroizing::new(Vec::with_capacity(chunk_len.saturating_mul(batch))),
            batch,
            index: 0,
            failed: false,
        })
    }

    /// Seal the final chunk (possibly empty), flush, and return the inner writer.
    ///
    /// # Errors
    /// The inner writer's errors; the error of an earlier failed write.
    pub fn finish(mut self) -> io::Result<W> {
        self.check_usable()?;
        self.seal_buffered(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }

    fn check_usable(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(
                "the encrypted stream was left incomplete by an earlier error",
            ));
        }
        Ok(())
    }

    /// Seal and write the buffered chunks; the last of them is the stream's final chunk if
    /// `last` (then there is always one, possibly empty).
    fn seal_buffered(&mut self, last: bool) -> io::Result<()> {
        // Until the chunks are written the stream is incomplete; a failure below leaves it so.
        self.failed = true;
        let pieces = self.buf.len().div_ceil(self.chunk_len).max(1);
        let count = u32::try_from(pieces).map_err(|_| into_io(too_many_chunks()))?;
        // Every chunk but the final one needs a successor with a number.
        let end = self
            .index
            .checked_add(count - u32::from(last))
            .ok_or_else(|| into_io(too_many_chunks()))?;
        let tags = seal_chunks(
            &self.chunks,
            self.index,
            last,
            self.chunk_len,
            self.buf.as_mut_slice(),
        )
        .map_err(into_io)?;
        let sealed = self.buf.chunks(self.chunk_len).chain(
            // An empty final chunk has no plaintext piece.
            self.buf.is_empty().then_some(&[][..]),
        );
        for (body, tag) in sealed.zip(&tags) {
            self.inner.write_all(body)?;
            self.inner.write_all(tag)?;
        }
        self.buf.clear();
        self.index = end;
        self.failed = false;
        Ok(())
    }
}

/// How many chunks a writer seals at once: enough for every core to have a few, within about
/// 4 MiB of plaintext.
fn chunks_per_batch(chunk_len: usize) -> usize {
    (BATCH_BYTES / chunk_len.max(1)).clamp(1, MAX_BATCH_CHUNKS)
}

/// Seal the chunks of `body` (pieces of `chunk_len`, the first numbered `first`; the last one
/// final if `last`), spread over the available cores. Returns their tags in order.
fn seal_chunks(
    chunks: &Chunks,
    first: u32,
    last: bool,
    chunk_len: usize,
    body: &mut [u8],
) -> Result<Vec<Tag>> {
    let pieces: Vec<&mut [u8]> = if body.is_empty() {
        vec![body]
    } else {
        body.chunks_mut(chunk_len).collect()
    };
    let count = pieces.len();
    in_parallel(pieces, |position, piece| {
        let index = first.saturating_add(u32::try_from(position).unwrap_or(u32::MAX));
        chunks.seal(index, last && position + 1 == count, piece)
    })
    .into_iter()
    .collect()
}

/// How many threads seal or open a batch of chunks: one per core, at most four.
fn worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

impl<W: Write> Write for StreamWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_usable()?;
        if data.is_empty() {
            return Ok(0);
        }
        let capacity = self.chunk_len.saturating_mul(self.batch);
        if self.buf.len() >= capacity {
            // More plaintext follows, so none of the full chunks is the final one.
            self.seal_buffered(false)?;
        }
        let room = capacity.saturating_sub(self.buf.len());
        let taken = data.get(..room.min(data.len())).unwrap_or_default();
        self.buf.extend_from_slice(taken);
        Ok(taken.len())
    }

    /// Flushes the inner writer. The chunk being filled is not sealed until it is full and more
    /// plaintext follows, or until [`StreamWriter::finish`].
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts a stream's chunks from a reader positioned after its header
/// ([`StreamHeader::read_from`]).
///
/// Each chunk's plaintext is released only once the chunk has authenticated. A chunk is final
/// exactly when the input ends right after it; so a stream cut short, reordered, extended or
/// changed ends in an error (an `io::Error` of kind `InvalidData` carrying
/// [`StoreError::StreamChunk`] or [`StoreError::StreamTruncated`]) instead of the end of input,
/// after the plaintext of the chunks before it. After an error the reader returns only errors.
pub struct StreamReader<R: Read> {
    inner: R,
    chunks: Chunks,
    sealed_len: usize,
    /// Up to a batch of sealed chunks (ciphertext and tag each), opened together on several
    /// threads; after opening, their plaintext sits where their ciphertext was.
    buf: SecretBytes,
    /// A byte read past a full batch to learn that the input goes on.
    lookahead: Option<u8>,
    /// Authenticated plaintext not yet read: these ranges of `buf`, in order.
    ready: std::collections::VecDeque<std::ops::Range<usize>>,
    /// The index of the next chunk to read from the input.
    index: u32,
    /// What to report once `ready` is read: the end, or why the stream stops.
    state: ReadState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadState {
    Reading,
    Done,
    Truncated,
    Rejected(u32),
    Broken,
}

impl<R: Read> fmt::Debug for StreamReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("index", &self.index)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<R: Read> StreamReader<R> {
    /// Read the chunks that follow `header` from `inner` with the data `key` (unwrapped from the
    /// header's wrapped key).
    ///
    /// # Errors
    /// A crypto error only if the key cannot be bound to the header's algorithm.
    pub fn new(key: &SecretKey, header: &StreamHeader, inner: R) -> Result<Self> {
        let sealed_len = header.chunk_len().saturating_add(TAG_LEN);
        let batch = chunks_per_batch(header.chunk_len());
        Ok(StreamReader {
            inner,
            chunks: Chunks::new(key, header)?,
            sealed_len,
            buf: SecretBytes::new(vec![0u8; sealed_len.saturating_mul(batch)]),
            lookahead: None,
            ready: std::collections::VecDeque::new(),
            index: 0,
            state: ReadState::Reading,
        })
    }

    /// Read the next batch of chunks, authenticate and decrypt them, and queue the plaintext of
    /// every chunk before the first that fails; the state says how the stream goes on.
    fn next_batch(&mut self) -> Result<()> {
        let capacity = self.buf.len();
        let mut filled = 0;
        if let (Some(byte), Some(first)) = (self.lookahead.take(), self.buf.first_mut()) {
            *first = byte;
            filled = 1;
        }
        if let Some(rest) = self.buf.get_mut(filled..) {
            filled += read_full(&mut self.inner, rest).map_err(StoreError::StreamIo)?;
        }
        // The final chunk is the one the input ends right after.
        let ends = if filled < capacity {
            true
        } else {
            let mut next = [0u8; 1];
            let more = read_full(&mut self.inner, &mut next).map_err(StoreError::StreamIo)?;
            self.lookahead = (more == 1).then_some(next[0]);
            more == 0
        };
        let sealed = self.buf.get_mut(..filled).unwrap_or_default();
        let pieces: Vec<&mut [u8]> = sealed.chunks_mut(self.sealed_len).collect();
        let count = pieces.len();
        if count == 0 {
            // The input ended without a final chunk.
            return Err(StoreError::StreamTruncated);
        }
        let first = self.index;
        let last_index = u32::try_from(count - 1)
            .ok()
            .and_then(|offset| first.checked_add(offset))
            .ok_or_else(too_many_chunks)?;
        if !ends && last_index == u32::MAX {
            return Err(too_many_chunks());
        }
        let opened = open_chunks(&self.chunks, first, ends, pieces);
        self.queue(&opened);
        self.state = match opened.iter().position(Result::is_err) {
            // A final piece too short to hold a tag: the stream was cut.
            Some(failed) if failed + 1 == count && filled - failed * self.sealed_len < TAG_LEN => {
                ReadState::Truncated
            }
            Some(failed) => {
                ReadState::Rejected(first.saturating_add(u32::try_from(failed).unwrap_or(u32::MAX)))
            }
            None if ends => ReadState::Done,
            None => {
                self.index = last_index + 1;
                ReadState::Reading
            }
        };
        Ok(())
    }

    /// Queue the plaintext of the chunks opened, up to the first that failed.
    fn queue(&mut self, opened: &[Result<usize>]) {
        for (position, body_len) in opened.iter().enumerate() {
            let Ok(body_len) = body_len else { break };
            let start = position * self.sealed_len;
            self.ready.push_back(start..start + body_len);
        }
    }

    fn failure(&self) -> Option<io::Error> {
        match self.state {
            ReadState::Reading | ReadState::Done => None,
            ReadState::Truncated => Some(into_io(StoreError::StreamTruncated)),
            ReadState::Rejected(index) => Some(into_io(StoreError::StreamChunk { index })),
            ReadState::Broken => Some(io::Error::other(
                "the encrypted stream cannot be read further after an earlier error",
            )),
        }
    }
}

/// Open the sealed chunks `pieces` (the first numbered `first`; the last one final if `last`)
/// in place, spread over the available cores. Each result is the chunk's plaintext length, or
/// the error that chunk failed with. Only a piece too short to hold a tag is not opened (it
/// counts as failed).
fn open_chunks(
    chunks: &Chunks,
    first: u32,
    last: bool,
    pieces: Vec<&mut [u8]>,
) -> Vec<Result<usize>> {
    let count = pieces.len();
    let open_one = |position: usize, piece: &mut [u8]| -> Result<usize> {
        let index = first.saturating_add(u32::try_from(position).unwrap_or(u32::MAX));
        let body_len = piece
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(StoreError::StreamTruncated)?;
        let (body, tag) = piece.split_at_mut(body_len);
        chunks.open(index, last && position + 1 == count, body, tag)?;
        Ok(body_len)
    };
    in_parallel(pieces, open_one)
}

/// Apply `work` to each piece with its position, on up to [`worker_threads`] threads; the
/// results in order.
fn in_parallel<T: Send>(
    pieces: Vec<&mut [u8]>,
    work: impl Fn(usize, &mut [u8]) -> T + Sync,
) -> Vec<T> {
    let count = pieces.len();
    let threads = worker_threads().min(count);
    if threads <= 1 {
        return pieces
            .into_iter()
            .enumerate()
            .map(|(position, piece)| work(position, piece))
            .collect();
    }
    let per_thread = count.div_ceil(threads);
    let mut groups: Vec<Vec<(usize, &mut [u8])>> = Vec::new();
    for (position, piece) in pieces.into_iter().enumerate() {
        if position % per_thread == 0 {
            groups.push(Vec::with_capacity(per_thread));
        }
        if let Some(group) = groups.last_mut() {
            group.push((position, piece));
        }
    }
    let work = &work;
    std::thread::scope(|scope| {
        let mut rest = groups.into_iter();
        let own = rest.next().unwrap_or_default();
        let spawned: Vec<_> = rest
            .map(|group| {
                scope.spawn(move || {
                    group
                        .into_iter()
                        .map(|(position, piece)| work(position, piece))
                        .collect::<Vec<T>>()
                })
            })
            .collect();
        let mut results: Vec<T> = own
            .into_iter()
            .map(|(position, piece)| work(position, piece))
            .collect();
        for handle in spawned {
            results.extend(
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        results
    })
}

impl<R: Read> Read for StreamReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(range) = self.ready.front_mut() {
                let n = range.len().min(out.len());
                let from = self
                    .buf
                    .get(range.start..range.start + n)
                    .unwrap_or_default();
                if let Some(to) = out.get_mut(..n) {
                    to.copy_from_slice(from);
                }
                range.start += n;
                if range.start >= range.end {
                    self.ready.pop_front();
                }
                return Ok(n);
            }
            if let Some(err) = self.failure() {
                return Err(err);
            }
            if self.state == ReadState::Done {
                return Ok(0);
            }
            if let Err(err) = self.next_batch() {
                self.state = match err {
                    StoreError::StreamTruncated => ReadState::Truncated,
                    StoreError::StreamChunk { index } => ReadState::Rejected(index),
                    _ => ReadState::Broken,
                };
                // The plaintext of the chunks before the failure is read first.
                if self.ready.is_empty() {
                    return Err(match err {
                        StoreError::StreamIo(io) => io,
                        other => into_io(other),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::cast_possible_truncation
    )]

    use super::*;

    fn secret() -> SecretKey {
        SecretKey::generate().unwrap()
    }

    fn header(algorithm: Algorithm) -> StreamHeader {
        let mut header = StreamHeader::new(algorithm, MIN_CHUNK_SIZE).unwrap();
        header.set_wrapped_key(vec![7u8; 80]).unwrap();
        header
    }

    fn seal(key: &SecretKey, header: &StreamHeader, plaintext: &[u8]) -> Vec<u8> {
        let mut writer = StreamWriter::new(key, header, Vec::new()).unwrap();
        writer.write_all(plaintext).unwrap();
        writer.finish().unwrap()
    }

    fn open(key: &SecretKey, sealed: &[u8]) -> Result<Vec<u8>> {
        let mut input = sealed;
        let header = StreamHeader::read_from(&mut input)?;
        let mut out = Vec::new();
        StreamReader::new(key, &header, input)?
            .read_to_end(&mut out)
            .map_err(StoreError::from_stream_io)?;
        Ok(out)
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| u8::try_from(i * 31 % 251).unwrap())
            .collect()
    }

    #[test]
    fn round_trips_every_size_around_chunk_boundaries() {
        let chunk = MIN_CHUNK_SIZE as usize;
        for algorithm in Algorithm::ALL {
            let key = secret();
            let header = header(algorithm);
            for len in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3 * chunk + 17] {
                let plaintext = data(len);
                let sealed = seal(&key, &header, &plaintext);
                assert_eq!(sealed.len() as u64, header.sealed_len(len as u64));
                assert_eq!(
                    open(&key, &sealed).unwrap(),
                    plaintext,
                    "{algorithm:?} {len}"
                );
            }
        }
    }

    /// The writer seals chunks in batches on several threads; the bytes are those of sealing
    /// each chunk in turn, for streams shorter than, equal to and longer than a batch.
    #[test]
    fn batches_seal_exactly_what_chunk_by_chunk_sealing_does() {
        let chunk = MIN_CHUNK_SIZE as usize;
        let batch = chunks_per_batch(chunk) * chunk;
        assert!(chunks_per_batch(chunk) > 1);
        let key = secret();
        let header = header(Algorithm::XChaCha20Poly1305);
        let chunks = Chunks::new(&key, &header).unwrap();
        for len in [batch - 1, batch, batch + 1, 2 * batch + chunk + 5] {
            let plaintext = data(len);
            let mut expected = header.to_bytes();
            let pieces: Vec<&[u8]> = plaintext.chunks(chunk).collect();
            for (index, piece) in pieces.iter().enumerate() {
                let mut body = piece.to_vec();
                let last = index + 1 == pieces.len();
                let tag = chunks.seal(index as u32, last, &mut body).unwrap();
                expected.extend_from_slice(&body);
                expected.extend_from_slice(tag.as_ref());
            }
            assert_eq!(seal(&key, &header, &plaintext), expected, "{len}");
            assert_eq!(open(&key, &expected).unwrap(), plaintext, "{len}");
        }
    }

    /// Chunks are opened a batch at a time on several threads; damage in a later batch still
    /// releases exactly the chunks before it and names the chunk.
    #[test]
    fn damage_in_a_later_batch_releases_what_precedes_it() {
        let chunk = MIN_CHUNK_SIZE as usize;
        let per_batch = chunks_per_batch(chunk);
        let key = secret();
        let header = header(Algorithm::XChaCha20Poly1305);
        let plaintext = data((2 * per_batch + 6) * chunk + 5);
        let sealed = seal(&key, &header, &plaintext);
        let start = header.to_bytes().len();
        let sealed_chunk = chunk + TAG_LEN;
        let read_all = |bytes: &[u8]| {
            let mut input = bytes;
            let header = StreamHeader::read_from(&mut input).unwrap();
            let mut reader = StreamReader::new(&key, &header, input).unwrap();
            let mut out = Vec::new();
            let err = reader.read_to_end(&mut out).err();
            (out, err.map(StoreError::from_stream_io))
        };
        let (out, err) = read_all(&sealed);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(out, plaintext);
        let damaged_chunk = per_batch + 3;
        let mut damaged = sealed.clone();
        damaged[start + damaged_chunk * sealed_chunk + 10] ^= 1;
        let (out, err) = read_all(&damaged);
        assert_eq!(out, plaintext[..damaged_chunk * chunk]);
        assert!(
            matches!(err, Some(StoreError::StreamChunk { index }) if index as usize == damaged_chunk),
            "{err:?}"
        );
        // Cut exactly after a batch: its last chunk was not sealed as final.
        let (out, err) = read_all(&sealed[..start + per_batch * sealed_chunk]);
        assert_eq!(out, plaintext[..(per_batch - 1) * chunk]);
        assert!(
            matches!(err, Some(StoreError::StreamChunk { index }) if index as usize == per_batch - 1),
            "{err:?}"
        );
        // Cut inside the tag of a chunk of the second batch.
        let (_, err) = read_all(&sealed[..start + (per_batch + 1) * sealed_chunk + 3]);
        assert!(matches!(err, Some(StoreError::StreamTruncated)), "{err:?}");
    }

    /// Writes of any size, including ones that straddle chunk boundaries, seal the same bytes.
    #[test]
    fn the_sealed_bytes_do_not_depend_on_how_the_plaintext_is_written() {
        let key = secret();
        let header = header(Algorithm::ChaCha20Poly1305);
        let plaintext = data(5000);
        let whole = seal(&key, &header, &plaintext);
        for piece in [1, 7, 1023, 1024, 1025, 4096] {
            let mut writer = StreamWriter::new(&key, &header, Vec::new()).unwrap();
            for part in plaintext.chunks(piece) {
                writer.write_all(part).unwrap();
            }
            writer.flush().unwrap();
            assert_eq!(writer.finish().unwrap(), whole, "{piece}");
        }
    }

    #[test]
    fn header_round_trips_and_hostile_headers_are_refused() {
        let header = header(Algorithm::XChaCha20Poly1305);
        let bytes = header.to_bytes();
        assert_eq!(StreamHeader::read_from(&mut &bytes[..]).unwrap(), header);
        for cut in 0..bytes.len() {
            let err = StreamHeader::read_from(&mut &bytes[..cut]).unwrap_err();
            assert!(matches!(err, StoreError::StreamTruncated), "{cut}: {err}");
        }
        let refused = |bytes: &[u8]| {
            let err = StreamHeader::read_from(&mut &bytes[..]).unwrap_err();
            assert!(matches!(err, StoreError::NotAStream { .. }), "{err}");
            assert_eq!(err.kind(), keyvault_core::ErrorKind::Authentication);
        };
        let mut bad = bytes.clone();
        bad[0] = b'X';
        refused(&bad);
        let mut bad = bytes.clone();
        bad[3] = 2;
        refused(&bad);
        let mut bad = bytes.clone();
        bad[4] = 9;
        refused(&bad);
        let mut bad = bytes.clone();
        bad[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
        refused(&bad);
        let mut bad = bytes.clone();
        let at = 9 + 19;
        bad[at..at + 2].copy_from_slice(&0u16.to_be_bytes());
        refused(&bad);
        bad[at..at + 2].copy_from_slice(&2000u16.to_be_bytes());
        refused(&bad);
    }

    #[test]
    fn bad_parameters_are_refused_before_anything_is_written() {
        for size in [0, MIN_CHUNK_SIZE - 1, MAX_CHUNK_SIZE + 1] {
            let err = StreamHeader::new(Algorithm::Aes256Gcm, size).unwrap_err();
            assert!(matches!(err, StoreError::StreamParameter { .. }), "{err}");
        }
        let mut header = StreamHeader::new(Algorithm::Aes256Gcm, MIN_CHUNK_SIZE).unwrap();
        for len in [0, MAX_WRAPPED_LEN + 1] {
            let err = header.set_wrapped_key(vec![1; len]).unwrap_err();
            assert!(matches!(err, StoreError::StreamParameter { .. }), "{err}");
        }
        let mut out = Vec::new();
        let err = StreamWriter::new(&secret(), &header, &mut out).unwrap_err();
        assert!(matches!(err, StoreError::StreamParameter { .. }), "{err}");
        assert!(out.is_empty());
    }

    /// The error `open` gives for `bytes`: always an authentication failure of the stream.
    fn rejected(key: &SecretKey, bytes: &[u8]) -> StoreError {
        let err = open(key, bytes).unwrap_err();
        assert_eq!(
            err.kind(),
            keyvault_core::ErrorKind::Authentication,
            "{err}"
        );
        err
    }

    #[test]
    fn truncation_reordering_extension_and_flips_are_detected() {
        let chunk = MIN_CHUNK_SIZE as usize;
        let key = secret();
        let header = header(Algorithm::ChaCha20Poly1305);
        let plaintext = data(3 * chunk + 100);
        let sealed = seal(&key, &header, &plaintext);
        let start = header.to_bytes().len();
        let sealed_chunk = chunk + TAG_LEN;
        // Cut at every chunk boundary and inside chunks: the last chunk left was not sealed as
        // final, or there is none.
        assert!(matches!(
            rejected(&key, &sealed[..start]),
            StoreError::StreamTruncated
        ));
        for (cut, index) in [
            (start + 1, None),
            (start + sealed_chunk, Some(0)),
            (start + 2 * sealed_chunk, Some(1)),
            (start + 3 * sealed_chunk, Some(2)),
            (sealed.len() - 1, Some(3)),
        ] {
            match (rejected(&key, &sealed[..cut]), index) {
                (StoreError::StreamTruncated, None) => {}
                (StoreError::StreamChunk { index: at }, Some(index)) => assert_eq!(at, index),
                (other, _) => panic!("{cut}: {other}"),
            }
        }
        // Swap chunks 0 and 1: the first fails.
        let mut swapped = sealed.clone();
        let (a, b) = (start, start + sealed_chunk);
        let first = sealed[a..a + sealed_chunk].to_vec();
        swapped[a..a + sealed_chunk].copy_from_slice(&sealed[b..b + sealed_chunk]);
        swapped[b..b + sealed_chunk].copy_from_slice(&first);
        assert!(matches!(
            rejected(&key, &swapped),
            StoreError::StreamChunk { index: 0 }
        ));
        // Append a byte, or a whole extra chunk: the real final chunk is read as non-final.
        let mut extended = sealed.clone();
        extended.push(0);
        assert!(matches!(
            rejected(&key, &extended),
            StoreError::StreamChunk { index: 3 }
        ));
        let mut extended = sealed.clone();
        extended.extend_from_slice(&sealed[start..start + sealed_chunk]);
        assert!(matches!(
            rejected(&key, &extended),
            StoreError::StreamChunk { index: 3 }
        ));
        // Flip a bit in the fixed header (every chunk's associated data) or in a chunk.
        for at in (0..9).chain([start, start + chunk, sealed.len() - 1]) {
            let mut flipped = sealed.clone();
            flipped[at] ^= 1;
            rejected(&key, &flipped);
        }
        // Another key.
        assert!(matches!(
            rejected(&secret(), &sealed),
            StoreError::StreamChunk { index: 0 }
        ));
    }

    /// Plaintext comes out only from chunks that authenticated; after a failure the reader
    /// keeps failing and releases nothing more.
    #[test]
    fn only_authenticated_chunks_are_released_and_a_failure_sticks() {
        let chunk = MIN_CHUNK_SIZE as usize;
        let key = secret();
        let header = header(Algorithm::XChaCha20Poly1305);
        let plaintext = data(3 * chunk);
        let mut sealed = seal(&key, &header, &plaintext);
        let start = header.to_bytes().len();
        // Damage chunk 1.
        sealed[start + chunk + TAG_LEN + 5] ^= 0x80;
        let mut input = &sealed[..];
        let header = StreamHeader::read_from(&mut input).unwrap();
        let mut reader = StreamReader::new(&key, &header, input).unwrap();
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(matches!(
            StoreError::from_stream_io(err),
            StoreError::StreamChunk { index: 1 }
        ));
        assert_eq!(out, plaintext[..chunk]);
        let mut more = [0u8; 16];
        let again = reader.read(&mut more).unwrap_err();
        assert!(matches!(
            StoreError::from_stream_io(again),
            StoreError::StreamChunk { index: 1 }
        ));
    }

    #[test]
    fn a_full_last_chunk_is_final_and_an_empty_file_has_one_chunk() {
        let chunk = MIN_CHUNK_SIZE as usize;
        let key = secret();
        let header = header(Algorithm::Aes256Gcm);
        let sealed = seal(&key, &header, &data(2 * chunk));
        let start = header.to_bytes().len();
        // Dropping the final full chunk leaves a non-final chunk at the end.
        assert!(matches!(
            rejected(&key, &sealed[..start + chunk + TAG_LEN]),
            StoreError::StreamChunk { index: 0 }
        ));
        let empty = seal(&key, &header, b"");
        assert_eq!(empty.len(), start + TAG_LEN);
        assert_eq!(open(&key, &empty).unwrap(), b"");
        // A writer dropped without `finish` leaves a stream that is refused.
        let mut unfinished = Vec::new();
        let mut writer = StreamWriter::new(&key, &header, &mut unfinished).unwrap();
        writer.write_all(&data(2 * chunk + 1)).unwrap();
        drop(writer);
        rejected(&key, &unfinished);
    }

    /// Errors of the underlying reader and writer come back unchanged, as `StreamIo`.
    #[test]
    fn io_errors_of_the_inner_reader_and_writer_are_kept() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
            }
        }
        impl Write for Failing {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let key = secret();
        let header = header(Algorithm::Aes256Gcm);
        let err = StreamWriter::new(&key, &header, Failing).unwrap_err();
        assert!(matches!(&err, StoreError::StreamIo(io) if io.kind() == io::ErrorKind::BrokenPipe));
        let mut reader = StreamReader::new(&key, &header, Failing).unwrap();
        let err = reader.read(&mut [0u8; 10]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(matches!(
            StoreError::from_stream_io(err),
            StoreError::StreamIo(_)
        ));
        let err = StreamHeader::read_from(&mut Failing).unwrap_err();
        assert!(matches!(err, StoreError::StreamIo(_)));
    }

    /// The golden file's inputs: a fixed data key, prefix and stand-in wrapped key; 1 KiB
    /// chunks; 2500 bytes of plaintext (two full chunks and a final one of 452 bytes).
    fn golden_inputs() -> (SecretKey, StreamHeader, Vec<u8>) {
        let key = SecretKey::from_array(&std::array::from_fn(|i| i as u8));
        let header = StreamHeader {
            algorithm: Algorithm::XChaCha20Poly1305,
            chunk_size: MIN_CHUNK_SIZE,
            prefix: (0xa0..0xb3).collect(),
            wrapped_key: b"KVE stand-in for the wrapped data key".to_vec(),
        };
        let plaintext = (0..2500u32).map(|i| (i % 251) as u8).collect();
        (key, header, plaintext)
    }

    const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/stream_v1.kvs");

    /// Stream v1 never changes: the golden file opens, and the same inputs seal to the same
    /// bytes (nonces are derived, so sealing is deterministic for a given key and prefix).
    #[test]
    fn the_v1_golden_file_still_opens_and_reseals_identically() {
        let (key, header, plaintext) = golden_inputs();
        let golden = std::fs::read(GOLDEN).unwrap();
        assert_eq!(seal(&key, &header, &plaintext), golden);
        assert_eq!(open(&key, &golden).unwrap(), plaintext);
        assert_eq!(&golden[..4], b"KVS\x01");
        assert_eq!(golden.len(), 9 + 19 + 2 + 37 + 2500 + 3 * TAG_LEN);
    }

    /// RustCrypto's `aead-stream` (STREAM with a big-endian 32-bit counter and a last-block
    /// byte) derives exactly this format's nonces: sealing the golden inputs with it gives the
    /// golden file's chunks byte for byte (docs/FORMATS.md says why it is not used).
    #[test]
    fn aead_stream_be32_seals_the_golden_chunks_identically() {
        use aead_stream::{EncryptorBE32, KeyInit as _};
        use chacha20poly1305::XChaCha20Poly1305;

        let (_, header, plaintext) = golden_inputs();
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let cipher = XChaCha20Poly1305::new(&key.into());
        let prefix: [u8; 19] = header.prefix.clone().try_into().unwrap();
        let mut encryptor = EncryptorBE32::from_aead(cipher, &prefix.into());
        let aad = header.fixed_bytes();
        let mut sealed = header.to_bytes();
        let pieces: Vec<&[u8]> = plaintext.chunks(MIN_CHUNK_SIZE as usize).collect();
        let (last, rest) = pieces.split_last().unwrap();
        for piece in rest {
            let mut buf = piece.to_vec();
            encryptor.encrypt_next_in_place(&aad, &mut buf).unwrap();
            sealed.extend_from_slice(&buf);
        }
        let mut buf = last.to_vec();
        encryptor.encrypt_last_in_place(&aad, &mut buf).unwrap();
        sealed.extend_from_slice(&buf);
        assert_eq!(sealed, std::fs::read(GOLDEN).unwrap());
    }
}
