//! The installers every xtask command shares: Debian packages, rustup targets and
//! components. Each checks first, so calling one again costs a process spawn.
//!
//! Below every other module (it imports only `step`), so a command that installs a tool
//! never imports `setup`, which imports every command's own installer.

use std::process::Command;

use anyhow::Result;

use crate::step::{exec, output, step};

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

pub fn ensure_rustup_component(component: &str) -> Result<()> {
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
