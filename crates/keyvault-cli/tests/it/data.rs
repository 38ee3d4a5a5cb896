//! The data commands of the `keyvault` binary: envelopes in binary and `kv1:` text, the chunked
//! stream format for files (round trips of several MiB, and truncated, extended or flipped files
//! refused with exit code 3 and no output left behind), rewrap, data keys, MACs and derivation.

use crate::common;

use std::path::Path;

use base64ct::{Base64, Encoding};
use common::{Env, entries};
use predicates::prelude::*;

/// Size of the streamed test file: 8 MiB by default, `KEYVAULT_TEST_STREAM_MIB` to change it
/// (the 1 GiB run of the issue is `KEYVAULT_TEST_STREAM_MIB=1024`).
fn stream_size() -> usize {
    std::env::var("KEYVAULT_TEST_STREAM_MIB")
        .ok()
        .and_then(|mib| mib.parse::<usize>().ok())
        .unwrap_or(8)
        << 20
}

/// Deterministic, incompressible-looking bytes.
fn pattern(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn write_pattern(path: &Path, len: usize) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let block = pattern(1 << 20);
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len());
        file.write_all(&block[..n]).unwrap();
        left -= n;
    }
    file.flush().unwrap();
}

fn same_files(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut a, mut b) = (
        std::io::BufReader::new(std::fs::File::open(a).unwrap()),
        std::io::BufReader::new(std::fs::File::open(b).unwrap()),
    );
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = a.read(&mut x).unwrap();
        let mut filled = 0;
        while filled < n {
            let m = b.read(&mut y[filled..n]).unwrap();
            if m == 0 {
                return false;
            }
            filled += m;
        }
        if x[..n] != y[..n] {
            return false;
        }
        if n == 0 {
            return b.read(&mut y).unwrap() == 0;
        }
    }
}

/// No partial or temporary file was left in the directory.
fn no_leftovers(env: &Env) {
    let names = entries(env.dir.path());
    assert!(
        names.iter().all(|name| !name.starts_with(".keyvault-")),
        "temporary file left: {names:?}"
    );
}

#[test]
fn envelopes_round_trip_in_binary_and_text() {
    let env = Env::new();
    env.key("k", &[]);
    // Binary: stdin to stdout.
    let sealed = env
        .cmd()
        .args(["encrypt", "--key", "k", "--aad", "order 7"])
        .write_stdin("attack at dawn")
        .output()
        .unwrap();
    assert!(sealed.status.success());
    assert!(sealed.stdout.starts_with(b"KVE\x02"));
    env.cmd()
        .args(["decrypt", "--aad", "order 7"])
        .write_stdin(sealed.stdout.clone())
        .assert()
        .success()
        .stdout("attack at dawn");
    // Wrong or missing AAD: authentication fails (3) and nothing is printed.
    env.cmd()
        .args(["decrypt", "--aad", "order 8"])
        .write_stdin(sealed.stdout.clone())
        .assert()
        .code(3)
        .stdout(predicate::str::is_empty());
    env.cmd()
        .arg("decrypt")
        .write_stdin(sealed.stdout.clone())
        .assert()
        .code(3);
    // Every flipped byte is refused: header, nonce, ciphertext or tag.
    for at in [0, 3, 4, 5, 10, 25, 30, sealed.stdout.len() - 1] {
        let mut flipped = sealed.stdout.clone();
        flipped[at] ^= 0x01;
        let out = env
            .cmd()
            .args(["decrypt", "--aad", "order 7"])
            .write_stdin(flipped)
            .output()
            .unwrap();
        let code = out.status.code();
        // A flipped key id names a key that does not exist (5); everything else fails to
        // authenticate (3).
        assert!(
            code == Some(3) || (6..22).contains(&at) && code == Some(5),
            "byte {at}: {code:?}"
        );
        assert!(out.stdout.is_empty());
    }

    // Text: one line, kv1:, decrypts from a file or stdin.
    let armoured = env
        .cmd()
        .args(["encrypt", "--key", "k", "--armor"])
        .write_stdin("text form")
        .output()
        .unwrap();
    let text = String::from_utf8(armoured.stdout).unwrap();
    assert!(text.starts_with("kv1:") && text.ends_with('\n'));
    assert_eq!(text.lines().count(), 1);
    let file = env.path("c.txt");
    std::fs::write(&file, &text).unwrap();
    env.cmd()
        .args(["decrypt", "--in", file.to_str().unwrap()])
        .assert()
        .success()
        .stdout("text form");
    // A changed character of the text form.
    let mut tampered = text.clone().into_bytes();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    env.cmd()
        .arg("decrypt")
        .write_stdin(tampered)
        .assert()
        .code(3);
    // Foreign and empty input.
    env.cmd()
        .arg("decrypt")
        .write_stdin("hello, I am not a ciphertext")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not a keyvault ciphertext"));
    env.cmd().arg("decrypt").write_stdin("").assert().code(3);
    env.cmd()
        .args(["decrypt", "--in", "missing.kv"])
        .assert()
        .code(5);

    // --json: the ciphertext and the plaintext inside one document each.
    let doc = {
        let out = env
            .cmd()
            .args(["--json", "encrypt", "--key", "k"])
            .write_stdin("json me")
            .output()
            .unwrap();
        common::parse_json(&out.stdout)
    };
    assert_eq!(doc["format"], "envelope");
    assert_eq!(doc["version"], 1);
    let ciphertext = doc["ciphertext"].as_str().unwrap().to_owned();
    let out = env
        .cmd()
        .args(["--json", "decrypt"])
        .write_stdin(ciphertext)
        .output()
        .unwrap();
    let doc = common::parse_json(&out.stdout);
    assert_eq!(doc["plaintext"], "json me");
    assert_eq!(doc["key"], "k");
    assert_eq!(
        Base64::decode_vec(doc["plaintext_base64"].as_str().unwrap()).unwrap(),
        b"json me"
    );

    // --out files for both directions.
    let plain = env.path("p.txt");
    std::fs::write(&plain, "file contents").unwrap();
    let doc = env.json(&[
        "encrypt",
        "--key",
        "k",
        "--format",
        "envelope",
        "--in",
        plain.to_str().unwrap(),
        "--out",
        "p.kv",
    ]);
    assert_eq!(doc["format"], "envelope");
    let doc = env.json(&["decrypt", "--in", "p.kv", "--out", "p.out"]);
    assert_eq!(doc["plaintext_bytes"], 13);
    assert_eq!(std::fs::read(env.path("p.out")).unwrap(), b"file contents");
    no_leftovers(&env);

    // Keys that cannot encrypt: an HMAC key (4), an unknown key (5).
    env.key("mac", &["--algorithm", "hmac-sha256"]);
    env.cmd()
        .args(["encrypt", "--key", "mac"])
        .write_stdin("x")
        .assert()
        .code(4);
    env.cmd()
        .args(["encrypt", "--key", "nope"])
        .write_stdin("x")
        .assert()
        .code(5);
}

#[test]
fn files_stream_in_chunks_and_decrypt_to_the_same_bytes() {
    let env = Env::new();
    env.key("files", &["--algorithm", "aes-256-gcm"]);
    let size = stream_size() + 12_345;
    let plain = env.path("big.bin");
    write_pattern(&plain, size);

    let doc = env.json(&[
        "encrypt",
        "--key",
        "files",
        "--aad",
        "backup.tar",
        "--in",
        "big.bin",
        "--out",
        "big.kvs",
    ]);
    assert_eq!(doc["format"], "stream");
    assert_eq!(doc["plaintext_bytes"].as_u64().unwrap(), size as u64);
    let sealed_len = std::fs::metadata(env.path("big.kvs")).unwrap().len();
    assert_eq!(doc["ciphertext_bytes"].as_u64().unwrap(), sealed_len);
    let chunks = size.div_ceil(64 * 1024) as u64;
    assert!(sealed_len > size as u64 + chunks * 16);
    assert!(sealed_len < size as u64 + chunks * 16 + 200);
    let head = std::fs::read(env.path("big.kvs")).unwrap()[..4].to_vec();
    assert_eq!(&head, b"KVS\x01");

    let doc = env.json(&[
        "decrypt",
        "--aad",
        "backup.tar",
        "--in",
        "big.kvs",
        "--out",
        "big.out",
    ]);
    assert_eq!(doc["format"], "stream");
    assert_eq!(doc["key"], "files");
    assert!(same_files(&plain, &env.path("big.out")));
    no_leftovers(&env);

    // The wrong AAD never gets the data key.
    env.cmd()
        .args(["decrypt", "--in", "big.kvs", "--out", "wrong.out"])
        .assert()
        .code(3);
    assert!(!env.path("wrong.out").exists());

    // Streams also go through stdin and stdout.
    let small = pattern(300_000);
    let sealed = env
        .cmd()
        .args(["encrypt", "--key", "files", "--format", "stream"])
        .write_stdin(small.clone())
        .output()
        .unwrap();
    assert!(sealed.status.success());
    assert!(sealed.stdout.starts_with(b"KVS\x01"));
    let opened = env
        .cmd()
        .arg("decrypt")
        .write_stdin(sealed.stdout)
        .output()
        .unwrap();
    assert!(opened.status.success());
    assert_eq!(opened.stdout, small);

    // An empty file is a stream of one empty final chunk.
    std::fs::write(env.path("empty"), b"").unwrap();
    env.json(&[
        "encrypt",
        "--key",
        "files",
        "--in",
        "empty",
        "--out",
        "empty.kvs",
    ]);
    env.json(&["decrypt", "--in", "empty.kvs", "--out", "empty.out"]);
    assert_eq!(std::fs::read(env.path("empty.out")).unwrap(), b"");

    // --json with a stream on stdout cannot be one JSON document.
    env.cmd()
        .args(["--json", "encrypt", "--key", "files", "--format", "stream"])
        .write_stdin("x")
        .assert()
        .code(2);
    env.cmd()
        .args([
            "--json",
            "decrypt",
            "--in",
            "big.kvs",
            "--aad",
            "backup.tar",
        ])
        .assert()
        .code(2);
}

#[test]
fn damaged_streams_are_refused_and_leave_no_output() {
    let env = Env::new();
    env.key("files", &[]);
    let size = (3 << 20) + 777;
    write_pattern(&env.path("data"), size);
    env.json(&[
        "encrypt", "--key", "files", "--in", "data", "--out", "data.kvs",
    ]);
    let sealed = std::fs::read(env.path("data.kvs")).unwrap();
    let chunk = 64 * 1024 + 16;
    let header = sealed.len() - size - size.div_ceil(64 * 1024) * 16;

    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("cut in the middle", sealed[..sealed.len() / 2].to_vec()),
        (
            "cut at a chunk boundary",
            sealed[..header + 2 * chunk].to_vec(),
        ),
        ("last chunk dropped", sealed[..header + 48 * chunk].to_vec()),
        ("cut one byte short", sealed[..sealed.len() - 1].to_vec()),
        ("header only", sealed[..header].to_vec()),
        ("half a header", sealed[..header / 2].to_vec()),
    ];
    let mut extended = sealed.clone();
    extended.extend_from_slice(&sealed[header..header + chunk]);
    cases.push(("a chunk appended", extended));
    let mut extended = sealed.clone();
    extended.push(0);
    cases.push(("a byte appended", extended));
    let mut swapped = sealed.clone();
    swapped[header..header + chunk].copy_from_slice(&sealed[header + chunk..header + 2 * chunk]);
    swapped[header + chunk..header + 2 * chunk].copy_from_slice(&sealed[header..header + chunk]);
    cases.push(("two chunks swapped", swapped));
    for at in [
        5,
        9,
        header - 1,
        header + 100,
        sealed.len() / 2,
        sealed.len() - 1,
    ] {
        let mut flipped = sealed.clone();
        flipped[at] ^= 0x80;
        cases.push(("a bit flipped", flipped));
    }

    for (what, bytes) in cases {
        std::fs::write(env.path("bad.kvs"), &bytes).unwrap();
        let out = env
            .cmd()
            .args(["decrypt", "--in", "bad.kvs", "--out", "bad.out"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{what}: {stderr}");
        common::assert_one_sentence(&stderr);
        assert!(!env.path("bad.out").exists(), "{what}: output left behind");
        no_leftovers(&env);
    }
    // A previous file at the destination is left untouched by a failed decryption, even one
    // allowed to replace it.
    std::fs::write(env.path("keep.out"), b"precious").unwrap();
    std::fs::write(env.path("bad.kvs"), &sealed[..sealed.len() - 20]).unwrap();
    env.cmd()
        .args(["decrypt", "--in", "bad.kvs", "--out", "keep.out", "--force"])
        .assert()
        .code(3);
    assert_eq!(std::fs::read(env.path("keep.out")).unwrap(), b"precious");
}

#[test]
fn rewrap_moves_envelopes_and_streams_to_the_current_version() {
    let env = Env::new();
    env.key("k", &[]);
    let text = {
        let out = env
            .cmd()
            .args(["encrypt", "--key", "k", "--armor", "--aad", "a"])
            .write_stdin("envelope data")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let binary = env
        .cmd()
        .args(["encrypt", "--key", "k"])
        .write_stdin("binary data")
        .output()
        .unwrap()
        .stdout;
    write_pattern(&env.path("file"), 200_000);
    env.json(&["encrypt", "--key", "k", "--in", "file", "--out", "file.kvs"]);
    env.json(&["key", "rotate", "k"]);

    // Text stays text, and moves to version 2.
    let doc = {
        let out = env
            .cmd()
            .args(["--json", "rewrap", "--aad", "a"])
            .write_stdin(text.clone())
            .output()
            .unwrap();
        assert!(out.status.success());
        common::parse_json(&out.stdout)
    };
    assert_eq!(doc["from_version"], 1);
    assert_eq!(doc["to_version"], 2);
    let rewrapped_text = doc["ciphertext"].as_str().unwrap().to_owned();
    let out = env
        .cmd()
        .args(["rewrap", "--aad", "a"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("kv1:"));
    // Binary stays binary unless --armor.
    let out = env
        .cmd()
        .arg("rewrap")
        .write_stdin(binary.clone())
        .output()
        .unwrap();
    assert!(out.stdout.starts_with(b"KVE"));
    let rewrapped_binary = out.stdout;
    let out = env
        .cmd()
        .args(["rewrap", "--armor"])
        .write_stdin(binary)
        .output()
        .unwrap();
    assert!(out.stdout.starts_with(b"kv1:"));
    // A stream: only its wrapped data key changes.
    let doc = env.json(&["rewrap", "--in", "file.kvs", "--out", "file2.kvs"]);
    assert_eq!(doc["format"], "stream");
    assert_eq!(doc["to_version"], 2);

    // After trimming version 1 away, only the rewrapped forms still open.
    env.json(&["key", "trim", "k", "--min-version", "2"]);
    env.cmd()
        .args(["decrypt", "--aad", "a"])
        .write_stdin(rewrapped_text)
        .assert()
        .success()
        .stdout("envelope data");
    env.cmd()
        .arg("decrypt")
        .write_stdin(rewrapped_binary)
        .assert()
        .success()
        .stdout("binary data");
    env.json(&["decrypt", "--in", "file2.kvs", "--out", "file.out"]);
    assert!(same_files(&env.path("file"), &env.path("file.out")));
    env.cmd()
        .args(["decrypt", "--in", "file.kvs", "--out", "old.out"])
        .assert()
        .code(4);
    assert!(!env.path("old.out").exists());
    // Wrong AAD or a damaged input: 3.
    env.cmd()
        .arg("rewrap")
        .write_stdin("kv1:AAAA")
        .assert()
        .code(3);
}

#[test]
fn data_keys_wrap_under_a_vault_key() {
    let env = Env::new();
    env.key("kek", &[]);
    let doc = env.json(&["datakey", "--key", "kek", "--aad", "db-7"]);
    assert_eq!(doc["version"], 1);
    let plaintext = Base64::decode_vec(doc["plaintext_base64"].as_str().unwrap()).unwrap();
    assert_eq!(plaintext.len(), 32);
    let wrapped = doc["wrapped"].as_str().unwrap().to_owned();
    assert!(wrapped.starts_with("kv1:"));
    // Unwrapping is a decrypt of the wrapped form with the same AAD.
    let out = env
        .cmd()
        .args(["decrypt", "--aad", "db-7"])
        .write_stdin(wrapped)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, plaintext);
    // --wrapped-only prints no plaintext key.
    let doc = env.json(&["datakey", "--key", "kek", "--wrapped-only"]);
    assert!(doc.get("plaintext_base64").is_none());
    env.cmd()
        .args(["datakey", "--key", "kek"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("wrapped    kv1:")
                .and(predicate::str::contains("plaintext  ")),
        );
    // Policy: a key that may not wrap.
    env.key("nowrap", &["--allow", "encrypt,decrypt"]);
    env.cmd()
        .args(["datakey", "--key", "nowrap"])
        .assert()
        .code(4);
}

#[test]
fn macs_verify_and_derivations_are_stable() {
    let env = Env::new();
    env.key("m", &["--algorithm", "hmac-sha256"]);
    std::fs::write(env.path("msg"), b"pay 100 to bob").unwrap();
    let doc = env.json(&["mac", "--key", "m", "--in", "msg"]);
    let tag = doc["tag"].as_str().unwrap().to_owned();
    assert!(tag.starts_with("kvmac1:1:"));
    // The same data from stdin gives the same tag.
    env.cmd()
        .args(["mac", "--key", "m"])
        .write_stdin("pay 100 to bob")
        .assert()
        .success()
        .stdout(format!("{tag}\n"));
    let doc = env.json(&["verify", "--key", "m", "--tag", &tag, "--in", "msg"]);
    assert_eq!(doc["valid"], true);
    env.cmd()
        .args(["verify", "--key", "m", "--tag", &tag])
        .write_stdin("pay 900 to bob")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("does not verify"));
    env.cmd()
        .args(["verify", "--key", "m", "--tag", "not-a-tag"])
        .write_stdin("x")
        .assert()
        .code(2);
    // After a rotation, old tags still verify (version 1 is still enabled).
    env.json(&["key", "rotate", "m"]);
    env.cmd()
        .args(["verify", "--key", "m", "--tag", &tag, "--in", "msg"])
        .assert()
        .success()
        .stdout("valid\n");
    // An AEAD key cannot MAC.
    env.key("aead", &[]);
    env.cmd()
        .args(["mac", "--key", "aead"])
        .write_stdin("x")
        .assert()
        .code(4);

    // Derivation: deterministic per version and context.
    let a = env.json(&[
        "derive",
        "--key",
        "m",
        "--context",
        "app/db",
        "--length",
        "48",
    ]);
    let b = env.json(&[
        "derive",
        "--key",
        "m",
        "--context",
        "app/db",
        "--length",
        "48",
    ]);
    let c = env.json(&[
        "derive",
        "--key",
        "m",
        "--context",
        "app/cache",
        "--length",
        "48",
    ]);
    assert_eq!(a["hex"], b["hex"]);
    assert_ne!(a["hex"], c["hex"]);
    assert_eq!(a["hex"].as_str().unwrap().len(), 96);
    assert_eq!(a["version"], 2);
    env.json(&["key", "rotate", "m"]);
    let d = env.json(&[
        "derive",
        "--key",
        "m",
        "--context",
        "app/db",
        "--length",
        "48",
    ]);
    assert_ne!(a["hex"], d["hex"]);
    env.cmd()
        .args(["derive", "--key", "m", "--context", "x"])
        .assert()
        .success()
        .stdout(predicate::str::is_match("^[0-9a-f]{64}\n$").unwrap());
    env.cmd()
        .args(["derive", "--key", "aead", "--context", "x"])
        .assert()
        .code(4);
}

/// A key allowed to encrypt, decrypt and wrap but not to unwrap cannot recover a data key by
/// decrypting its wrapped form; with unwrap allowed, `decrypt` of a wrapped key unwraps it
/// (checked and audited as `unwrap`). Regression: `decrypt` opened it as data.
#[test]
fn decrypt_opens_a_wrapped_data_key_only_under_unwrap() {
    let env = Env::new();
    env.key("no-unwrap", &["--allow", "encrypt,decrypt,wrap"]);
    let wrapped = env
        .cmd()
        .args(["datakey", "--key", "no-unwrap", "--wrapped-only"])
        .output()
        .unwrap();
    assert!(wrapped.status.success());
    env.cmd()
        .arg("decrypt")
        .write_stdin(wrapped.stdout.clone())
        .assert()
        .code(4)
        .stdout(predicate::str::is_empty());

    env.key("kek", &["--allow", "wrap,unwrap"]);
    let json = env.json(&["datakey", "--key", "kek"]);
    let out = env
        .cmd()
        .arg("decrypt")
        .write_stdin(json["wrapped"].as_str().unwrap().to_owned())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        Base64::encode_string(&out.stdout),
        json["plaintext_base64"].as_str().unwrap()
    );
}
