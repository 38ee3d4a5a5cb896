//! Tests that run part of their work in another process: the test binary starts itself again,
//! running only one "child" test, which reads its instructions from [`CHILD_ENV`]. In an
//! ordinary run the child test finds no instructions and does nothing.
//!
//! A child started under a name that matches no test would run nothing and exit successfully,
//! so [`child_command`] first asks the binary to list the name and fails unless exactly that
//! one test exists.

use std::process::{Command, Stdio};

/// The environment variable that carries a child test's instructions.
pub const CHILD_ENV: &str = "KEYVAULT_TEST_CHILD";

/// In the child test: its instructions, or `None` in an ordinary run (the test then returns).
pub fn child_spec() -> Option<String> {
    let spec = std::env::var(CHILD_ENV).ok()?;
    // End the harness's "test NAME ... " line, so every line the child prints starts afresh.
    println!();
    Some(spec)
}

/// The full test path (as `crash::child_worker`) of the test `name` in the module whose
/// `module_path!()` is `module_path`: the module path without the test binary's own name.
pub fn test_path(module_path: &str, name: &str) -> String {
    match module_path.split_once("::") {
        Some((_binary, module)) => format!("{module}::{name}"),
        None => name.to_owned(),
    }
}

/// This test binary, set to run only `test` (its full path, as `crash::child_worker`, even if
/// it is `#[ignore]`d) with `spec` as its instructions; stdout and stderr are piped.
///
/// # Panics
/// If the binary has no test of exactly that name.
pub fn child_command(test: &str, spec: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let listed = Command::new(&exe)
        .args(["--list", "--exact", test, "--include-ignored"])
        .env_remove(CHILD_ENV)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    let tests: Vec<&str> = listed
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .collect();
    assert_eq!(
        tests,
        [test],
        "the child test {test:?} must exist exactly once in this binary"
    );
    let mut command = Command::new(exe);
    command
        .args([
            "--exact",
            test,
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The child of [`a_child_runs_and_reads_its_instructions`].
    #[test]
    fn child_echo() {
        if let Some(spec) = child_spec() {
            println!("CHILD SAYS {spec}");
        }
    }

    #[test]
    fn a_child_runs_and_reads_its_instructions() {
        let output = child_command(&test_path(module_path!(), "child_echo"), "hello")
            .output()
            .unwrap();
        assert!(output.status.success());
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.lines().any(|line| line == "CHILD SAYS hello"),
            "{stdout}"
        );
    }

    /// A child started under a stale name would run no test and succeed: refused instead.
    #[test]
    #[should_panic(expected = "must exist exactly once")]
    fn a_child_name_that_matches_no_test_is_refused() {
        let _ = child_command(&test_path(module_path!(), "no_such_child"), "");
    }

    #[test]
    fn test_paths_drop_the_binary_name() {
        assert_eq!(
            test_path("it::crash", "child_worker"),
            "crash::child_worker"
        );
        assert_eq!(test_path("interrupted", "child_restore"), "child_restore");
    }
}
