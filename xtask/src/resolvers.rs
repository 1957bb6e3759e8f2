//! `cargo xtask lint-resolvers`: every `schema/resolvers/*.js` checked by AWS's own linter
//! for the APPSYNC_JS runtime (`@aws-appsync/eslint-plugin`, its `recommended` rules with the
//! TypeScript parser), so a resolver that AppSync would refuse — and with it the whole stack —
//! fails here first. `sam validate` and cfn-lint never read resolver code.
//!
//! The linter's pinned npm packages are described by `xtask/appsync-lint/` (package.json,
//! package-lock.json, eslint.config.mjs); `cargo xtask setup` copies them to
//! `target/tools/appsync-lint/` and runs `npm ci` there once per lock file.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::npm_tools::NpmTools;
use crate::step::{exec, project_root, step};

/// The linter: `xtask/appsync-lint/` installed in `target/tools/appsync-lint/`.
const LINTER: NpmTools = NpmTools {
    what: "APPSYNC_JS linter",
    source: "xtask/appsync-lint",
    install: "appsync-lint",
    files: &["package.json", "package-lock.json", "eslint.config.mjs"],
    probe: "node_modules/.bin/eslint",
};
/// The resolvers, all of which are linted.
const RESOLVERS_DIR: &str = "schema/resolvers";

fn eslint() -> PathBuf {
    LINTER.install_dir().join("node_modules/.bin/eslint")
}

/// Installs the linter (idempotent).
pub fn ensure_linter() -> Result<()> {
    LINTER.ensure()
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
    LINTER.copy_definition()?;
    let files = resolvers()?;
    step(
        &format!("eslint, APPSYNC_JS rules ({})", files.join(" ")),
        || {
            exec(
                Command::new(eslint())
                    .current_dir(project_root())
                    .arg("--config")
                    .arg(LINTER.install_dir().join("eslint.config.mjs"))
                    .args(["--max-warnings", "0"])
                    .args(&files),
            )
            .context("a resolver breaks AWS's APPSYNC_JS rules (eslint's report is above)")
        },
    )
}
