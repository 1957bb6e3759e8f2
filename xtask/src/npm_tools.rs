//! npm packages pinned in the repository and installed under `target/tools/`: each is a
//! folder of `xtask/` holding package.json and package-lock.json (and whatever files go with
//! them), copied to `target/tools/<name>/` where `npm ci` runs once per lock file. Used for
//! AWS's APPSYNC_JS linter (`resolvers.rs`) and AWS's JavaScript SDK for the resolver harness.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::step::{exec, project_root, step};

/// One pinned set of npm packages.
pub struct NpmTools {
    /// What `cargo xtask setup` prints while installing it.
    pub what: &'static str,
    /// The committed definition, relative to the project root (`xtask/appsync-lint`).
    pub source: &'static str,
    /// Under `target/tools/`, so `cargo clean` resets it.
    pub install: &'static str,
    /// Files copied from `source` next to the installed `node_modules`.
    pub files: &'static [&'static str],
    /// A path under the install folder that exists once the install worked.
    pub probe: &'static str,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

impl NpmTools {
    pub fn source_dir(&self) -> PathBuf {
        project_root().join(self.source)
    }

    pub fn install_dir(&self) -> PathBuf {
        project_root().join("target/tools").join(self.install)
    }

    /// The lock file `npm ci` last installed successfully, to skip installing it again.
    fn stamp(&self) -> PathBuf {
        self.install_dir().join("installed-package-lock.json")
    }

    /// Copies the definition's files next to the installed packages (a configuration file
    /// may change without the lock file changing).
    pub fn copy_definition(&self) -> Result<()> {
        let install = self.install_dir();
        std::fs::create_dir_all(&install)
            .with_context(|| format!("creating {}", install.display()))?;
        for file in self.files {
            let (from, to) = (self.source_dir().join(file), install.join(file));
            std::fs::copy(&from, &to)
                .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        }
        Ok(())
    }

    /// `name@version` of each pinned package, for messages.
    fn pinned(&self) -> Result<String> {
        let manifest: serde_json::Value =
            serde_json::from_str(&read(&self.source_dir().join("package.json"))?)
                .with_context(|| format!("parsing {}/package.json", self.source))?;
        let deps = manifest["devDependencies"]
            .as_object()
            .with_context(|| format!("{}/package.json has no devDependencies", self.source))?;
        Ok(deps
            .iter()
            .map(|(name, version)| format!("{name}@{}", version.as_str().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(" "))
    }

    /// Installs the packages (idempotent: nothing to do when the committed manifest and lock
    /// file are the ones installed).
    pub fn ensure(&self) -> Result<()> {
        let lock = read(&self.source_dir().join("package.json"))?
            + &read(&self.source_dir().join("package-lock.json"))?;
        let installed = std::fs::read_to_string(self.stamp()).ok();
        if installed.as_deref() == Some(lock.as_str())
            && self.install_dir().join(self.probe).exists()
        {
            println!("    {} ({}): present", self.what, self.pinned()?);
            return Ok(());
        }
        step(&format!("npm ci {}", self.pinned()?), || {
            self.copy_definition()?;
            exec(Command::new("npm").current_dir(self.install_dir()).args([
                "ci",
                "--no-audit",
                "--no-fund",
            ]))?;
            std::fs::write(self.stamp(), &lock)
                .with_context(|| format!("writing {}", self.stamp().display()))
        })
    }
}

/// AWS's JavaScript SDK v3 for the resolver harness (`tests/resolvers/`,
/// `tests/tests/resolvers.rs`).
pub const RESOLVER_HARNESS: NpmTools = NpmTools {
    what: "AWS SDK for JavaScript, resolver harness",
    source: "xtask/resolver-harness",
    install: "resolver-harness",
    files: &["package.json", "package-lock.json"],
    probe: "node_modules/@aws-sdk/client-dynamodb",
};
