//! A release `quotecast appsync` for the benchmarks: started on a free loopback port, its URL
//! read from what it prints, its memory read from `/proc`, killed when dropped so a failed
//! run leaves nothing behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

use crate::step::release_binary;

/// The `quotecast` binary a bench runs: the one `QUOTECAST_BIN` names (another build, to
/// measure two alternately under the same load), else this tree's release build.
pub fn bench_binary() -> Result<PathBuf> {
    match std::env::var_os("QUOTECAST_BIN") {
        Some(bin) => Ok(PathBuf::from(bin)),
        None => release_binary("quotecast", "quotecast"),
    }
}

pub struct AppsyncProcess(Child);

impl AppsyncProcess {
    /// Starts `binary appsync` on 127.0.0.1 and a free port with `args` added; the server and
    /// its GraphQL URL.
    pub fn start(binary: &Path, args: &[&str]) -> Result<(AppsyncProcess, String)> {
        let mut child = Command::new(binary)
            .args(["appsync", "--listen", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("server stdout")?;
        let server = AppsyncProcess(child);
        let mut lines = BufReader::new(stdout).lines();
        let mut url = None;
        for line in lines.by_ref() {
            let line = line?;
            if let Some(u) = line.trim().strip_prefix("GraphQL:") {
                url = Some(u.trim().to_owned());
                break;
            }
        }
        let url = url.context("the server did not print its GraphQL URL")?;
        // Keep reading the server's stdout for its whole life: with the pipe closed, its next
        // `println!` (the lines after the URL come right after it) fails and the server
        // panics, which happened whenever this side dropped the pipe first.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("    server: {line}");
            }
        });
        println!("    server at {url}");
        Ok((server, url))
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.0.id())
    }

    /// The peak resident set so far (`VmHWM`).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        status_kib(self.0.id(), "VmHWM:")
    }
}

impl Drop for AppsyncProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
