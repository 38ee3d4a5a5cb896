//! Password prompts under a pseudo-terminal: with no password in the environment, `keyvault`
//! asks on the terminal without echo (twice when a password is being set). The terminal comes
//! from util-linux's `script`, which runs the binary on a new pty and relays this test's
//! writes to it; the test answers each prompt once it has appeared.

use crate::common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{CHEAP_ARGON2, Env, binary};

/// `script`, if this machine has it.
fn script() -> Option<&'static str> {
    ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
}

/// Run `keyvault ARGS` on a pty, answering each prompt in turn; returns the exit code and
/// everything the terminal showed.
fn on_terminal(env: &Env, args: &str, answers: &[(&str, &str)]) -> Option<(i32, String)> {
    let script = script()?;
    let command = format!(
        "'{}' --vault '{}' {args}",
        binary().display(),
        env.vault.display()
    );
    let mut cmd = Command::new(script);
    cmd.args(["-q", "-e", "-c", &command, "/dev/null"]);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KEYVAULT_") {
            cmd.env_remove(key);
        }
    }
    let mut child = cmd
        .env("KEYVAULT_ARGON2", CHEAP_ARGON2)
        .env("TERM", "dumb")
        .current_dir(env.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sender.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (prompt, answer) in answers {
        while !seen.contains(prompt) {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!("no prompt {prompt:?}; the terminal showed {seen:?}"),
            }
        }
        // Let the prompt's reader switch echo off before typing, as a person would.
        std::thread::sleep(Duration::from_millis(200));
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        seen = seen.replacen(prompt, &format!("<{prompt} answered>"), 1);
    }
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "keyvault did not finish: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    reader.join().unwrap();
    while let Ok(bytes) = receiver.try_recv() {
        seen.push_str(&String::from_utf8_lossy(&bytes));
    }
    Some((status.code().unwrap_or(-1), seen))
}

#[test]
fn passwords_are_asked_on_the_terminal_without_echo() {
    let env = Env::empty();
    let password = "typed at the prompt 42";
    let Some((code, shown)) = on_terminal(
        &env,
        "init",
        &[
            ("Vault password: ", password),
            ("Repeat the vault password: ", password),
        ],
    ) else {
        eprintln!("skipped: util-linux script is not installed");
        return;
    };
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("created a vault"), "{shown}");
    assert!(
        !shown.contains(password),
        "the password was echoed: {shown}"
    );
    assert!(env.vault.exists());

    // The vault opens with the typed password, from the prompt and from the environment.
    let (code, shown) = on_terminal(&env, "status", &[("Vault password: ", password)]).unwrap();
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("audit records"), "{shown}");
    env.bare()
        .env("KEYVAULT_PASSWORD", password)
        .arg("status")
        .assert()
        .success();

    // A wrong answer: exit code 3.
    let (code, shown) = on_terminal(&env, "status", &[("Vault password: ", "not it")]).unwrap();
    assert_eq!(code, 3, "{shown}");
    assert!(shown.contains("wrong password"), "{shown}");
}

#[test]
fn a_new_password_must_be_typed_the_same_twice() {
    let env = Env::empty();
    let Some((code, shown)) = on_terminal(
        &env,
        "init",
        &[
            ("Vault password: ", "first answer"),
            ("Repeat the vault password: ", "second answer"),
        ],
    ) else {
        eprintln!("skipped: util-linux script is not installed");
        return;
    };
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("do not match"), "{shown}");
    assert!(!env.vault.exists());
}
