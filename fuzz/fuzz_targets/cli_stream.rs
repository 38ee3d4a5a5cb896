//! Arbitrary bytes as an encrypted file stream (keyvault-store's `stream`, the format of
//! `keyvault encrypt --in FILE`): the header read (refused as not a stream or truncated, or read
//! back exactly as written) and every chunk opened with a fixed data key (refused as a chunk
//! that does not authenticate or a truncated stream, releasing nothing of a failing chunk). The
//! same bytes as plaintext seal and open back.
#![no_main]

use std::io::{Read, Write};

use keyvault_crypto::{Algorithm, SecretKey};
use keyvault_store::StoreError;
use keyvault_store::stream::{MIN_CHUNK_SIZE, StreamHeader, StreamReader, StreamWriter};
use libfuzzer_sys::fuzz_target;

fn data_key() -> SecretKey {
    SecretKey::from_array(&[0x42; 32])
}

fn is_refusal(err: &StoreError) -> bool {
    matches!(
        err,
        StoreError::NotAStream { .. }
            | StoreError::StreamTruncated
            | StoreError::StreamChunk { .. }
    )
}

/// Open the chunks after `header` from `input`; the plaintext released comes back either way.
fn open(header: &StreamHeader, input: &[u8]) -> (Result<(), StoreError>, Vec<u8>) {
    let mut out = Vec::new();
    let result = match StreamReader::new(&data_key(), header, input) {
        Ok(mut reader) => reader
            .read_to_end(&mut out)
            .map(|_| ())
            .map_err(StoreError::from_stream_io),
        Err(err) => Err(err),
    };
    (result, out)
}

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    match StreamHeader::read_from(&mut input) {
        Err(err) => assert!(is_refusal(&err), "{err}"),
        Ok(header) => {
            let written = header.to_bytes();
            assert_eq!(
                data.get(..written.len()),
                Some(&written[..]),
                "a header reads back differently"
            );
            let (result, out) = open(&header, input);
            if let Err(err) = result {
                assert!(is_refusal(&err), "{err}");
            }
            assert!(out.len() <= input.len());
        }
    }

    // The same bytes as a file's plaintext, in a stream of small chunks.
    let algorithm =
        Algorithm::ALL[usize::from(data.first().copied().unwrap_or(0)) % Algorithm::ALL.len()];
    let Ok(mut header) = StreamHeader::new(algorithm, MIN_CHUNK_SIZE) else {
        return;
    };
    if header.set_wrapped_key(vec![0x77; 24]).is_err() {
        return;
    }
    let Ok(mut writer) = StreamWriter::new(&data_key(), &header, Vec::new()) else {
        return;
    };
    let Ok(sealed) = writer.write_all(data).and_then(|()| writer.finish()) else {
        return;
    };
    let mut input = &sealed[..];
    let read = StreamHeader::read_from(&mut input).ok();
    assert_eq!(read.as_ref(), Some(&header));
    let (opened, out) = open(&header, input);
    assert!(
        opened.is_ok() && out == data,
        "a sealed stream does not open to its plaintext"
    );
});
