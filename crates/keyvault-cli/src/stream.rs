//! Encrypted file stream v1: files of any size in bounded memory (docs/FORMATS.md, "Encrypted
//! file stream v1").
//!
//! A fresh random data key per file, wrapped by a vault key (`Vault::generate_data_key`), seals
//! the file in chunks (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár):
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
//! caller AAD`. Re-wrapping the data key under a newer vault key version (`rewrap`) therefore
//! replaces the wrapped key without touching the chunks.

use std::io::{BufRead, Read, Write};

use anyhow::{Context, Result};
use keyvault_crypto::{AeadKey, Algorithm, TAG_LEN, Zeroizing, hazmat};

use crate::exit::{Code, Failure};

/// The first three bytes of a stream file.
pub const MAGIC: [u8; 3] = *b"KVS";
/// The format version written and read.
pub const FORMAT_VERSION: u8 = 1;
/// The chunk size written: 64 KiB of plaintext per chunk.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// The smallest chunk size accepted.
pub const MIN_CHUNK_SIZE: u32 = 1024;
/// The largest chunk size accepted (bounds the memory a hostile file can make the reader use).
pub const MAX_CHUNK_SIZE: u32 = 16 << 20;
/// The largest wrapped key accepted.
pub const MAX_WRAPPED_LEN: usize = 1024;
/// Bytes of the nonce after the prefix: the 4-byte counter and the 1-byte last-chunk flag.
const NONCE_SUFFIX_LEN: usize = 5;
/// Domain separation of the wrapped key's associated data.
const WRAP_DOMAIN: &[u8] = b"keyvault-stream-v1\0";

/// Whether `start` (the first bytes of some input) begins a stream file.
pub fn is_stream(start: &[u8]) -> bool {
    start.starts_with(&MAGIC)
}

/// A stream file's header.
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
    /// No randomness; a chunk size out of range.
    pub fn new(algorithm: Algorithm, chunk_size: u32) -> Result<Self> {
        check_chunk_size(chunk_size)?;
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
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Plaintext bytes per chunk.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The wrapped data key (a v1 ciphertext envelope).
    pub fn wrapped_key(&self) -> &[u8] {
        &self.wrapped_key
    }

    /// Set the wrapped data key.
    ///
    /// # Errors
    /// An empty or over-long envelope.
    pub fn set_wrapped_key(&mut self, wrapped: Vec<u8>) -> Result<()> {
        if wrapped.is_empty() || wrapped.len() > MAX_WRAPPED_LEN {
            return Err(Failure::new(
                Code::Failure,
                format!(
                    "a wrapped stream key of {} bytes does not fit the stream header",
                    wrapped.len()
                ),
            )
            .into());
        }
        self.wrapped_key = wrapped;
        Ok(())
    }

    /// The fixed header: everything before the wrapped key's length.
    pub fn fixed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.prefix.len());
        out.extend_from_slice(&MAGIC);
        out.push(FORMAT_VERSION);
        out.push(self.algorithm.id());
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&self.prefix);
        out
    }

    /// The associated data the wrapped key is sealed with.
    pub fn wrap_aad(&self, caller_aad: &[u8]) -> Vec<u8> {
        let mut out = WRAP_DOMAIN.to_vec();
        out.extend_from_slice(&self.fixed_bytes());
        out.extend_from_slice(caller_aad);
        out
    }

    /// The whole header as written.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.fixed_bytes();
        let len = u16::try_from(self.wrapped_key.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.wrapped_key);
        out
    }

    /// Read and check a header, bounding every length before reading it.
    ///
    /// # Errors
    /// Exit code 3 for anything that is not a v1 stream header; I/O errors.
    pub fn read_from(input: &mut impl Read) -> Result<Self> {
        let mut fixed = [0u8; 9];
        read_exact_or_truncated(input, &mut fixed)?;
        let [m0, m1, m2, version, algorithm, c0, c1, c2, c3] = fixed;
        if [m0, m1, m2] != MAGIC {
            return Err(foreign("it does not start with a stream header"));
        }
        if version != FORMAT_VERSION {
            return Err(foreign(&format!(
                "its stream format version {version} is not supported (this build reads version {FORMAT_VERSION})"
            )));
        }
        let algorithm = Algorithm::from_id(algorithm)
            .map_err(|_| foreign(&format!("its algorithm id {algorithm} is unknown")))?;
        let chunk_size = u32::from_be_bytes([c0, c1, c2, c3]);
        check_chunk_size(chunk_size).map_err(|_| {
            foreign(&format!(
                "its chunk size {chunk_size} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}"
            ))
        })?;
        let mut prefix = vec![0u8; prefix_len(algorithm)];
        read_exact_or_truncated(input, &mut prefix)?;
        let mut len = [0u8; 2];
        read_exact_or_truncated(input, &mut len)?;
        let len = usize::from(u16::from_be_bytes(len));
        if len == 0 || len > MAX_WRAPPED_LEN {
            return Err(foreign(&format!(
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

    fn nonce(&self, index: u32, last: bool) -> Vec<u8> {
        let mut nonce = Vec::with_capacity(self.prefix.len() + NONCE_SUFFIX_LEN);
        nonce.extend_from_slice(&self.prefix);
        nonce.extend_from_slice(&index.to_be_bytes());
        nonce.push(u8::from(last));
        nonce
    }
}

fn prefix_len(algorithm: Algorithm) -> usize {
    algorithm.nonce_len().saturating_sub(NONCE_SUFFIX_LEN)
}

fn check_chunk_size(chunk_size: u32) -> Result<()> {
    if (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "a chunk size must be within {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE} bytes"
        ))
        .into())
    }
}

/// An error for input that is not a stream file of this format (exit code 3).
fn foreign(reason: &str) -> anyhow::Error {
    Failure::new(
        Code::Authentication,
        format!("the input is not a readable keyvault stream: {reason}"),
    )
    .into()
}

fn truncated() -> anyhow::Error {
    Failure::new(
        Code::Authentication,
        "the encrypted stream is truncated: it ends before its final chunk",
    )
    .into()
}

fn read_exact_or_truncated(input: &mut impl Read, buf: &mut [u8]) -> Result<()> {
    let n = read_full(input, buf)?;
    if n < buf.len() {
        return Err(truncated());
    }
    Ok(())
}

/// Fill `buf` from `input` until it is full or the input ends; returns the bytes read.
///
/// # Errors
/// The input's read errors (other than interruptions, which are retried).
pub fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

fn chunk_index_overflow() -> anyhow::Error {
    Failure::new(
        Code::Failure,
        "the input has more chunks than a stream can number (2^32)",
    )
    .into()
}

/// Write `header` then `input` sealed in chunks under `key` to `output`. `progress` is told
/// the plaintext bytes of each chunk. Returns the plaintext length.
///
/// # Errors
/// I/O errors; a stream of more than 2^32 chunks.
pub fn encrypt(
    key: &AeadKey,
    header: &StreamHeader,
    input: &mut impl Read,
    output: &mut impl Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let chunk = usize::try_from(header.chunk_size).context("chunk size")?;
    let aad = header.fixed_bytes();
    output
        .write_all(&header.to_bytes())
        .context("cannot write the stream header")?;
    let mut current = Zeroizing::new(vec![0u8; chunk]);
    let mut next = Zeroizing::new(vec![0u8; chunk]);
    let mut filled = read_full(input, &mut current).context("cannot read the input")?;
    let mut index: u32 = 0;
    let mut total: u64 = 0;
    loop {
        let ahead = if filled == chunk {
            read_full(input, &mut next).context("cannot read the input")?
        } else {
            0
        };
        let last = ahead == 0;
        let body = current.get_mut(..filled).context("chunk bounds")?;
        let tag = hazmat::seal_in_place_detached(key, &header.nonce(index, last), &aad, body)?;
        output
            .write_all(body)
            .and_then(|()| output.write_all(&tag))
            .context("cannot write the encrypted output")?;
        let len = u64::try_from(filled).unwrap_or(u64::MAX);
        total = total.saturating_add(len);
        progress(len);
        if last {
            break;
        }
        std::mem::swap(&mut current, &mut next);
        filled = ahead;
        index = index.checked_add(1).ok_or_else(chunk_index_overflow)?;
    }
    output
        .flush()
        .context("cannot write the encrypted output")?;
    Ok(total)
}

/// Open the chunks that follow a header (already read from `input`) with the data key `key`
/// and write each authenticated chunk's plaintext to `output`. Returns the plaintext length.
///
/// # Errors
/// Exit code 3 if any chunk fails to authenticate or the stream is truncated, reordered or
/// extended (nothing of that chunk is written); I/O errors.
pub fn decrypt(
    key: &AeadKey,
    header: &StreamHeader,
    input: &mut impl BufRead,
    output: &mut impl Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let chunk = usize::try_from(header.chunk_size).context("chunk size")?;
    let sealed_chunk = chunk + TAG_LEN;
    let aad = header.fixed_bytes();
    let mut buf = Zeroizing::new(vec![0u8; sealed_chunk]);
    let mut index: u32 = 0;
    let mut total: u64 = 0;
    loop {
        let filled = read_full(input, &mut buf).context("cannot read the encrypted input")?;
        if filled < TAG_LEN {
            return Err(truncated());
        }
        let last = filled < sealed_chunk
            || input
                .fill_buf()
                .context("cannot read the encrypted input")?
                .is_empty();
        let (body, tag) = buf
            .get_mut(..filled)
            .context("chunk bounds")?
            .split_at_mut(filled - TAG_LEN);
        hazmat::open_in_place_detached(key, &header.nonce(index, last), &aad, body, tag).map_err(
            |_| {
                Failure::new(
                    Code::Authentication,
                    format!(
                        "chunk {index} of the encrypted stream does not authenticate: the file \
                         was truncated, reordered, extended or tampered with, or the key is wrong"
                    ),
                )
            },
        )?;
        output
            .write_all(body)
            .context("cannot write the decrypted output")?;
        let len = u64::try_from(body.len()).unwrap_or(u64::MAX);
        total = total.saturating_add(len);
        progress(len);
        if last {
            break;
        }
        index = index.checked_add(1).ok_or_else(chunk_index_overflow)?;
    }
    output
        .flush()
        .context("cannot write the decrypted output")?;
    Ok(total)
}

/// Copy the chunks after a header unchanged (for `rewrap`, which only replaces the wrapped key).
///
/// # Errors
/// I/O errors.
pub fn copy_chunks(
    input: &mut impl Read,
    output: &mut impl Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = read_full(input, &mut buf).context("cannot read the encrypted input")?;
        if n == 0 {
            break;
        }
        output
            .write_all(buf.get(..n).context("chunk bounds")?)
            .context("cannot write the output")?;
        let len = u64::try_from(n).unwrap_or(u64::MAX);
        total = total.saturating_add(len);
        progress(len);
    }
    output.flush().context("cannot write the output")?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::cast_possible_truncation
    )]

    use std::io::BufReader;

    use keyvault_crypto::SecretKey;

    use super::*;
    use crate::exit::classify;

    fn key(algorithm: Algorithm) -> AeadKey {
        AeadKey::new(algorithm, &SecretKey::generate().unwrap()).unwrap()
    }

    fn header(algorithm: Algorithm) -> StreamHeader {
        let mut header = StreamHeader::new(algorithm, MIN_CHUNK_SIZE).unwrap();
        header.set_wrapped_key(vec![7u8; 80]).unwrap();
        header
    }

    fn seal(key: &AeadKey, header: &StreamHeader, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encrypt(key, header, &mut &plaintext[..], &mut out, &mut |_| {}).unwrap();
        out
    }

    fn open(key: &AeadKey, sealed: &[u8]) -> Result<Vec<u8>> {
        let mut input = BufReader::new(sealed);
        let header = StreamHeader::read_from(&mut input)?;
        let mut out = Vec::new();
        decrypt(key, &header, &mut input, &mut out, &mut |_| {})?;
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
            let key = key(algorithm);
            let header = header(algorithm);
            for len in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3 * chunk + 17] {
                let plaintext = data(len);
                let sealed = seal(&key, &header, &plaintext);
                let chunks = len.div_ceil(chunk).max(1);
                assert_eq!(
                    sealed.len(),
                    header.to_bytes().len() + len + chunks * TAG_LEN
                );
                assert_eq!(
                    open(&key, &sealed).unwrap(),
                    plaintext,
                    "{algorithm:?} {len}"
                );
            }
        }
    }

    #[test]
    fn header_round_trips_and_hostile_headers_are_refused() {
        let header = header(Algorithm::XChaCha20Poly1305);
        let bytes = header.to_bytes();
        assert_eq!(StreamHeader::read_from(&mut &bytes[..]).unwrap(), header);
        let refused = |bytes: &[u8]| {
            let err = StreamHeader::read_from(&mut &bytes[..]).unwrap_err();
            assert_eq!(classify(&err), Code::Authentication, "{err:#}");
        };
        for cut in 0..bytes.len() {
            refused(&bytes[..cut]);
        }
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
    fn truncation_reordering_extension_and_flips_are_detected() {
        let chunk = MIN_CHUNK_SIZE as usize;
        let key = key(Algorithm::ChaCha20Poly1305);
        let header = header(Algorithm::ChaCha20Poly1305);
        let plaintext = data(3 * chunk + 100);
        let sealed = seal(&key, &header, &plaintext);
        let start = header.to_bytes().len();
        let sealed_chunk = chunk + TAG_LEN;
        let fails = |bytes: &[u8]| {
            let err = open(&key, bytes).unwrap_err();
            assert_eq!(classify(&err), Code::Authentication, "{err:#}");
        };
        // Cut at every chunk boundary and inside chunks.
        for cut in [
            start,
            start + 1,
            start + sealed_chunk,
            start + 2 * sealed_chunk,
            start + 3 * sealed_chunk,
            sealed.len() - 1,
        ] {
            fails(&sealed[..cut]);
        }
        // Swap chunks 0 and 1.
        let mut swapped = sealed.clone();
        let (a, b) = (start, start + sealed_chunk);
        let first = sealed[a..a + sealed_chunk].to_vec();
        swapped[a..a + sealed_chunk].copy_from_slice(&sealed[b..b + sealed_chunk]);
        swapped[b..b + sealed_chunk].copy_from_slice(&first);
        fails(&swapped);
        // Append bytes, or a whole extra chunk.
        let mut extended = sealed.clone();
        extended.push(0);
        fails(&extended);
        let mut extended = sealed.clone();
        extended.extend_from_slice(&sealed[start..start + sealed_chunk]);
        fails(&extended);
        // Flip a bit anywhere in the fixed header or the chunks.
        for at in (0..9).chain([start, start + chunk, sealed.len() - 1]) {
            let mut flipped = sealed.clone();
            flipped[at] ^= 1;
            fails(&flipped);
        }
        // Another key.
        let other = self::key(Algorithm::ChaCha20Poly1305);
        assert!(open(&other, &sealed).is_err());
    }

    /// The golden file's inputs: a fixed data key, prefix and stand-in wrapped key; 1 KiB
    /// chunks; 2500 bytes of plaintext (two full chunks and a final one of 452 bytes).
    fn golden_inputs() -> (AeadKey, StreamHeader, Vec<u8>) {
        let key = AeadKey::new(
            Algorithm::XChaCha20Poly1305,
            &SecretKey::from_array(&std::array::from_fn(|i| i as u8)),
        )
        .unwrap();
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
    /// bytes (nonces are derived, so sealing is deterministic for a given key and prefix). Run
    /// with `KEYVAULT_WRITE_GOLDEN=1` only to create the file the first time.
    #[test]
    fn the_v1_golden_file_still_opens_and_reseals_identically() {
        let (key, header, plaintext) = golden_inputs();
        let sealed = seal(&key, &header, &plaintext);
        if std::env::var_os("KEYVAULT_WRITE_GOLDEN").is_some() {
            std::fs::write(GOLDEN, &sealed).unwrap();
        }
        let golden = std::fs::read(GOLDEN).unwrap();
        assert_eq!(sealed, golden);
        assert_eq!(open(&key, &golden).unwrap(), plaintext);
        assert_eq!(&golden[..4], b"KVS\x01");
        assert_eq!(golden.len(), 9 + 19 + 2 + 37 + 2500 + 3 * TAG_LEN);
    }

    #[test]
    fn a_full_last_chunk_is_final_and_an_empty_file_has_one_chunk() {
        let chunk = MIN_CHUNK_SIZE as usize;
        let key = key(Algorithm::Aes256Gcm);
        let header = header(Algorithm::Aes256Gcm);
        let sealed = seal(&key, &header, &data(2 * chunk));
        let start = header.to_bytes().len();
        // Dropping the final full chunk leaves a non-final chunk at the end.
        let err = open(&key, &sealed[..start + chunk + TAG_LEN]).unwrap_err();
        assert_eq!(classify(&err), Code::Authentication);
        let empty = seal(&key, &header, b"");
        assert_eq!(empty.len(), start + TAG_LEN);
        assert_eq!(open(&key, &empty).unwrap(), b"");
    }
}
