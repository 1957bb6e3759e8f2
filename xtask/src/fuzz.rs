//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs the libFuzzer targets of `fuzz/` for a
//! bounded time each (default 60 s), with the address sanitizer. `cargo xtask fuzz --smoke`
//! is CI's short run of every target, without a sanitizer.
//!
//! cargo-fuzz needs the compiler's `-Z` sanitizer flags; the stable toolchain here accepts
//! them with `RUSTC_BOOTSTRAP=1`, so no nightly toolchain has to be fetched. Seeds live in
//! `fuzz/corpus/<target>/`; what a run adds there stays untracked unless it found a bug, in
//! which case the input becomes a regression test of the normal suite.

use std::process::Command;

use anyhow::{Result, bail};

use crate::step::{exec, output, project_root, step};

/// The targets that need only `quotecast-shared`: fuzzing only these builds in a minute, not
/// the whole tree.
pub const SHARED_TARGETS: [&str; 4] = ["realtime_frame", "auth_header", "filter", "quote_payload"];

pub const TARGETS: [&str; 7] = [
    "realtime_frame",
    "auth_header",
    "filter",
    "graphql_request",
    "kafka_event",
    "quote_payload",
    "replay_file",
];

fn ensure_cargo_fuzz() -> Result<()> {
    if output(Command::new("cargo").args(["fuzz", "--version"])).is_some() {
        println!("    cargo-fuzz: present");
        return Ok(());
    }
    step("cargo install cargo-fuzz --locked", || {
        exec(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))
    })
}

pub fn run(args: &[String]) -> Result<()> {
    let mut seconds = 60u64;
    let mut targets: Vec<String> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let Some(n) = args.next().and_then(|n| n.parse().ok()) else {
                    bail!("--seconds takes a whole number");
                };
                seconds = n;
            }
            "--smoke" => return smoke(),
            t if TARGETS.contains(&t) => targets.push(t.to_owned()),
            other => bail!(
                "unknown fuzz target or option `{other}`; targets: {}",
                TARGETS.join(", ")
            ),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    let pipeline = targets
        .iter()
        .any(|t| !SHARED_TARGETS.contains(&t.as_str()));
    fuzz(&targets, seconds, Build::Sanitized { pipeline })
}

/// CI's smoke run: every target for a few seconds, built without a sanitizer. The address
/// sanitizer build of the whole tree took 18 min here, this one about 6.5 min; our code is
/// safe Rust, so what a smoke run looks for is panics, which need no sanitizer.
pub fn smoke() -> Result<()> {
    let targets: Vec<String> = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    fuzz(&targets, 5, Build::Smoke)
}

/// How the targets are built.
#[derive(Clone, Copy, PartialEq)]
enum Build {
    /// Address sanitizer, only the crates the chosen targets need.
    Sanitized { pipeline: bool },
    /// No sanitizer, every target.
    Smoke,
}

fn fuzz(targets: &[String], seconds: u64, build: Build) -> Result<()> {
    ensure_cargo_fuzz()?;
    for target in targets {
        step(&format!("fuzz {target} for {seconds}s"), || {
            let corpus = project_root().join("fuzz/corpus").join(target);
            std::fs::create_dir_all(&corpus)?;
            let mut cmd = Command::new("cargo");
            cmd.current_dir(project_root())
                .env("RUSTC_BOOTSTRAP", "1")
                .args(["fuzz", "run", target, "--release", "--debug-assertions"]);
            match build {
                Build::Smoke => {
                    cmd.args(["--sanitizer", "none"]);
                }
                Build::Sanitized { pipeline: false } => {
                    cmd.arg("--no-default-features");
                }
                Build::Sanitized { pipeline: true } => {}
            }
            exec(cmd.arg(&corpus).args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-rss_limit_mb=4096",
            ]))
        })?;
    }
    Ok(())
}
