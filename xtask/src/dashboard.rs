//! `cargo xtask dashboard`: builds the release bundle of the dashboard (`frontend/dist`) with
//! trunk, offline, with the pinned wasm-bindgen and wasm-opt.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::step::{exec, project_root, step};
use crate::web_tools::{ensure_build_tools, tools_path};

pub fn dist_dir() -> PathBuf {
    project_root().join("frontend/dist")
}

/// Builds the bundle.
pub fn build() -> Result<()> {
    ensure_build_tools()?;
    step("trunk build --release (dashboard)", || {
        exec(
            std::process::Command::new("trunk")
                .current_dir(project_root().join("frontend"))
                .env("PATH", tools_path())
                .args(["build", "--release", "--cargo-profile", "wasm-release"]),
        )
    })
}

/// Builds the bundle unless it is newer than every source it is built from.
pub fn build_if_stale() -> Result<()> {
    let built = modified(&dist_dir().join("index.html"));
    let root = project_root();
    let sources = [
        root.join("frontend"),
        root.join("shared/src"),
        root.join("Cargo.lock"),
    ];
    let newest_source = sources.iter().filter_map(|p| newest(p)).max();
    match (built, newest_source) {
        (Some(built), Some(source)) if built >= source => {
            println!("    dashboard bundle: up to date");
            Ok(())
        }
        _ => build(),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time under `path`, skipping the bundle itself.
fn newest(path: &Path) -> Option<SystemTime> {
    if path == dist_dir() {
        return None;
    }
    let own = modified(path);
    let children = std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| newest(&entry.path()));
    own.into_iter().chain(children).max()
}

/// The dashboard's wasm, gzip-compressed at the best level, may be at most this (issue 16's
/// budget: what a phone on a slow link downloads before the first quote).
pub const WASM_GZIP_BUDGET: usize = 180_000;

/// Fails when the built bundle's wasm is over [`WASM_GZIP_BUDGET`]: a size target is kept by
/// a check, not by a benchmark someone has to remember to run. CI and `cargo xtask dashboard`
/// check it; `cargo xtask dev` does not, so an experiment that is over still runs.
pub fn check_budget() -> Result<()> {
    let dist = dist_dir();
    let wasm = std::fs::read_dir(&dist)
        .with_context(|| format!("{} (build the dashboard first)", dist.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_bg.wasm"))
        .with_context(|| format!("no *_bg.wasm in {}", dist.display()))?;
    let bytes = std::fs::read(&wasm).with_context(|| wasm.display().to_string())?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&bytes)?;
    let compressed = gzip.finish()?.len();
    println!(
        "    {}: {} B, {compressed} B gzip (budget {WASM_GZIP_BUDGET} B)",
        wasm.file_name().unwrap_or_default().to_string_lossy(),
        bytes.len()
    );
    if compressed > WASM_GZIP_BUDGET {
        bail!(
            "the dashboard's wasm is {compressed} B gzip, over its budget of {WASM_GZIP_BUDGET} B \
             (BENCHMARKS.md, \"Dashboard\", says what took the bytes before)"
        );
    }
    Ok(())
}

pub fn run() -> Result<()> {
    step("dashboard", || {
        build()?;
        check_budget()
    })
}
