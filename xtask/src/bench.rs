//! `cargo xtask bench [appsync | consumer | producer | e2e | dashboard | soak]`: the benchmarks whose
//! numbers go into BENCHMARKS.md and RELIABILITY.md (all but `soak` when none is named).
//!
//! `appsync` starts the release `quotecast appsync` on a free loopback port, runs
//! `quotecast loadtest` against it at the target load (1,000 connections × 5 subscriptions
//! over 50 symbols, 1,000 publishes/s = 100,000 deliveries/s) and at three times that, and
//! prints each report with the server's memory before and after. Reports are also written to
//! `target/bench/appsync.txt`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::step::{cargo, exec, project_root, release_binary, step};

const API_KEY: &str = "da2-benchmark";
/// The load generator publishes as a writer, with IAM: the API key only reads.
const BENCH_ACCESS_KEY_ID: &str = "AKQCBENCHMARK0000000";
const BENCH_SECRET: &str = "benchmark/secret/key/not/a/real/one/0000";

pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        None => {
            step("bench appsync", appsync)?;
            step("bench consumer", consumer)?;
            step("bench producer", producer)?;
            step("bench e2e", e2e)?;
            step("bench dashboard", dashboard)
        }
        Some("e2e") => step("bench e2e", e2e),
        Some("dashboard") => step("bench dashboard", dashboard),
        // Ten minutes: run on demand, not with the others.
        Some("soak") => step("bench soak", soak),
        Some("appsync") => step("bench appsync", appsync),
        Some("consumer") => step("bench consumer", consumer),
        Some("producer") => step("bench producer", producer),
        Some(other) => {
            bail!(
                "unknown benchmark `{other}`; \
                 available: appsync, consumer, producer, e2e, dashboard, soak"
            )
        }
    }
}

/// The release `quotecast dev` for ten minutes under 500 subscribers (`tests/benches/soak.rs`;
/// `SOAK_SECS` shortens it).
fn soak() -> Result<()> {
    let binary = release_binary("quotecast-local", "quotecast")?;
    exec(cargo_bench("quotecast-e2e", "soak").env("QUOTECAST_BIN", &binary))
}

/// Producer send → WebSocket receipt through the whole local path (`tests/benches/e2e.rs`).
fn e2e() -> Result<()> {
    exec(&mut cargo_bench("quotecast-e2e", "e2e"))
}

/// The release bundle's size, page load → first quote, and 1,000 updates/s over 50 tickers in
/// headless Chromium (`tests/benches/dashboard.rs`).
fn dashboard() -> Result<()> {
    crate::web_tools::ensure_all()?;
    crate::dashboard::build()?;
    exec(&mut cargo_bench("quotecast-e2e", "dashboard"))
}

/// Quotes per second into the embedded broker with deliveries confirmed
/// (`functions/producer/benches/publish.rs`).
fn producer() -> Result<()> {
    exec(&mut cargo_bench("quotecast-producer", "publish"))
}

/// The consumer handler's throughput into the local server, and the release binary's cold
/// start under a stand-in Lambda Runtime API (`tests/benches/consumer.rs`).
fn consumer() -> Result<()> {
    let binary = release_binary("quotecast-consumer", "quotecast-consumer")?;
    step("cargo bench -p quotecast-e2e --bench consumer", || {
        exec(cargo_bench("quotecast-e2e", "consumer").env("QUOTECAST_CONSUMER_BIN", &binary))
    })
}

/// `cargo bench --locked -p <package> --bench <bench>`.
fn cargo_bench(package: &str, bench: &str) -> Command {
    let mut cmd = cargo();
    cmd.args(["bench", "--locked", "-p", package, "--bench", bench]);
    cmd
}

/// The server process, killed when dropped so a failed run leaves nothing behind.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ServerProcess {
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

fn appsync() -> Result<()> {
    let binary = release_binary("quotecast-local", "quotecast")?;
    let mut child = Command::new(&binary)
        .args([
            "appsync",
            "--listen",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            API_KEY,
            "--iam-credentials",
            &format!("{BENCH_ACCESS_KEY_ID}:{BENCH_SECRET}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let stdout = child.stdout.take().context("server stdout")?;
    let server = ServerProcess(child);
    let mut url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(u) = line.trim().strip_prefix("GraphQL:") {
            url = Some(u.trim().to_owned());
            break;
        }
    }
    let url = url.context("the server did not print its GraphQL URL")?;
    println!("    server at {url}");

    let mut reports = String::new();
    for (label, rate) in [("target load", "1000"), ("three times the target", "3000")] {
        let rss_before = server.rss_kib().unwrap_or(0);
        let output = step(&format!("loadtest: {label}"), || {
            let out = Command::new(&binary)
                .args([
                    "loadtest",
                    "--url",
                    &url,
                    "--api-key",
                    API_KEY,
                    "--access-key-id",
                    BENCH_ACCESS_KEY_ID,
                    "--secret-access-key",
                    BENCH_SECRET,
                    "--connections",
                    "1000",
                    "--subscriptions",
                    "5",
                    "--symbols",
                    "50",
                    "--rate",
                    rate,
                    "--batch",
                    "10",
                    "--duration-secs",
                    "20",
                    "--warmup-secs",
                    "2",
                ])
                .stderr(Stdio::inherit())
                .output()
                .context("cannot run quotecast loadtest")?;
            if !out.status.success() {
                bail!("loadtest exited with {}", out.status);
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        })?;
        let rss_after = server.rss_kib().unwrap_or(0);
        let section = format!(
            "## {label}: {rate} publishes/s\n{output}\nserver RSS         {} MiB before, {} MiB after\n\n",
            rss_before / 1024,
            rss_after / 1024
        );
        print!("{section}");
        reports.push_str(&section);
    }
    let dir = project_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("appsync.txt"), reports)?;
    println!("    reports written to target/bench/appsync.txt");
    Ok(())
}
