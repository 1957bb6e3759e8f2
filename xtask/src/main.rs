//! Project automation, in Rust instead of shell scripts (the rust-analyzer `xtask` pattern).
//!
//! `cargo xtask <command>`; every command prints each step it runs and how long it took, and
//! installs what it needs itself, so a fresh machine needs nothing but cargo.

mod api_key;
mod appsync_process;
mod bench;
mod bench_bodies;
mod bench_ladder;
mod bench_load;
mod ci;
mod dashboard;
mod deploy;
mod dev;
mod fuzz;
mod install;
mod kafka_auth;
mod layout;
mod npm_tools;
mod resolvers;
mod setup;
mod step;
mod web_tools;

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <command>

Commands:
  setup      install what development and tests need (idempotent; skips what is present)
  ci         run every check CI runs: setup, the resolver linter, fmt, clippy, the dashboard build, browser and native tests
  dev        build and run the whole system locally (arguments after `--` go to `quotecast dev`)
  dashboard  build the dashboard's release bundle (frontend/dist) with trunk; check its wasm is within 180,000 B gzip
  layout     check the workspace's shape: no import cycle between files, each local AWS twin depending only downwards
  lint-resolvers
             lint every schema/resolvers/*.js with AWS's APPSYNC_JS linter (@aws-appsync/eslint-plugin)
  template   check deploy/template.yaml offline (sam validate, sam validate --lint)
  package    build both Lambdas as arm64 zips (cargo-lambda) and the dashboard, for `sam deploy`
  deploy --stack NAME [Parameter=Value...]
             sam build + sam deploy, the API key's expiry set a year ahead (renewed in place on every deploy)
  publish-dashboard --stack NAME
             upload the dashboard and a config.json from the stack's outputs (needs the aws CLI)
  smoke --stack NAME [--symbol S] [--timeout-secs N]
             check a deployment from outside with `quotecast smoke` on its published config.json,
             and how long its API key has left (a warning under 30 days)
  bench      run the benchmarks of BENCHMARKS.md (`bench appsync | consumer | producer | e2e | history | dashboard | soak | bodies`)
  fuzz       run the libFuzzer targets of fuzz/ (`fuzz --seconds N [TARGET...]`)
  kafka-auth install Tansu (a SCRAM broker) and prove SASL_SSL + SCRAM-SHA-512 end to end;
             `kafka-auth --serve` runs that broker for `quotecast dev --kafka-security ...`
  help       print this message
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("ci") => ci::run(),
        Some("dashboard") => dashboard::run(),
        Some("dev") => dev::run(&args[1..]),
        Some("lint-resolvers") => step::step("lint-resolvers", resolvers::lint),
        Some("layout") => step::step("layout", layout::check),
        Some("template") => step::step("template", deploy::check_template),
        Some("package") => step::step("package", deploy::package),
        Some("deploy") => deploy::deploy(&args[1..]),
        Some("publish-dashboard") => deploy::publish_dashboard(&args[1..]),
        Some("smoke") => deploy::smoke(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("kafka-auth") => kafka_auth::run(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprint!("unknown command `{other}`\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
