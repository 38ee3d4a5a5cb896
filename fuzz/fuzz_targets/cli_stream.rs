//! Arbitrary bytes as an encrypted file stream: the header read (refused with exit code 3, or
//! read back exactly as written) and every chunk opened with a fixed data key (refused with exit
//! code 3, writing nothing of a failing chunk). The same bytes as plaintext seal and open back.
#![no_main]

use std::io::BufReader;

use keyvault_cli::exit::{Code, classify};
use keyvault_cli::stream::{self, MIN_CHUNK_SIZE, StreamHeader};
use keyvault_crypto::{AeadKey, Algorithm, SecretKey};
use libfuzzer_sys::fuzz_target;

fn data_key(algorithm: Algorithm) -> Option<AeadKey> {
    AeadKey::new(algorithm, &SecretKey::from_array(&[0x42; 32])).ok()
}

fuzz_target!(|data: &[u8]| {
    let mut input = BufReader::new(data);
    match StreamHeader::read_from(&mut input) {
        Err(err) => assert_eq!(classify(&err), Code::Authentication, "{err:#}"),
        Ok(header) => {
            let written = header.to_bytes();
            assert_eq!(
                data.get(..written.len()),
                Some(&written[..]),
                "a header reads back differently"
            );
            let Some(key) = data_key(header.algorithm()) else {
                return;
            };
            let mut out = Vec::new();
            match stream::decrypt(&key, &header, &mut input, &mut out, &mut |_| {}) {
                Ok(len) => assert_eq!(Ok(len), u64::try_from(out.len())),
                Err(err) => assert_eq!(classify(&err), Code::Authentication, "{err:#}"),
            }
            assert!(out.len() <= data.len());
        }
    }

    // The same bytes as a file's plaintext, in a stream of small chunks.
    let algorithm =
        Algorithm::ALL[usize::from(data.first().copied().unwrap_or(0)) % Algorithm::ALL.len()];
    let (Ok(mut header), Some(key)) = (
        StreamHeader::new(algorithm, MIN_CHUNK_SIZE),
        data_key(algorithm),
    ) else {
        return;
    };
    if header.set_wrapped_key(vec![0x77; 24]).is_err() {
        return;
    }
    let mut sealed = Vec::new();
    if stream::encrypt(&key, &header, &mut &data[..], &mut sealed, &mut |_| {}).is_err() {
        return;
    }
    let mut input = BufReader::new(&sealed[..]);
    let read = StreamHeader::read_from(&mut input).ok();
    assert_eq!(read.as_ref(), Some(&header));
    let mut out = Vec::new();
    let opened = stream::decrypt(&key, &header, &mut input, &mut out, &mut |_| {});
    assert!(
        opened.is_ok() && out == data,
        "a sealed stream does not open to its plaintext"
    );
});
