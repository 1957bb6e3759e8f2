//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs the libFuzzer targets of `fuzz/` for a
//! bounded time each (default 60 s), with the address sanitizer and a fresh random seed: the
//! random campaign. `cargo xtask fuzz --smoke` is CI's run of every target, without a sanitizer
//! and deterministic: the committed corpus only, a fixed seed and a fixed number of runs, so a
//! submission is never red on a bug an earlier run happened not to hit.
//!
//! cargo-fuzz needs the compiler's `-Z` sanitizer flags; the stable toolchain here accepts
//! them with `RUSTC_BOOTSTRAP=1`, so no nightly toolchain has to be fetched. Seeds live in
//! `fuzz/corpus/<target>/`; what a run adds there stays untracked unless it found a bug, in
//! which case the input becomes a regression test of the normal suite.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

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

/// The cargo-fuzz a fresh machine gets (any one already installed is used as it is).
const CARGO_FUZZ_VERSION: &str = "0.13.2";

fn ensure_cargo_fuzz() -> Result<()> {
    if output(Command::new("cargo").args(["fuzz", "--version"])).is_some() {
        println!("    cargo-fuzz: present");
        return Ok(());
    }
    step(
        &format!("cargo install cargo-fuzz {CARGO_FUZZ_VERSION} --locked"),
        || {
            exec(Command::new("cargo").args([
                "install",
                "cargo-fuzz",
                "--version",
                CARGO_FUZZ_VERSION,
                "--locked",
            ]))
        },
    )
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

/// libFuzzer's seed for CI's smoke run. Any fixed value makes the run repeatable.
pub const SMOKE_SEED: u32 = 20_261_201;

/// Executions per target in CI's smoke run: 200,000 took 0–3 s per target here
/// (graphql_request the slowest), so a million is 5–15 s each.
pub const SMOKE_RUNS: u64 = 1_000_000;

/// CI's smoke run: every target, built without a sanitizer (our code is safe Rust, so what a
/// smoke run looks for is panics; the address-sanitizer build of the whole tree took 18 min
/// here, this one about 6.5 min). Deterministic: it starts from a copy of the committed corpus
/// (`git ls-files`, never what earlier local runs added), with [`SMOKE_SEED`] and
/// [`SMOKE_RUNS`], so the same commit takes the same path every time.
pub fn smoke() -> Result<()> {
    ensure_cargo_fuzz()?;
    for target in TARGETS {
        step(
            &format!("fuzz {target}: committed corpus, seed {SMOKE_SEED}, {SMOKE_RUNS} runs"),
            || {
                let corpus = committed_corpus(target)?;
                let mut cmd = fuzz_command(target, Build::Smoke);
                exec(cmd.arg(&corpus).args([
                    "--",
                    &format!("-seed={SMOKE_SEED}"),
                    &format!("-runs={SMOKE_RUNS}"),
                    "-rss_limit_mb=4096",
                ]))
            },
        )?;
    }
    Ok(())
}

/// A scratch copy of the corpus files git tracks for `target`, so inputs earlier local runs
/// left in `fuzz/corpus/` (untracked) change nothing, and the smoke run adds nothing there.
fn committed_corpus(target: &str) -> Result<PathBuf> {
    let root = project_root();
    let scratch = root.join("target/fuzz-smoke-corpus").join(target);
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    std::fs::create_dir_all(&scratch)?;
    let dir = format!("fuzz/corpus/{target}");
    let Some(listing) = output(
        Command::new("git")
            .current_dir(&root)
            .args(["ls-files", "-z", "--", &dir]),
    ) else {
        bail!("`git ls-files {dir}` failed: the smoke run needs a git checkout");
    };
    let files: Vec<&str> = listing.split('\0').filter(|f| !f.is_empty()).collect();
    if files.is_empty() {
        bail!("no committed corpus in {dir}: commit at least one seed input");
    }
    for file in files {
        let source = root.join(file);
        let Some(name) = source.file_name() else {
            continue;
        };
        std::fs::copy(&source, scratch.join(name))
            .with_context(|| format!("cannot copy {}", source.display()))?;
    }
    Ok(scratch)
}

/// How the targets are built.
#[derive(Clone, Copy, PartialEq)]
enum Build {
    /// Address sanitizer, only the crates the chosen targets need.
    Sanitized { pipeline: bool },
    /// No sanitizer, every target.
    Smoke,
}

/// `cargo fuzz run TARGET` with the flags of `build`; the caller adds the corpus and
/// libFuzzer's options.
fn fuzz_command(target: &str, build: Build) -> Command {
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
    cmd
}

fn fuzz(targets: &[String], seconds: u64, build: Build) -> Result<()> {
    ensure_cargo_fuzz()?;
    for target in targets {
        step(&format!("fuzz {target} for {seconds}s"), || {
            let corpus = project_root().join("fuzz/corpus").join(target);
            std::fs::create_dir_all(&corpus)?;
            exec(fuzz_command(target, build).arg(&corpus).args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-rss_limit_mb=4096",
            ]))
        })?;
    }
    Ok(())
}
