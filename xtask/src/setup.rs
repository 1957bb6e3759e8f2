//! `cargo xtask setup`: installs, idempotently, what building and testing need.
//!
//! Each requirement knows how to tell whether it is already there, so a second run costs
//! a few process spawns. Recipes follow `../shared/TOOLCHAIN.md` (offline machines: only
//! the package registries are reachable).

use std::process::Command;

use anyhow::Result;

use crate::step::{exec, output, step};
use crate::{deploy, resolvers, web_tools};

/// The rustup target the dashboard and the `shared` crate's wasm check build for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn install_all() -> Result<()> {
    ensure_rustup_component("rustfmt")?;
    ensure_rustup_component("clippy")?;
    ensure_rustup_target(WASM_TARGET)?;
    ensure_librdkafka_build_deps()?;
    web_tools::ensure_all()?;
    resolvers::ensure_linter()?;
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

/// Installs Debian packages, through sudo unless we are root.
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let root = output(Command::new("id").arg("-u")).is_some_and(|u| u.trim() == "0");
    let apt = |args: &[&str]| {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        exec(&mut cmd)
    };
    apt(&["update", "-q"])?;
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend_from_slice(packages);
    apt(&install)
}

pub fn run() -> Result<()> {
    step("setup", install_all)
}

pub fn ensure_rustup_target(target: &str) -> Result<()> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))
        .is_some_and(|list| list.lines().any(|l| l.trim() == target));
    if installed {
        println!("    rustup target {target}: present");
        return Ok(());
    }
    step(&format!("rustup target add {target}"), || {
        exec(Command::new("rustup").args(["target", "add", target]))
    })
}

fn ensure_rustup_component(component: &str) -> Result<()> {
    let installed = output(Command::new("rustup").args(["component", "list", "--installed"]))
        .is_some_and(|list| {
            list.lines()
                .any(|l| l.starts_with(&format!("{component}-")))
        });
    if installed {
        println!("    rustup component {component}: present");
        return Ok(());
    }
    step(&format!("rustup component add {component}"), || {
        exec(Command::new("rustup").args(["component", "add", component]))
    })
}
