//! `cargo xtask kafka-auth`: MSK's authentication against a real SCRAM broker. Installs Tansu
//! (a Kafka-compatible broker in Rust, with SQLite storage) and moto, then runs
//! `tests/tests/kafka_auth.rs`: the producer over SASL_SSL + SCRAM-SHA-512 with its login from
//! an `AmazonMSK_` secret, a wrong password and a wrong mechanism refused at once, and the
//! whole stack (mapping, consumer, AppSync, a subscriber) on the secured cluster.
//!
//! `cargo xtask kafka-auth --serve` starts the same broker and waits, printing the
//! `quotecast dev` command line that runs the stack against it.
//!
//! Not a step of `cargo xtask ci`: building Tansu takes about 12 minutes on two cores, which
//! a fresh machine's CI run cannot spare. `cargo test` runs the test whenever Tansu is
//! installed here, and says SKIPPED when it is not.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use crate::deploy::ensure_moto;
use crate::step::{cargo, exec, output, project_root, step};

/// The Tansu the test was written against (its quirks are in `tests/src/tansu.rs`).
const TANSU_VERSION: &str = "0.6.0";

/// Where Tansu is installed: the test looks here first.
fn tansu_root() -> PathBuf {
    project_root().join("target/tools/tansu")
}

fn tansu_bin() -> PathBuf {
    tansu_root().join("bin/tansu")
}

/// The Tansu `tests/tests/kafka_auth.rs` would find, as it looks (`TANSU_BIN`, ours, `PATH`).
pub fn installed_tansu() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TANSU_BIN") {
        return Some(PathBuf::from(path));
    }
    if tansu_bin().is_file() {
        return Some(tansu_bin());
    }
    output(Command::new("tansu").arg("--version")).map(|_| PathBuf::from("tansu"))
}

/// What `cargo xtask ci` says of the SCRAM test before `cargo test` runs it (a skipped test
/// passes silently there, so CI says it here).
pub fn say_in_ci() {
    match installed_tansu() {
        Some(path) => println!(
            "    kafka-auth: Tansu at {}; cargo test runs tests/tests/kafka_auth.rs",
            path.display()
        ),
        None => println!(
            "    kafka-auth: SKIPPED: Tansu is not installed, so tests/tests/kafka_auth.rs \
             passes without running (`cargo xtask kafka-auth` installs Tansu, ~12 min, and runs it)"
        ),
    }
}

fn ensure_tansu() -> Result<()> {
    let installed = output(Command::new(tansu_bin()).arg("--version"));
    if installed.is_some_and(|v| v.trim() == format!("tansu {TANSU_VERSION}")) {
        println!("    tansu {TANSU_VERSION}: present");
        return Ok(());
    }
    step(
        &format!("cargo install tansu {TANSU_VERSION} --features libsql (~12 min)"),
        || {
            exec(cargo().args([
                "install",
                "--locked",
                "tansu",
                "--version",
                TANSU_VERSION,
                "--features",
                "libsql",
                "--root",
                &tansu_root().display().to_string(),
            ]))
        },
    )
}

pub fn run(args: &[String]) -> Result<()> {
    let serve = match args {
        [] => false,
        [flag] if flag == "--serve" => true,
        [flag] if flag == "--help" || flag == "-h" => {
            println!(
                "cargo xtask kafka-auth [--serve]\n\n  \
                 installs Tansu {TANSU_VERSION} and moto, then proves SASL_SSL + SCRAM-SHA-512 end to end\n  \
                 --serve  run the SCRAM broker behind TLS and print how to point `quotecast dev` at it"
            );
            return Ok(());
        }
        other => bail!("unknown arguments {other:?}; usage: cargo xtask kafka-auth [--serve]"),
    };
    step("install Tansu", ensure_tansu)?;
    if serve {
        return exec(
            cargo()
                .args([
                    "run",
                    "-q",
                    "--locked",
                    "-p",
                    "quotecast-e2e",
                    "--bin",
                    "scram-broker",
                ])
                .env("TANSU_BIN", tansu_bin()),
        );
    }
    step("install moto", ensure_moto)?;
    step(
        "SASL_SSL + SCRAM end to end (tests/tests/kafka_auth.rs)",
        || {
            exec(
                cargo()
                    .args([
                        "test",
                        "--locked",
                        "-p",
                        "quotecast-e2e",
                        "--test",
                        "kafka_auth",
                        "--",
                        "--nocapture",
                    ])
                    .env("TANSU_BIN", tansu_bin()),
            )
        },
    )
}
