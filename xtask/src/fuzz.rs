//! `cargo xtask fuzz`: build every cargo-fuzz target once, run each for a bounded time with its
//! committed seeds, and print a table of executions, seconds and results. Any crash fails the
//! task, naming the input libFuzzer saved.
//!
//! Each target runs as
//! `cargo +nightly fuzz run <t> fuzz/corpus/<t> fuzz/seeds/<t> -- -max_total_time=N
//! -print_final_stats=1`: the first corpus directory (gitignored) collects what the run finds
//! and is reused by the next run; the seeds are read, never written. libFuzzer's output goes to
//! `fuzz/artifacts/<t>/run.log` (also gitignored), or to the terminal with `--verbose`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// Options of `cargo xtask fuzz`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Seconds to run each target (libFuzzer's -max_total_time).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Run only this target (repeatable); every target by default.
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
    /// Show libFuzzer's output as it runs instead of only writing it to the run log.
    #[arg(long)]
    verbose: bool,
}

/// How one target's run ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Ran for its time without a failure.
    Ok,
    /// libFuzzer found a failing input (crash, panic, leak, timeout, out of memory).
    Crash(Option<String>),
    /// The run failed without a saved input (build or start-up error).
    Error(String),
}

/// One row of the table.
struct Row {
    target: String,
    executions: Option<u64>,
    seconds: f64,
    outcome: Outcome,
    log: PathBuf,
}

/// Runs the task.
pub(crate) fn run(root: &Path, args: &Args) -> Result<()> {
    let fuzz_dir = root.join("fuzz");
    if !fuzz_dir.join("Cargo.toml").is_file() {
        bail!("{} has no Cargo.toml", fuzz_dir.display());
    }
    check_tools(root)?;
    let available = list_targets(root)?;
    let targets = if args.targets.is_empty() {
        available.clone()
    } else {
        let unknown: Vec<&str> = args
            .targets
            .iter()
            .filter(|t| !available.contains(t))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            bail!(
                "unknown fuzz target(s) {}; the targets are: {}",
                unknown.join(", "),
                available.join(", ")
            );
        }
        args.targets.clone()
    };

    build(root, &targets, available.len())?;

    let mut rows = Vec::new();
    for target in &targets {
        println!("fuzzing {target} for {} s ...", args.seconds);
        rows.push(run_target(root, target, args)?);
    }
    print_table(&rows);

    let failed: Vec<&Row> = rows.iter().filter(|r| r.outcome != Outcome::Ok).collect();
    if failed.is_empty() {
        return Ok(());
    }
    for row in &failed {
        match &row.outcome {
            Outcome::Crash(Some(artifact)) => eprintln!(
                "{}: failing input saved to {artifact}; reproduce with `cargo +nightly fuzz run {} {artifact}`",
                row.target, row.target
            ),
            Outcome::Crash(None) | Outcome::Error(_) => {
                eprintln!("{}: see {}", row.target, row.log.display());
            }
            Outcome::Ok => {}
        }
    }
    bail!(
        "{} of {} fuzz target(s) failed: {}",
        failed.len(),
        rows.len(),
        failed
            .iter()
            .map(|r| r.target.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `cargo +nightly ARGS` in `root`: the `cargo` on `PATH`, since only rustup's proxy takes
/// `+nightly`.
fn nightly(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command.arg("+nightly").args(args).current_dir(root);
    command
}

/// Nightly and cargo-fuzz must both be there; say how to get whichever is missing.
fn check_tools(root: &Path) -> Result<()> {
    let works = |args: &[&str]| {
        nightly(root, args)
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if !works(&["--version"]) {
        bail!(
            "the nightly toolchain is not available (cargo +nightly failed); install it with \
             `rustup toolchain install nightly`"
        );
    }
    if !works(&["fuzz", "--version"]) {
        bail!("cargo-fuzz is not installed; install it with `cargo install cargo-fuzz --locked`");
    }
    Ok(())
}

/// The targets `cargo fuzz list` reports (those declared in fuzz/Cargo.toml).
fn list_targets(root: &Path) -> Result<Vec<String>> {
    let out = nightly(root, &["fuzz", "list"])
        .output()
        .context("running cargo +nightly fuzz list")?;
    if !out.status.success() {
        bail!(
            "cargo +nightly fuzz list failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let targets: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if targets.is_empty() {
        bail!("fuzz/Cargo.toml declares no fuzz targets");
    }
    Ok(targets)
}

/// Build once before running: all targets in one cargo invocation when all are run, else each
/// chosen one (cargo-fuzz builds one target or all).
fn build(root: &Path, targets: &[String], available: usize) -> Result<()> {
    let started = Instant::now();
    let builds: Vec<&str> = if targets.len() == available {
        vec![""]
    } else {
        targets.iter().map(String::as_str).collect()
    };
    for target in builds {
        let shown = if target.is_empty() {
            "all fuzz targets"
        } else {
            target
        };
        println!("building {shown} ...");
        let mut command = nightly(root, &["fuzz", "build"]);
        let status = command
            .args((!target.is_empty()).then_some(target))
            .status()
            .context("running cargo +nightly fuzz build")?;
        if !status.success() {
            bail!("cargo +nightly fuzz build failed ({status})");
        }
    }
    println!("built in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn run_target(root: &Path, target: &str, args: &Args) -> Result<Row> {
    let corpus = root.join("fuzz/corpus").join(target);
    let seeds = root.join("fuzz/seeds").join(target);
    let artifacts = root.join("fuzz/artifacts").join(target);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let log_path = artifacts.join("run.log");

    // libFuzzer reports on stderr and cargo-fuzz on both: one pipe carries both, in order, to
    // the log (and the terminal with --verbose).
    let (reader, writer) = std::io::pipe().context("creating a pipe")?;
    let mut command = nightly(root, &["fuzz", "run", target]);
    command
        .arg(&corpus)
        .args(seeds.is_dir().then_some(&seeds))
        .arg("--")
        .arg(format!("-max_total_time={}", args.seconds))
        .arg("-print_final_stats=1")
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting cargo +nightly fuzz run {target}"))?;
    // The command holds the pipe's write ends: drop it so the read below ends with the child.
    drop(command);
    let mut log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut output = String::new();
    for line in BufReader::new(reader).lines().map_while(Result::ok) {
        if args.verbose {
            eprintln!("{line}");
        }
        writeln!(log, "{line}").with_context(|| format!("writing {}", log_path.display()))?;
        output.push_str(&line);
        output.push('\n');
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for the {target} run"))?;
    let seconds = started.elapsed().as_secs_f64();

    let outcome = if status.success() {
        Outcome::Ok
    } else {
        // libFuzzer names every input it saves ("Test unit written to PATH").
        match saved_artifact(&output) {
            Some(artifact) => Outcome::Crash(Some(artifact)),
            None if output.contains("ERROR: libFuzzer") || output.contains("==ERROR") => {
                Outcome::Crash(None)
            }
            None => Outcome::Error(format!("exit {status}")),
        }
    };
    Ok(Row {
        target: target.to_owned(),
        executions: executions(&output),
        seconds,
        outcome,
        log: log_path,
    })
}

/// The path in libFuzzer's "Test unit written to PATH" line, if any.
fn saved_artifact(output: &str) -> Option<String> {
    output.lines().rev().find_map(|line| {
        line.split_once("Test unit written to ")
            .map(|(_, path)| path.trim().to_owned())
    })
}

/// Executions from libFuzzer's output: the final statistics line, else the `#N DONE` line,
/// else the last status line (a run that crashed stops before printing `DONE`).
fn executions(output: &str) -> Option<u64> {
    let stat = output.lines().rev().find_map(|line| {
        line.trim()
            .strip_prefix("stat::number_of_executed_units:")
            .and_then(|n| n.trim().parse().ok())
    });
    stat.or_else(|| {
        let status_lines = output.lines().rev().filter_map(|line| {
            let (count, rest) = line.strip_prefix('#')?.split_once(char::is_whitespace)?;
            Some((
                count.parse::<u64>().ok()?,
                rest.trim_start().starts_with("DONE"),
            ))
        });
        let mut last = None;
        for (count, done) in status_lines {
            if done {
                return Some(count);
            }
            last = last.or(Some(count));
        }
        last
    })
}

fn print_table(rows: &[Row]) {
    let width = rows
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(0)
        .max("target".len());
    println!();
    println!(
        "{:<width$}  {:>12}  {:>8}  {:>9}  result",
        "target", "executions", "seconds", "exec/s"
    );
    for row in rows {
        let executions = row
            .executions
            .map_or_else(|| "-".to_owned(), |n| n.to_string());
        let rate = match row.executions {
            Some(n) if row.seconds > 0.0 => format!("{:.0}", n as f64 / row.seconds),
            _ => "-".to_owned(),
        };
        let result = match &row.outcome {
            Outcome::Ok => "ok".to_owned(),
            Outcome::Crash(Some(artifact)) => format!("CRASH {artifact}"),
            Outcome::Crash(None) => "CRASH (no input saved)".to_owned(),
            Outcome::Error(reason) => format!("ERROR {reason}"),
        };
        println!(
            "{:<width$}  {:>12}  {:>8.1}  {:>9}  {result}",
            row.target, executions, row.seconds, rate
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{executions, saved_artifact};

    const DONE: &str = "\
#2	INITED cov: 310 ft: 312 corp: 1/1b exec/s: 0 rss: 36Mb
#65536	pulse  cov: 410 ft: 900 corp: 40/2Kb lim: 652 exec/s: 21845 rss: 60Mb
#71234	DONE   cov: 410 ft: 903 corp: 41/2Kb lim: 652 exec/s: 23744 rss: 61Mb
Done 71234 runs in 3 second(s)
stat::number_of_executed_units: 71235
stat::average_exec_per_sec:     23745
";

    #[test]
    fn executions_prefer_the_final_statistics() {
        assert_eq!(executions(DONE), Some(71_235));
        let without_stats: String = DONE
            .lines()
            .filter(|l| !l.starts_with("stat::"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(executions(&without_stats), Some(71_234));
    }

    #[test]
    fn a_crashed_run_reports_its_last_status_line() {
        let crashed = "\
#2	INITED cov: 310 ft: 312 corp: 1/1b exec/s: 0 rss: 36Mb
#4096	pulse  cov: 400 ft: 800 corp: 30/1Kb exec/s: 2048 rss: 50Mb
#4391	NEW    cov: 401 ft: 801 corp: 31/1Kb lim: 4096 exec/s: 2195 rss: 50Mb L: 9/9 MS: 1 ChangeBit-
thread '<unnamed>' panicked at fuzz_targets/x.rs:9:5:
==123== ERROR: libFuzzer: deadly signal
artifact_prefix='/w/fuzz/artifacts/x/'; Test unit written to /w/fuzz/artifacts/x/crash-0a1b
";
        assert_eq!(executions(crashed), Some(4391));
        assert_eq!(
            saved_artifact(crashed).as_deref(),
            Some("/w/fuzz/artifacts/x/crash-0a1b")
        );
        assert_eq!(executions("no fuzzer output"), None);
        assert_eq!(saved_artifact(DONE), None);
    }
}
