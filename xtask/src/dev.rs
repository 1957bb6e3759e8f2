//! `cargo xtask dev`: builds and runs the whole system locally (`quotecast dev`).
//!
//! Extra arguments after `--` go to `quotecast dev`, e.g. `cargo xtask dev -- --port 9000`.
//! The dashboard bundle and the release binary are rebuilt only when their sources changed,
//! so a second run starts fast.

use anyhow::Result;

use crate::dashboard;
use crate::step::{exec, project_root, release_binary};

pub fn run(args: &[String]) -> Result<()> {
    dashboard::build_if_stale()?;
    let binary = release_binary("quotecast", "quotecast")?;
    let passed = args.iter().skip_while(|a| *a == "--");
    exec(
        std::process::Command::new(binary)
            .current_dir(project_root())
            .arg("dev")
            .args(passed),
    )
}
