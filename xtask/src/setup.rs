//! `cargo xtask setup`: installs, idempotently, what building and testing need.
//!
//! Each requirement knows how to tell whether it is already there, so a second run costs
//! a few process spawns. Recipes follow `../shared/TOOLCHAIN.md` (offline machines: only
//! the package registries are reachable); the installers every command shares are in
//! `install.rs`.

use std::process::Command;

use anyhow::Result;

use crate::install::{apt_install, ensure_rustup_component, ensure_rustup_target};
use crate::step::step;
use crate::{deploy, npm_tools, resolvers, web_tools};

/// The rustup target the dashboard and the `shared` crate's wasm check build for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn install_all() -> Result<()> {
    ensure_rustup_component("rustfmt")?;
    ensure_rustup_component("clippy")?;
    ensure_rustup_target(WASM_TARGET)?;
    ensure_librdkafka_build_deps()?;
    web_tools::ensure_all()?;
    resolvers::ensure_linter()?;
    npm_tools::RESOLVER_HARNESS.ensure()?;
    deploy::ensure_moto()?;
    Ok(())
}

/// rdkafka builds librdkafka from source: a C toolchain, make, pkg-config and OpenSSL's
/// headers (for SASL_SSL to MSK). Installed from Debian's packages when missing.
fn ensure_librdkafka_build_deps() -> Result<()> {
    let have = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if have("pkg-config", &["--exists", "openssl"])
        && have("cc", &["--version"])
        && have("make", &["--version"])
    {
        println!("    librdkafka build deps (cc, make, pkg-config, libssl-dev): present");
        return Ok(());
    }
    step(
        "apt-get install build-essential pkg-config libssl-dev",
        || apt_install(&["build-essential", "pkg-config", "libssl-dev"]),
    )
}

pub fn run() -> Result<()> {
    step("setup", install_all)
}
