//! Backup v1 (full and incremental) from arbitrary bytes. The first input byte picks the mode:
//!
//! - bit 7 clear: the rest is a backup file. `VaultBackup::from_bytes` parses and bounds it;
//!   then `open_with` tries the golden full and incremental keys (derived once). Only an
//!   unmodified golden file may open: anything else fails its MAC.
//! - bit 7 set: the rest is a backup *payload*, sealed by the harness under the golden header
//!   with the golden keys (`BackupTemplate::reseal`), so it passes the password check, the HMAC
//!   and the AEAD and reaches decompression, the payload decoder and the header agreement
//!   checks. Bit 0 picks the full or incremental template; bits 1–2 the body: 0 the payload
//!   uncompressed, 1 compressed by the harness, 2 raw bytes as a zstd stream with a data size
//!   from the next two bytes, 3 compressed with a data size one byte short.
//!
//! Never a panic; the per-file Argon2id is paid once per process, not per execution.
#![no_main]

use keyvault_backup::VaultBackup;
use keyvault_fuzz::{backup_templates, golden};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let templates = backup_templates();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 0x80 == 0 {
        let Ok(file) = VaultBackup::from_bytes(rest.to_vec()) else {
            return;
        };
        let _ = file.metadata();
        let _ = file.encrypted_data();
        for template in templates {
            if file.open_with(&template.key).is_ok() {
                assert!(
                    rest == golden::BACKUP_FULL || rest == golden::BACKUP_INCREMENTAL,
                    "a file that is not a golden one opened with a golden key"
                );
            }
        }
        return;
    }
    let template = &templates[usize::from(mode & 1)];
    let resealed = match (mode >> 1) & 3 {
        0 => template.reseal(rest, false, rest.len() as u64),
        1 => {
            let level = i32::from((mode >> 3) & 3) + 1;
            let Ok(body) = zstd::bulk::compress(rest, level) else {
                return;
            };
            template.reseal(&body, true, rest.len() as u64)
        }
        2 => {
            let Some((size, stream)) = rest.split_at_checked(2) else {
                return;
            };
            let data_size = u64::from(u16::from_be_bytes([size[0], size[1]]));
            template.reseal(stream, true, data_size)
        }
        _ => {
            let Ok(body) = zstd::bulk::compress(rest, 1) else {
                return;
            };
            template.reseal(&body, true, (rest.len() as u64).saturating_sub(1))
        }
    };
    let file = match VaultBackup::from_bytes(resealed) {
        Ok(file) => file,
        Err(err) => panic!("a well-formed re-sealed backup was refused: {err}"),
    };
    if let Ok(snapshot) = file.open_with(&template.key) {
        // What opens agrees with the header, as open_with promises.
        assert_eq!(snapshot.keys().len() as u64, file.metadata().key_count);
        assert_eq!(snapshot.sequence(), file.metadata().sequence);
        assert_eq!(snapshot.audit().is_some(), file.metadata().has_audit_logs);
        assert_eq!(snapshot.base().is_some(), file.base_id().is_some());
    }
});
