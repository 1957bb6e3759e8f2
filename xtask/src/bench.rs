//! `cargo xtask bench [appsync | consumer | producer | e2e | history | dashboard | soak |
//! bodies]`: the benchmarks whose numbers go into BENCHMARKS.md and RELIABILITY.md (all but
//! `soak` and `bodies` when none is named).
//!
//! `appsync` starts the release `quotecast appsync` (or the binary `QUOTECAST_BIN` names) on a
//! free loopback port, runs `quotecast loadtest` against it at the target load (1,000
//! connections × 5 subscriptions over 50 symbols, 1,000 publishes/s = 100,000 deliveries/s)
//! and at three times that, and prints each report with the server's memory. Reports are also written to
//! `target/bench/appsync.txt`.
//!
//! Memory is sampled from `/proc/<pid>/status` every 500 ms while the load runs, and the peak
//! and median are taken over the publish window (between the load generator's "publishing"
//! and "publish window over" lines): reading RSS once the clients have left measured a
//! server that had already freed their buffers, not one under load.

use std::process::Command;

use anyhow::{Result, bail};

use crate::appsync_process::rss_kib;
use crate::bench_load::{PUBLISHING, SETUP, run_loadtest_with, start_bench_server};
use crate::step::{cargo, exec, project_root, release_binary, step};

pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        None => {
            step("bench appsync", appsync)?;
            step("bench consumer", consumer)?;
            step("bench producer", producer)?;
            step("bench e2e", e2e)?;
            step("bench history", history)?;
            step("bench dashboard", dashboard)
        }
        Some("e2e") => step("bench e2e", e2e),
        Some("history") => step("bench history", history),
        Some("dashboard") => step("bench dashboard", dashboard),
        // Ten minutes: run on demand, not with the others.
        Some("soak") => step("bench soak", soak),
        Some("appsync") if args.iter().any(|a| a == "--ladder") => {
            step("bench appsync --ladder", || {
                crate::bench_ladder::run(&args[1..])
            })
        }
        Some("appsync") => step("bench appsync", appsync),
        Some("consumer") => step("bench consumer", consumer),
        Some("producer") => step("bench producer", producer),
        Some("bodies") => step("bench bodies", crate::bench_bodies::run),
        Some(other) => {
            bail!(
                "unknown benchmark `{other}`; \
                 available: appsync, consumer, producer, e2e, history, dashboard, soak, bodies"
            )
        }
    }
}

/// The release `quotecast dev` for ten minutes under 500 subscribers (`tests/benches/soak.rs`;
/// `SOAK_SECS` shortens it).
fn soak() -> Result<()> {
    let binary = release_binary("quotecast", "quotecast")?;
    exec(cargo_bench("quotecast-e2e", "soak").env("QUOTECAST_BIN", &binary))
}

/// `history(limit: 60)` latency while the local stack ingests 1,000 quotes/s
/// (`tests/benches/history.rs`).
fn history() -> Result<()> {
    exec(&mut cargo_bench("quotecast-e2e", "history"))
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

/// Samples a process's RSS every 500 ms, tagged with the phase the load run is in, until
/// `done` is set.
fn sample_rss(
    pid: u32,
    phase: &std::sync::atomic::AtomicU8,
    done: &std::sync::atomic::AtomicBool,
) -> Vec<(u8, u64)> {
    use std::sync::atomic::Ordering;
    let mut samples = Vec::new();
    while !done.load(Ordering::Relaxed) {
        if let Some(kib) = rss_kib(pid) {
            samples.push((phase.load(Ordering::Relaxed), kib));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    samples
}

/// `peak` and `median` of the samples taken while publishing, in MiB, or what went wrong.
fn under_load(samples: &[(u8, u64)]) -> String {
    let mut load: Vec<u64> = samples
        .iter()
        .filter(|(phase, _)| *phase == PUBLISHING)
        .map(|(_, kib)| *kib)
        .collect();
    load.sort_unstable();
    match (load.last(), load.get(load.len() / 2)) {
        (Some(peak), Some(median)) => format!(
            "peak {} MiB, median {} MiB ({} samples, every 500 ms, while publishing)",
            peak / 1024,
            median / 1024,
            load.len()
        ),
        _ => "no sample taken while publishing".to_owned(),
    }
}

fn appsync() -> Result<()> {
    let (binary, server, url) = start_bench_server()?;
    println!("    server at {url}");

    let mut reports = String::new();
    for (label, rate) in [("target load", "1000"), ("three times the target", "3000")] {
        let rss_before = server.rss_kib().unwrap_or(0);
        let phase = std::sync::atomic::AtomicU8::new(SETUP);
        let done = std::sync::atomic::AtomicBool::new(false);
        let (output, samples) = std::thread::scope(|scope| {
            let sampler = scope.spawn(|| sample_rss(server.pid(), &phase, &done));
            let output = step(&format!("loadtest: {label}"), || {
                run_loadtest(&binary, &url, rate, &phase)
            });
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            let samples = sampler.join().unwrap_or_default();
            (output, samples)
        });
        let output = output?;
        let rss_after = server.rss_kib().unwrap_or(0);
        let section = format!(
            "## {label}: {rate} publishes/s\n{output}\nserver RSS         {}; {} MiB before the clients connected, {} MiB after they left\n\n",
            under_load(&samples),
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

/// Runs `quotecast loadtest` at `rate` against `url` and returns its report. Its stderr is
/// passed through, and its progress lines move `phase` on so the memory samples know when
/// publishing started and ended.
fn run_loadtest(
    binary: &std::path::Path,
    url: &str,
    rate: &str,
    phase: &std::sync::atomic::AtomicU8,
) -> Result<String> {
    let args: Vec<String> = [
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
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    run_loadtest_with(
        binary,
        url,
        &args,
        phase,
        &std::sync::atomic::AtomicU32::new(0),
    )
}
