//! `cargo xtask lint-resolvers`: every `schema/resolvers/*.js` checked by AWS's own linter
//! for the APPSYNC_JS runtime (`@aws-appsync/eslint-plugin`, its `recommended` rules with the
//! TypeScript parser), so a resolver that AppSync would refuse — and with it the whole stack —
//! fails here first. `sam validate` and cfn-lint never read resolver code.
//!
//! The linter's pinned npm packages are described by `xtask/appsync-lint/` (package.json,
//! package-lock.json, eslint.config.mjs); `cargo xtask setup` copies them to
//! `target/tools/appsync-lint/` and runs `npm ci` there once per lock file.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::step::{exec, project_root, step};

/// The linter's committed definition.
const SOURCE_DIR: &str = "xtask/appsync-lint";
/// What is copied from it next to the installed `node_modules`.
const FILES: [&str; 3] = ["package.json", "package-lock.json", "eslint.config.mjs"];
/// The resolvers, all of which are linted.
const RESOLVERS_DIR: &str = "schema/resolvers";

fn source_dir() -> PathBuf {
    project_root().join(SOURCE_DIR)
}

/// Under `target/` like the other npm tools, so `cargo clean` resets it.
fn install_dir() -> PathBuf {
    project_root().join("target/tools/appsync-lint")
}

/// The lock file `npm ci` last installed successfully, to skip installing it again.
fn stamp() -> PathBuf {
    install_dir().join("installed-package-lock.json")
}

fn eslint() -> PathBuf {
    install_dir().join("node_modules/.bin/eslint")
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn copy_definition() -> Result<()> {
    std::fs::create_dir_all(install_dir())
        .with_context(|| format!("creating {}", install_dir().display()))?;
    for file in FILES {
        let (from, to) = (source_dir().join(file), install_dir().join(file));
        std::fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// `name@version` of each pinned package, for messages.
fn pinned() -> Result<String> {
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&source_dir().join("package.json"))?)
            .context("parsing xtask/appsync-lint/package.json")?;
    let deps = manifest["devDependencies"]
        .as_object()
        .context("xtask/appsync-lint/package.json has no devDependencies")?;
    Ok(deps
        .iter()
        .map(|(name, version)| format!("{name}@{}", version.as_str().unwrap_or("?")))
        .collect::<Vec<_>>()
        .join(" "))
}

/// Installs the linter (idempotent: nothing to do when the committed lock file is the one
/// installed).
pub fn ensure_linter() -> Result<()> {
    // The stamp is the manifest and the lock together: a change to either reinstalls.
    let lock =
        read(&source_dir().join("package.json"))? + &read(&source_dir().join("package-lock.json"))?;
    let installed = std::fs::read_to_string(stamp()).ok();
    if installed.as_deref() == Some(lock.as_str()) && eslint().is_file() {
        println!("    APPSYNC_JS linter ({}): present", pinned()?);
        return Ok(());
    }
    step(&format!("npm ci {}", pinned()?), || {
        copy_definition()?;
        exec(Command::new("npm").current_dir(install_dir()).args([
            "ci",
            "--no-audit",
            "--no-fund",
        ]))?;
        std::fs::write(stamp(), &lock).with_context(|| format!("writing {}", stamp().display()))
    })
}

/// Every resolver, as paths relative to the project root, sorted. Anything else in the
/// folder (a subfolder, a `.mjs` or `.ts` file) is refused rather than left unlinted.
fn resolvers() -> Result<Vec<String>> {
    let dir = project_root().join(RESOLVERS_DIR);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".js") && entry.file_type()?.is_file() {
            files.push(format!("{RESOLVERS_DIR}/{name}"));
        } else {
            bail!(
                "{RESOLVERS_DIR}/{name} is not a .js file: every resolver sits directly in \
                 {RESOLVERS_DIR} as APPSYNC_JS, so that the linter checks it"
            );
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("{RESOLVERS_DIR} has no .js resolver to lint");
    }
    Ok(files)
}

/// Lints every resolver; fails with eslint's report when any rule is broken (warnings too,
/// including a resolver the configuration does not cover).
pub fn lint() -> Result<()> {
    ensure_linter()?;
    // The configuration may have changed since the install; the copy is what eslint reads.
    copy_definition()?;
    let files = resolvers()?;
    step(
        &format!("eslint, APPSYNC_JS rules ({})", files.join(" ")),
        || {
            exec(
                Command::new(eslint())
                    .current_dir(project_root())
                    .arg("--config")
                    .arg(install_dir().join("eslint.config.mjs"))
                    .args(["--max-warnings", "0"])
                    .args(&files),
            )
            .context("a resolver breaks AWS's APPSYNC_JS rules (eslint's report is above)")
        },
    )
}
