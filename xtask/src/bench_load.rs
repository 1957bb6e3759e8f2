//! What the fan-out benchmarks share (`bench.rs`'s fixed-rate run and `bench_ladder.rs`'s
//! climb): the benchmark server with its API key and IAM writer, and `quotecast loadtest` run
//! against it with its progress turned into phases for the samplers.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::appsync_process::{AppsyncProcess, bench_binary};

pub const API_KEY: &str = "da2-benchmark";
/// The load generator publishes as a writer, with IAM: the API key only reads.
pub const BENCH_ACCESS_KEY_ID: &str = "AKQCBENCHMARK0000000";
pub const BENCH_SECRET: &str = "benchmark/secret/key/not/a/real/one/0000";

/// Which part of the load run a memory sample was taken in, as the load generator's stderr
/// says.
pub const SETUP: u8 = 0;
pub const PUBLISHING: u8 = 1;
pub const DRAINING: u8 = 2;

/// The release `quotecast appsync` (or `QUOTECAST_BIN`) with the benchmark's API key and IAM
/// writer: the binary, the running server and its GraphQL URL.
pub fn start_bench_server() -> Result<(std::path::PathBuf, AppsyncProcess, String)> {
    let binary = bench_binary()?;
    let (server, url) = AppsyncProcess::start(
        &binary,
        &[
            "--api-key",
            API_KEY,
            "--iam-credentials",
            &format!("{BENCH_ACCESS_KEY_ID}:{BENCH_SECRET}"),
        ],
    )?;
    Ok((binary, server, url))
}

/// Runs `quotecast loadtest` against `url` as the benchmark's writer and reader, with `args`
/// (the load's shape), and returns its report; see [`run_loadtest`].
pub fn run_loadtest_with(
    binary: &std::path::Path,
    url: &str,
    args: &[String],
    phase: &std::sync::atomic::AtomicU8,
    generator_pid: &std::sync::atomic::AtomicU32,
) -> Result<String> {
    use std::io::Read;
    use std::sync::atomic::Ordering;
    let mut child = Command::new(binary)
        .args([
            "loadtest",
            "--url",
            url,
            "--api-key",
            API_KEY,
            "--access-key-id",
            BENCH_ACCESS_KEY_ID,
            "--secret-access-key",
            BENCH_SECRET,
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run quotecast loadtest")?;
    generator_pid.store(child.id(), Ordering::Relaxed);
    let mut stdout = child.stdout.take().context("loadtest stdout")?;
    let stderr = child.stderr.take().context("loadtest stderr")?;
    let mut report = String::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.starts_with("loadtest: publish window over") {
                    phase.store(DRAINING, Ordering::Relaxed);
                } else if line.starts_with("loadtest: ") && line.contains("publishing") {
                    phase.store(PUBLISHING, Ordering::Relaxed);
                }
                eprintln!("{line}");
            }
        });
        stdout.read_to_string(&mut report)
    })?;
    let status = child.wait()?;
    if !status.success() {
        bail!("loadtest exited with {status}");
    }
    Ok(report)
}
