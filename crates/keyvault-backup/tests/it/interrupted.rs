//! A restore killed part way (SIGKILL of the restoring process at spread-out moments) leaves
//! either no vault at the target path or the complete vault — never a partial one.

use crate::common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{backup_config, name, options, vault};
use keyvault_backup::{VaultBackup, create_backup, restore_to_file};
use keyvault_core::KeyAlgorithm;
use keyvault_store::{FileVault, KeyFilter, NewKey};
use keyvault_test_support::child::{child_command, child_spec, test_path};

const KEYS: usize = 300;
const PW: &[u8] = b"interrupted";

/// The child: restore the backup named by its instructions (`backup path,target path`), then
/// exit.
#[test]
#[ignore = "run by interrupted_restores_leave_no_partial_vault in a child process"]
fn child_restore() {
    let Some(spec) = child_spec() else {
        return;
    };
    let (backup, target) = spec.split_once(',').unwrap();
    let backup = VaultBackup::read_file(PathBuf::from(backup)).unwrap();
    restore_to_file(PathBuf::from(target), &[backup], PW, PW, options()).unwrap();
}

#[test]
fn interrupted_restores_leave_no_partial_vault() {
    let dir = tempfile::tempdir().unwrap();
    let source = vault();
    for i in 0..KEYS {
        source
            .create_key(NewKey::new(name(&format!("k{i}")), KeyAlgorithm::default()))
            .unwrap();
    }
    let backup_path = dir.path().join("full.kvbk");
    create_backup(&source, &backup_config(PW))
        .unwrap()
        .write_file(&backup_path)
        .unwrap();

    let child_test = test_path(module_path!(), "child_restore");
    let spawn = |target: &PathBuf| {
        let spec = format!("{},{}", backup_path.display(), target.display());
        child_command(&child_test, &spec)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long a whole restore takes here, to spread the kills over it.
    let started = Instant::now();
    let complete = dir.path().join("complete.db");
    assert!(spawn(&complete).wait().unwrap().success());
    let full = started.elapsed();
    let (mut absent, mut whole) = (0, 0);
    for round in 0..10u32 {
        let target = dir.path().join(format!("round{round}.db"));
        let mut child = spawn(&target);
        std::thread::sleep(full.mul_f64(f64::from(round) / 6.0));
        let _ = child.kill();
        child.wait().unwrap();
        if target.exists() {
            let restored = FileVault::open_file(&target, PW, options()).unwrap();
            assert_eq!(
                restored.list_keys(&KeyFilter::default()).unwrap().len(),
                KEYS
            );
            restored.verify_audit().unwrap();
            whole += 1;
        } else {
            absent += 1;
        }
    }
    println!(
        "interrupted restores: {absent} left no vault, {whole} left the complete vault, 0 partial \
         (a whole restore took {full:?})"
    );
    let _ = Duration::ZERO;
}
