//! What the vector suites share: hex fields and reading the files under `tests/data/`.

#![allow(unreachable_pub)]

use std::path::Path;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

/// A hex string field as bytes (`#[serde(deserialize_with = "hex_bytes")]`).
pub fn hex_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    hex::decode(&text).map_err(D::Error::custom)
}

/// Read and parse the JSON file `tests/data/<relative>`; the error names the file.
pub fn load_json<T: DeserializeOwned>(relative: &str) -> Result<T, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(relative);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))
}
