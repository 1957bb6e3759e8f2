//! `cargo xtask ci`: every check a change must pass, in the order that fails fastest.

use anyhow::Result;

use crate::setup::{self, WASM_TARGET};
use crate::step::{cargo, exec, step};

pub fn checks() -> Result<()> {
    setup::run()?;
    step("cargo fmt --check", || {
        exec(cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    step("cargo clippy (native, all targets)", || {
        exec(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("cargo clippy (shared on wasm32)", || {
        exec(cargo().args([
            "clippy",
            "--package",
            "quotecast-shared",
            "--target",
            WASM_TARGET,
            "--locked",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("cargo test", || {
        exec(cargo().args(["test", "--workspace", "--locked"]))
    })?;
    Ok(())
}

pub fn run() -> Result<()> {
    step("ci", checks)
}
