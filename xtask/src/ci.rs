//! `cargo xtask ci`: every check a change must pass, in the order that fails fastest.

use anyhow::Result;

use crate::setup::{self, WASM_TARGET};
use crate::step::{cargo, exec, step};
use crate::web_tools::{CHROMEDRIVER, tools_path};
use crate::{dashboard, deploy, fuzz, layout, resolvers};

/// proptest's seed in CI (read by every `ProptestConfig` through `PROPTEST_RNG_SEED`).
pub const PROPTEST_SEED: u64 = 20_261_201;

pub fn checks() -> Result<()> {
    setup::run()?;
    // A second: the layout rules no compiler checks (ARCHITECTURE.md, "One crate per AWS
    // service").
    step("layout", layout::check)?;
    // Seconds, and a resolver AppSync would refuse takes the whole stack down at deploy time.
    step("lint-resolvers", resolvers::lint)?;
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
    // The frontend's tests too; shared's tests use proptest, which has no wasm32 build.
    for (package, targets) in [
        ("quotecast-shared", "--lib"),
        ("quotecast-frontend", "--all-targets"),
    ] {
        step(&format!("cargo clippy ({package} on wasm32)"), || {
            exec(cargo().args([
                "clippy",
                "--package",
                package,
                targets,
                "--target",
                WASM_TARGET,
                "--locked",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
    }
    deploy::check_template()?;
    // The e2e tests in `tests/` load this bundle in Chromium.
    dashboard::build()?;
    step("dashboard bundle budget", dashboard::check_budget)?;
    step("wasm-bindgen-test (frontend, headless Chromium)", || {
        exec(
            cargo()
                .args([
                    "test",
                    "--package",
                    "quotecast-frontend",
                    "--target",
                    WASM_TARGET,
                    "--locked",
                ])
                .env("PATH", tools_path())
                .env(
                    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
                    "wasm-bindgen-test-runner",
                )
                .env("CHROMEDRIVER", CHROMEDRIVER),
        )
    })?;
    crate::kafka_auth::say_in_ci();
    // Property tests draw from a fixed seed here, so CI takes the same path every run;
    // a plain `cargo test` keeps proptest's random seed and so keeps searching.
    step(
        &format!("cargo test (PROPTEST_RNG_SEED={PROPTEST_SEED})"),
        || {
            exec(
                cargo()
                    .args(["test", "--workspace", "--locked"])
                    .env("PROPTEST_RNG_SEED", PROPTEST_SEED.to_string()),
            )
        },
    )?;
    step("fuzz smoke run", fuzz::smoke)?;
    Ok(())
}

pub fn run() -> Result<()> {
    step("ci", checks)
}
