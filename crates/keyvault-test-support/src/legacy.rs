//! rust-keyvault 0.2 `FileStore` directories written by hand in that format: a
//! `.vault_metadata.json` and one JSON file per key version, named by the version's id in hex.

use std::path::Path;

use serde_json::json;

/// The creation time every hand-written legacy file carries (2023-11-14).
const CREATED_SECS: u64 = 1_700_000_000;

/// One key version of a legacy store.
#[derive(Clone, Debug)]
pub struct LegacyVersion {
    /// The version's own id.
    pub id: [u8; 16],
    /// The id of the key's first version, shared by all its versions.
    pub base_id: [u8; 16],
    /// The version number, from 1.
    pub version: u32,
    /// "Active", "Deprecated", …
    pub state: &'static str,
    /// 32 raw bytes in a plaintext store, 60 sealed bytes in an encrypted one.
    pub encrypted_key: Vec<u8>,
}

fn created_at() -> serde_json::Value {
    json!({ "secs_since_epoch": CREATED_SECS, "nanos_since_epoch": 0 })
}

/// Create `dir` (if needed) with a store's `.vault_metadata.json` and the key files of
/// `versions` (XChaCha20-Poly1305, never expiring).
pub fn write_store(dir: &Path, versions: &[LegacyVersion]) {
    std::fs::create_dir_all(dir).unwrap();
    let metadata =
        json!({ "salt": vec![7u8; 16], "created_at": created_at(), "format_version": 1 });
    std::fs::write(
        dir.join(".vault_metadata.json"),
        serde_json::to_vec(&metadata).unwrap(),
    )
    .unwrap();
    for version in versions {
        let file = json!({
            "metadata": {
                "id": version.id,
                "base_id": version.base_id,
                "state": version.state,
                "created_at": created_at(),
                "expires_at": null,
                "algorithm": "XChaCha20Poly1305",
                "version": version.version,
            },
            "encrypted_key": version.encrypted_key,
        });
        std::fs::write(
            dir.join(format!("{}.json", hex::encode(version.id))),
            serde_json::to_vec(&file).unwrap(),
        )
        .unwrap();
    }
}
