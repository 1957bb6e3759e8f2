//! `cargo xtask dev`: builds and runs quotecast locally.
//!
//! Today that is the AppSync-compatible server on http://127.0.0.1:8080 (the embedded
//! broker, the Lambdas and the dashboard join it as they are built). Extra arguments go to
//! `quotecast appsync`, e.g. `cargo xtask dev -- --port 9000`.

use anyhow::Result;

use crate::step::{cargo, exec, project_root, step};

pub fn run(args: &[String]) -> Result<()> {
    step("cargo build --release -p quotecast-local", || {
        exec(cargo().args(["build", "--release", "--locked", "-p", "quotecast-local"]))
    })?;
    let binary = project_root().join("target/release/quotecast");
    let passed = args.iter().skip_while(|a| *a == "--");
    exec(
        std::process::Command::new(binary)
            .arg("appsync")
            .args(passed),
    )
}
