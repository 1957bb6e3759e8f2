//! `cargo xtask bench appsync --ladder`: where the fan-out's knee is. A fixed-rate run says
//! whether one load passes; this climbs publish rates on one server until the tail from the
//! schedule passes 50 ms or deliveries stop tracking the offered rate, and prints, per rung,
//! what was offered and delivered, the latency, the server's and the generator's CPU per
//! delivery (and how much of it the kernel spent), and the server's RSS.
//!
//! The measurement rules are the fixed-rate bench's (`quotecast loadtest`): latency from each
//! request's scheduled send time (no coordinated omission), deliveries counted only inside
//! the window (the drain is not credited), server and generator on the same cores. CPU is
//! the server's `utime + stime` (`/proc/<pid>/stat`) between the first and last sample taken
//! while publishing, divided by the in-window delivery rate times that span: an estimate (the
//! span includes the warm-up, and can run past the window when the publisher falls behind).
//! The same span gives each process's busy cores (CPU seconds per second), so a rung says
//! how much of the machine the server and the generator left to each other.
//! `QUOTECAST_BIN` picks the server build and `QUOTECAST_LOADTEST_BIN` the load generator's
//! (default: the same), so two servers can be compared under one generator.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::appsync_process::rss_kib;
use crate::bench_load::{PUBLISHING, SETUP, run_loadtest_with, start_bench_server};
use crate::step::project_root;

/// The tail a rung must keep, from the schedule.
const P99_LIMIT_MS: f64 = 50.0;
/// Deliveries inside the window must reach this share of the offered rate.
const TRACKING: f64 = 0.97;
/// The start of each rung whose latencies are not recorded.
const WARMUP_SECS: u64 = 2;
/// Distinct symbols the subscriptions spread over: each publish matches
/// `connections × subscriptions / SYMBOLS` of them.
const SYMBOLS: usize = 50;

/// What to climb.
struct Ladder {
    connections: usize,
    subscriptions: usize,
    /// Offered deliveries/s of the first rung, and the step between rungs.
    start: u64,
    step: u64,
    /// The last rung tried, even if every one passes.
    max: u64,
    /// Publishes per HTTP request.
    batch: usize,
    seconds: u64,
}

impl Ladder {
    fn parse(args: &[String]) -> Result<Ladder> {
        let mut ladder = Ladder {
            connections: 1000,
            subscriptions: 5,
            start: 200_000,
            step: 200_000,
            max: 2_400_000,
            batch: 10,
            seconds: 10,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut number = |name: &str| -> Result<u64> {
                args.next()
                    .and_then(|v| v.replace('_', "").parse().ok())
                    .with_context(|| format!("{name} takes a whole number"))
            };
            match arg.as_str() {
                "--ladder" => {}
                "--connections" => ladder.connections = number("--connections")? as usize,
                "--subscriptions" => ladder.subscriptions = number("--subscriptions")? as usize,
                "--start" => ladder.start = number("--start")?,
                "--step" => ladder.step = number("--step")?,
                "--max" => ladder.max = number("--max")?,
                "--batch" => ladder.batch = number("--batch")? as usize,
                "--seconds" => ladder.seconds = number("--seconds")?,
                other => bail!(
                    "unknown option `{other}`; usage: cargo xtask bench appsync --ladder \
                     [--connections N] [--subscriptions N] [--start DELIVERIES/S] \
                     [--step DELIVERIES/S] [--max DELIVERIES/S] [--batch N] [--seconds N]"
                ),
            }
        }
        if ladder.connections * ladder.subscriptions < SYMBOLS || ladder.step == 0 {
            bail!("the ladder needs at least {SYMBOLS} subscriptions and a step above 0");
        }
        if ladder.seconds <= WARMUP_SECS {
            bail!(
                "--seconds must be above the {WARMUP_SECS} s warm-up, whose latencies are not recorded"
            );
        }
        Ok(ladder)
    }

    /// Subscriptions one publish reaches.
    fn fan_out(&self) -> u64 {
        (self.connections * self.subscriptions / SYMBOLS) as u64
    }
}

/// What a rung's verdict and row read from the load test's `--json` report.
const REPORT_KEYS: [&str; 6] = [
    "deliveries_per_sec",
    "delivered_pct",
    "latency_p50_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "behind_schedule_max_ms",
];

/// One rung's outcome.
struct Rung {
    offered: u64,
    report: serde_json::Value,
    /// CPU per delivery in the window: (server, generator).
    per_delivery: Option<(Cpu, Cpu)>,
    /// CPU seconds per second while publishing: (server, generator).
    busy_cores: Option<(f64, f64)>,
    rss_peak_mib: Option<u64>,
}

impl Rung {
    fn number(&self, key: &str) -> f64 {
        self.report[key].as_f64().unwrap_or(0.0)
    }

    fn passes(&self) -> bool {
        self.number("latency_p99_ms") <= P99_LIMIT_MS
            && self.number("deliveries_per_sec") >= TRACKING * self.offered as f64
            && self.number("delivered_pct") >= 100.0
    }

    fn row(&self) -> String {
        format!(
            "| {} | {:.0} | {:.3} % | {:.1} / {:.1} / {:.1} ms | {:.1} ms | {} | {} | {} | {} | {} |",
            self.offered,
            self.number("deliveries_per_sec"),
            self.number("delivered_pct"),
            self.number("latency_p50_ms"),
            self.number("latency_p99_ms"),
            self.number("latency_max_ms"),
            self.number("behind_schedule_max_ms"),
            self.per_delivery
                .map_or("—".to_owned(), |(server, _)| server.per_delivery()),
            self.per_delivery
                .map_or("—".to_owned(), |(_, generator)| generator.per_delivery()),
            self.busy_cores
                .map_or("—".to_owned(), |(s, g)| format!("{s:.2} + {g:.2}")),
            self.rss_peak_mib
                .map_or("—".to_owned(), |r| format!("{r} MiB")),
            if self.passes() { "pass" } else { "over" },
        )
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let ladder = Ladder::parse(args)?;
    let (binary, server, url) = start_bench_server()?;
    // Comparing two servers means one load generator for both: `QUOTECAST_LOADTEST_BIN`
    // names it (else the server's own binary generates the load).
    let generator = std::env::var_os("QUOTECAST_LOADTEST_BIN")
        .map_or_else(|| binary.clone(), std::path::PathBuf::from);
    let fan_out = ladder.fan_out();
    println!(
        "    ladder at {} × {} ({fan_out} subscriptions per publish), batch {}, {} s per rung; server at {url}",
        ladder.connections, ladder.subscriptions, ladder.batch, ladder.seconds
    );
    let header = "| offered deliveries/s | delivered/s inside the window | delivered | latency from the schedule p50 / p99 / max | publisher behind, max | server CPU per delivery (in the kernel) | generator CPU per delivery (in the kernel) | cores busy, server + generator | server RSS peak | |\n|---|---|---|---|---|---|---|---|---|---|";
    println!("{header}");
    let mut rows = vec![header.to_owned()];
    let mut knee: Option<u64> = None;
    let mut offered = ladder.start;
    while offered <= ladder.max {
        let rung = climb(&ladder, &generator, &url, server.pid(), offered)?;
        println!("{}", rung.row());
        rows.push(rung.row());
        if !rung.passes() {
            break;
        }
        knee = Some(offered);
        offered += ladder.step;
    }
    let summary = match knee {
        Some(knee) => format!(
            "knee: {knee} deliveries/s ({} publishes/s) at {} × {}: the last rung with p99 ≤ {P99_LIMIT_MS} ms from the schedule and ≥ {:.0} % of the offered rate delivered inside the window",
            knee / fan_out,
            ladder.connections,
            ladder.subscriptions,
            TRACKING * 100.0
        ),
        None => format!("knee: below the first rung ({})", ladder.start),
    };
    println!("{summary}");
    let dir = project_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(format!(
        "appsync-ladder-{}x{}.txt",
        ladder.connections, ladder.subscriptions
    ));
    std::fs::write(&file, format!("{}\n{summary}\n", rows.join("\n")))?;
    println!("    written to {}", file.display());
    Ok(())
}

/// Runs one rung at `offered` deliveries/s against the server `pid` serves at `url`, the
/// load generated by `binary`'s `quotecast loadtest`.
fn climb(
    ladder: &Ladder,
    binary: &std::path::Path,
    url: &str,
    pid: u32,
    offered: u64,
) -> Result<Rung> {
    let rate = (offered / ladder.fan_out()).max(1);
    let phase = AtomicU8::new(SETUP);
    let done = AtomicBool::new(false);
    let generator_pid = AtomicU32::new(0);
    let args: Vec<String> = [
        "--connections",
        &ladder.connections.to_string(),
        "--subscriptions",
        &ladder.subscriptions.to_string(),
        "--symbols",
        &SYMBOLS.to_string(),
        "--rate",
        &rate.to_string(),
        "--batch",
        &ladder.batch.to_string(),
        "--duration-secs",
        &ladder.seconds.to_string(),
        "--warmup-secs",
        &WARMUP_SECS.to_string(),
        "--json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let (output, samples) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| sample(pid, &generator_pid, &phase, &done));
        let output = run_loadtest_with(binary, url, &args, &phase, &generator_pid);
        done.store(true, Ordering::Relaxed);
        (output, sampler.join().unwrap_or_default())
    });
    let report: serde_json::Value =
        serde_json::from_str(output?.trim()).context("the load test's --json report")?;
    // A missing number must not read as 0 (a p99 of 0 passes every rung).
    for key in REPORT_KEYS {
        if report[key].as_f64().is_none() {
            bail!("the load test's report has no number `{key}`: {report}");
        }
    }
    let publishing: Vec<&Sample> = samples.iter().filter(|s| s.phase == PUBLISHING).collect();
    let (per_delivery, busy_cores) = match (publishing.first(), publishing.last()) {
        (Some(first), Some(last)) if last.at > first.at => {
            let span = (last.at - first.at).as_secs_f64();
            let deliveries = report["deliveries_per_sec"].as_f64().unwrap_or(0.0) * span;
            let server = last.server.since(first.server);
            let generator = last.generator.since(first.generator);
            (
                (deliveries > 0.0).then(|| (server.per(deliveries), generator.per(deliveries))),
                Some((server.total() / 1e6 / span, generator.total() / 1e6 / span)),
            )
        }
        _ => (None, None),
    };
    let rss_peak_mib = publishing.iter().map(|s| s.rss_kib / 1024).max();
    Ok(Rung {
        offered,
        report,
        per_delivery,
        busy_cores,
        rss_peak_mib,
    })
}

struct Sample {
    phase: u8,
    at: Duration,
    rss_kib: u64,
    server: Cpu,
    generator: Cpu,
}

/// A process's CPU time in µs, in user space and in the kernel. For a loopback socket the
/// kernel's part includes the TCP work of both ends of a send: the receiver's side runs in
/// the sender's softirq, which a kernel with tick accounting and no IRQ time accounting
/// (`CONFIG_IRQ_TIME_ACCOUNTING` unset, as on the bench machines) charges to the sender.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    user: f64,
    kernel: f64,
}

impl Cpu {
    fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user - earlier.user,
            kernel: self.kernel - earlier.kernel,
        }
    }

    fn per(self, deliveries: f64) -> Cpu {
        Cpu {
            user: self.user / deliveries,
            kernel: self.kernel / deliveries,
        }
    }

    fn total(self) -> f64 {
        self.user + self.kernel
    }

    /// `1.27 µs (0.84)`: µs per delivery, of which in the kernel.
    fn per_delivery(self) -> String {
        format!("{:.2} µs ({:.2})", self.total(), self.kernel)
    }
}

/// The server's RSS and CPU time, and the generator's CPU time, every 250 ms, tagged with
/// the load run's phase.
fn sample(pid: u32, generator_pid: &AtomicU32, phase: &AtomicU8, done: &AtomicBool) -> Vec<Sample> {
    let started = std::time::Instant::now();
    let mut samples = Vec::new();
    while !done.load(Ordering::Relaxed) {
        let generator = match generator_pid.load(Ordering::Relaxed) {
            0 => None,
            generator => cpu(generator),
        };
        if let (Some(rss_kib), Some(server), Some(generator)) = (rss_kib(pid), cpu(pid), generator)
        {
            samples.push(Sample {
                phase: phase.load(Ordering::Relaxed),
                at: started.elapsed(),
                rss_kib,
                server,
                generator,
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    samples
}

/// A process's user and system CPU time so far (`/proc/<pid>/stat`, in clock ticks of
/// 10 ms: `USER_HZ` is 100 on Linux).
fn cpu(pid: u32) -> Option<Cpu> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: the fields start after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: indices 11 and 12 of what
    // follows the `)` (field 3, the state, is index 0).
    let ticks = |i: usize| -> Option<f64> { Some(fields.get(i)?.parse::<u64>().ok()? as f64) };
    Some(Cpu {
        user: ticks(11)? * 10_000.0,
        kernel: ticks(12)? * 10_000.0,
    })
}
