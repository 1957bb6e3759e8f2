//! Running commands as named, timed steps, so long runs say what they are doing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The workspace root (the parent of `xtask/`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `PATH` with `dirs` in front, so tools installed by xtask win over older ones elsewhere.
pub fn path_with(mut dirs: Vec<PathBuf>) -> std::ffi::OsString {
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// The cargo that started us, so the same toolchain runs every step.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Runs `f` as a step called `name`, printing its start and its duration.
pub fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("==> {name}");
    let started = Instant::now();
    let result = f();
    let secs = started.elapsed().as_secs_f64();
    match &result {
        Ok(_) => println!("<== {name}: ok in {secs:.1}s"),
        Err(_) => println!("<== {name}: FAILED after {secs:.1}s"),
    }
    result.with_context(|| format!("step `{name}` failed"))
}

/// Runs a command to completion, failing on a non-zero exit.
pub fn exec(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} exited with {status}");
    }
    Ok(())
}

/// Runs a command and returns its standard output, or `None` if it cannot run or fails.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds `package` in release mode (only what changed) and returns the path of its binary `bin`.
pub fn release_binary(package: &str, bin: &str) -> Result<PathBuf> {
    step(&format!("cargo build --release -p {package}"), || {
        exec(cargo().args(["build", "--release", "--locked", "-p", package]))
    })?;
    Ok(project_root().join("target/release").join(bin))
}
