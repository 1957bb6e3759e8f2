//! `cargo xtask dashboard`: builds the release bundle of the dashboard (`frontend/dist`) with
//! trunk, offline, with the pinned wasm-bindgen and wasm-opt.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;

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

pub fn run() -> Result<()> {
    step("dashboard", build)
}
