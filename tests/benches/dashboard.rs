//! The dashboard in numbers (`cargo xtask bench dashboard`): the release bundle's size, the
//! time from page load to the first quote on screen, and whether 1,000 updates/s across 50
//! tickers stay smooth — in headless Chromium against the whole local stack.
//!
//! Load time is the page's own `quotecast:first-quote` performance mark (navigation start →
//! the animation frame that drew the first quote), and navigation start → every card holding
//! a full chart (the page's `quotecast:full-charts` mark: every card ≥ 60 bars, from history;
//! `data-bars` checked after it). Smoothness is counted in the page: frames
//! drawn and long tasks (> 50 ms, `PerformanceObserver`) over 10 s, and the quotes the cards
//! applied against the quotes published; where the long frames' time went (Long Animation
//! Frames: tasks before the frame, the frame's callbacks — where the cards update — and the
//! browser's style, layout and paint).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::Duration;

use fantoccini::Locator;
use quotecast::stack::{StackConfig, start};
use quotecast_e2e::browser::{Browser, dashboard_dir};
use quotecast_e2e::stack_config;
use serde_json::Value;

const TICKERS: usize = 50;
/// One bar per ticker every 50 ms: 50 × 20 = 1,000 updates/s.
const TICK_MS: u64 = 50;
const LOADS: usize = 10;
const WINDOW_MS: u64 = 10_000;

/// When the page set performance mark `name` (ms from navigation start), waiting up to 30 s
/// for it: read from the page's own clock, since a poll from here adds its own delay.
async fn mark(browser: &Browser, name: &str) -> f64 {
    browser
        .wait_for(name, Duration::from_secs(30), || async {
            let v = browser
                .client
                .execute(
                    "const m = performance.getEntriesByName(arguments[0]);\
                     return m.length ? m[0].startTime : null;",
                    vec![name.into()],
                )
                .await
                .ok()?;
            v.as_f64()
        })
        .await
}

fn gzip_len(bytes: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap().len()
}

fn sizes() {
    println!("bundle (frontend/dist, trunk --release, wasm-opt -Oz):");
    let mut total_gz = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dashboard_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let bytes = std::fs::read(entry.path()).unwrap();
        let gz = gzip_len(&bytes);
        total_gz += gz;
        let name = entry.file_name().to_string_lossy().into_owned();
        println!("  {name:<48} {:>8} B raw {:>8} B gzip", bytes.len(), gz);
    }
    println!("  total transferred (gzip): {total_gz} B");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Smoothness {
    secs: f64,
    fps: f64,
    applied_per_s: f64,
    long_tasks: u64,
    longest_ms: f64,
    /// Time in long animation frames: tasks, frame callbacks, rendering (ms over the window).
    long_frames: (f64, f64, f64),
}

/// Frames drawn, long tasks and quotes applied over [`WINDOW_MS`], counted in the page.
async fn measure(browser: &Browser) -> Smoothness {
    let m: Value = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const windowMs = arguments[0];
             const applied = () => [...document.querySelectorAll('article[data-updates]')]
               .reduce((sum, e) => sum + Number(e.dataset.updates), 0);
             let frames = 0, longTasks = 0, longest = 0;
             const obs = new PerformanceObserver(list => {
               for (const e of list.getEntries()) { longTasks++; longest = Math.max(longest, e.duration); }
             });
             obs.observe({ type: 'longtask' });
             let tasks = 0, callbacks = 0, rendering = 0;
             const loaf = new PerformanceObserver(list => {
               for (const e of list.getEntries()) {
                 const end = e.startTime + e.duration;
                 const render = e.renderStart || end, layout = e.styleAndLayoutStart || end;
                 tasks += render - e.startTime; callbacks += layout - render; rendering += end - layout;
               }
             });
             try { loaf.observe({ type: 'long-animation-frame' }); } catch (_) {}
             const first = applied();
             const t0 = performance.now();
             function frame(now) {
               frames++;
               if (now - t0 < windowMs) { requestAnimationFrame(frame); return; }
               obs.disconnect(); loaf.disconnect();
               done({ frames, ms: now - t0, longTasks, longest, applied: applied() - first,
                      tasks, callbacks, rendering });
             }
             requestAnimationFrame(frame);",
            vec![Value::from(WINDOW_MS)],
        )
        .await
        .unwrap();
    let secs = m["ms"].as_f64().unwrap() / 1000.0;
    Smoothness {
        secs,
        fps: m["frames"].as_f64().unwrap() / secs,
        applied_per_s: m["applied"].as_f64().unwrap() / secs,
        long_tasks: m["longTasks"].as_u64().unwrap_or(0),
        longest_ms: m["longest"].as_f64().unwrap_or(0.0),
        long_frames: (
            m["tasks"].as_f64().unwrap_or(0.0),
            m["callbacks"].as_f64().unwrap_or(0.0),
            m["rendering"].as_f64().unwrap_or(0.0),
        ),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    sizes();
    let symbols: Vec<String> = (0..TICKERS).map(|i| format!("T{i:02}")).collect();
    let names: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let stack = start(StackConfig {
        partitions: 4,
        seed: 3,
        dashboard_dir: dashboard_dir(),
        ..stack_config(&names, Duration::from_millis(TICK_MS))
    })
    .await
    .unwrap();
    let browser = Browser::start().await;

    // Page load → first quote and → full chart, with five tickers, once history holds more
    // than a chart's worth of bars.
    tokio::time::sleep(Duration::from_millis(TICK_MS * 80)).await;
    let url = format!(
        "http://{}/index.html?symbols={}",
        stack.addr,
        symbols[..5].join(",")
    );
    let mut loads = Vec::new();
    let mut full = Vec::new();
    for _ in 0..LOADS {
        browser.client.goto("about:blank").await.unwrap();
        browser.client.goto(&url).await.unwrap();
        loads.push(mark(&browser, "quotecast:first-quote").await);
        let at = mark(&browser, "quotecast:full-charts").await;
        let bars = browser
            .client
            .execute(
                "return [...document.querySelectorAll('article[data-symbol]')]\
                   .map(c => Number(c.dataset.bars));",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            bars.as_array()
                .is_some_and(|b| b.len() == 5 && b.iter().all(|n| n.as_u64() >= Some(60))),
            "every card holds a full chart at the mark: {bars}"
        );
        full.push(at);
    }
    loads.sort_by(f64::total_cmp);
    full.sort_by(f64::total_cmp);
    println!(
        "page load → full chart (every card >= 60 bars; {LOADS} loads, 5 tickers): \
         p50 {:.0} ms, max {:.0} ms",
        percentile(&full, 0.5),
        full[full.len() - 1]
    );
    println!(
        "page load → first quote ({LOADS} loads, 5 tickers, bars every {TICK_MS} ms): \
         p50 {:.0} ms, max {:.0} ms",
        percentile(&loads, 0.5),
        loads[loads.len() - 1]
    );

    // 50 tickers at 1,000 updates/s.
    let url = format!(
        "http://{}/index.html?symbols={}",
        stack.addr,
        symbols.join(",")
    );
    browser.client.goto(&url).await.unwrap();
    browser
        .wait_for("every card updating", Duration::from_secs(30), || async {
            let cards = browser
                .client
                .find_all(Locator::Css("article[data-updates]"))
                .await
                .ok()?;
            let mut live = 0;
            for c in &cards {
                if c.attr("data-updates").await.ok()??.parse::<i64>().ok()? > 0 {
                    live += 1;
                }
            }
            (live == TICKERS).then_some(())
        })
        .await;
    // Cards off screen are not rendered (`content-visibility: auto`), so how many are on
    // screen is part of the measure: the harness's 1280x900 window as it is, then the same
    // page with every card rendered, as on a screen that shows all 50.
    for every_card in [false, true] {
        if every_card {
            browser
                .client
                .execute(
                    "const s = document.createElement('style');\
                     s.textContent = '.card { content-visibility: visible !important; }';\
                     document.head.append(s);",
                    vec![],
                )
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let rendered = browser
            .client
            .execute(
                "return [...document.querySelectorAll('article[data-symbol]')].filter(c => {\
                   const r = c.getBoundingClientRect();\
                   return r.bottom > 0 && r.top < innerHeight; }).length;",
                vec![],
            )
            .await
            .unwrap();
        let rendered = if every_card {
            "all rendered".to_owned()
        } else {
            format!("{rendered} on screen and rendered")
        };
        let busy = measure(&browser).await;
        let published = (TICKERS as f64) * 1000.0 / TICK_MS as f64;
        println!(
            "{TICKERS} tickers ({rendered}), {published:.0} updates/s published: {:.0} applied/s \
             by the cards, {:.1} frames/s, {} long tasks (longest {:.0} ms) over {:.1} s",
            busy.applied_per_s, busy.fps, busy.long_tasks, busy.longest_ms, busy.secs
        );
        let (tasks, callbacks, rendering) = busy.long_frames;
        println!(
            "  time in long frames: {tasks:.0} ms tasks, {callbacks:.0} ms frame callbacks \
             (the cards' updates), {rendering:.0} ms style, layout and paint"
        );
    }
    // The same page with nothing arriving: the frame rate this browser manages here anyway.
    browser
        .client
        .goto(&format!("http://{}/index.html?symbols=", stack.addr))
        .await
        .unwrap();
    let idle = measure(&browser).await;
    println!(
        "idle page: {:.1} frames/s, {} long tasks",
        idle.fps, idle.long_tasks
    );
    browser.close().await;
    stack.stop().await;
}
