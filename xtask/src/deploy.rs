//! The AWS side: `cargo xtask template` (the offline checks of `deploy/template.yaml` that CI
//! runs), `cargo xtask package` (both Lambdas as arm64 zips with cargo-lambda, and the
//! dashboard), `cargo xtask publish-dashboard --stack NAME` (the bundle and a `config.json`
//! made from the stack's outputs, to the stack's bucket), `cargo xtask deploy --stack NAME`
//! (`sam build` and `sam deploy` with the API key's expiry computed, see `api_key.rs`).
//!
//! The Python tools (AWS SAM CLI, cfn-lint, cargo-lambda with zig; moto for the tests) live
//! in a virtualenv under `target/tools/venv`, installed from PyPI on first use (moto by
//! `cargo xtask setup`, pinned).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::api_key;
use crate::dashboard;
use crate::install::ensure_rustup_target;
use crate::step::{exec, output, path_with, project_root, release_binary, step};

const TEMPLATE: &str = "deploy/template.yaml";
const LAMBDA_TARGET: &str = "aarch64-unknown-linux-gnu";

fn venv() -> PathBuf {
    project_root().join("target/tools/venv")
}

fn venv_bin(tool: &str) -> PathBuf {
    venv().join("bin").join(tool)
}

/// Installs `packages` into the tools virtualenv unless `probe` already runs.
fn ensure_python_tools(probe: &str, packages: &[&str]) -> Result<()> {
    if output(Command::new(venv_bin(probe)).arg("--version")).is_some() {
        println!("    {}: present", packages.join(", "));
        return Ok(());
    }
    step(&format!("pip install {}", packages.join(" ")), || {
        if !venv_bin("pip").is_file() {
            exec(Command::new("python3").args(["-m", "venv"]).arg(venv()))?;
        }
        exec(
            Command::new(venv_bin("pip"))
                .args(["install", "-q"])
                .args(packages),
        )
    })
}

/// moto, pinned: the DynamoDB parity test (`local/dynamodb/tests/dynamodb_endpoint.rs`) checks the
/// local endpoint against this version's `moto_server`.
pub const MOTO_VERSION: &str = "5.2.5";

/// Installs `moto[server]` at [`MOTO_VERSION`] into the tools virtualenv unless that version
/// is there (`moto_server` has no `--version`: ask the package).
pub fn ensure_moto() -> Result<()> {
    let installed = output(
        Command::new(venv_bin("python")).args(["-c", "import moto; print(moto.__version__)"]),
    );
    // The tests run `target/tools/venv/bin/moto_server -H 127.0.0.1 -p PORT`.
    if installed.is_some_and(|v| v.trim() == MOTO_VERSION) && venv_bin("moto_server").is_file() {
        println!("    moto {MOTO_VERSION}: present");
        return Ok(());
    }
    let package = format!("moto[server]=={MOTO_VERSION}");
    step(&format!("pip install {package}"), || {
        if !venv_bin("pip").is_file() {
            exec(Command::new("python3").args(["-m", "venv"]).arg(venv()))?;
        }
        exec(Command::new(venv_bin("pip")).args(["install", "-q", &package]))
    })
}

/// Commands run with the virtualenv's tools first on `PATH`; AWS tools get a region and
/// placeholder credentials so that offline checks never look for real ones.
fn tool(name: &str) -> Command {
    let mut cmd = Command::new(venv_bin(name));
    cmd.current_dir(project_root())
        .env("PATH", path_with(vec![venv().join("bin")]))
        .env("SAM_CLI_TELEMETRY", "0");
    cmd
}

fn offline_aws(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIAQUOTECASTOFFLINE")
        .env("AWS_SECRET_ACCESS_KEY", "offline")
}

/// `sam validate` and `sam validate --lint` (cfn-lint): they catch different errors.
pub fn check_template() -> Result<()> {
    ensure_python_tools("sam", &["aws-sam-cli", "cfn-lint"])?;
    step("sam validate", || {
        exec(offline_aws(tool("sam").args(["validate", "-t", TEMPLATE])))
    })?;
    step("sam validate --lint", || {
        exec(offline_aws(
            tool("sam").args(["validate", "--lint", "-t", TEMPLATE]),
        ))
    })
}

/// Both Lambdas as arm64 zips (`target/lambda-arm64/<function>/bootstrap.zip`) and the
/// dashboard bundle.
pub fn package() -> Result<()> {
    ensure_python_tools("cargo-lambda", &["cargo-lambda", "ziglang", "cmake"])?;
    ensure_rustup_target(LAMBDA_TARGET)?;
    for package in ["quotecast-producer", "quotecast-consumer"] {
        step(&format!("cargo lambda build {package} (arm64 zip)"), || {
            exec(tool("cargo-lambda").args([
                "lambda",
                "build",
                "--profile",
                "lambda",
                "--arm64",
                "--output-format",
                "zip",
                "--lambda-dir",
                "target/lambda-arm64",
                "--locked",
                "--package",
                package,
            ]))
        })?;
        let zip = project_root()
            .join("target/lambda-arm64")
            .join(package)
            .join("bootstrap.zip");
        let size = std::fs::metadata(&zip)
            .with_context(|| format!("{zip:?} was not built"))?
            .len();
        println!("    {}: {size} bytes", zip.display());
    }
    dashboard::build()
}

/// The dashboard's `config.json` for a deployed stack, from its outputs.
pub fn config_from_outputs(outputs: &Map<String, Value>) -> Result<Value> {
    let get = |key: &str| {
        outputs
            .get(key)
            .and_then(Value::as_str)
            .with_context(|| format!("the stack has no output {key}"))
    };
    let list = |key: &str| -> Result<Vec<String>> {
        Ok(get(key)?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    };
    Ok(json!({
        "graphqlUrl": get("GraphqlUrl")?,
        "realtimeUrl": get("RealtimeUrl")?,
        "apiKey": get("ApiKey")?,
        "defaultSymbols": list("DefaultSymbols")?,
        "symbols": list("Symbols")?,
    }))
}

/// A deployed stack's outputs by key (`aws cloudformation describe-stacks`).
fn stack_outputs(stack: &str) -> Result<Map<String, Value>> {
    let described = output(Command::new("aws").args([
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        stack,
        "--query",
        "Stacks[0].Outputs",
        "--output",
        "json",
    ]))
    .with_context(|| format!("`aws cloudformation describe-stacks --stack-name {stack}` failed"))?;
    let listed: Vec<Value> = serde_json::from_str(&described)?;
    Ok(listed
        .iter()
        .filter_map(|o| {
            Some((
                o["OutputKey"].as_str()?.to_owned(),
                o["OutputValue"].clone(),
            ))
        })
        .collect())
}

/// Where a stack's dashboard serves its `config.json`, from the stack's outputs.
pub fn config_url_from_outputs(outputs: &Map<String, Value>) -> Result<String> {
    let dashboard = outputs
        .get("DashboardUrl")
        .and_then(Value::as_str)
        .context("the stack has no output DashboardUrl")?;
    Ok(format!("{}/config.json", dashboard.trim_end_matches('/')))
}

/// `cargo xtask smoke --stack NAME [quotecast smoke options]`: `quotecast smoke` against the
/// stack's published `config.json`, exactly what a browser reads.
pub fn smoke(args: &[String]) -> Result<()> {
    let (stack, rest) = match args {
        [flag, name, rest @ ..] if flag == "--stack" => (name.clone(), rest),
        _ => bail!("usage: cargo xtask smoke --stack <stack name> [--symbol S] [--timeout-secs N]"),
    };
    let outputs = stack_outputs(&stack)?;
    let config_url = config_url_from_outputs(&outputs)?;
    // The key's life is read but never fails the smoke test: listing keys needs more
    // permissions than the rest.
    if let Err(e) = report_key_life(&outputs) {
        eprintln!("note: the API key's expiry could not be read: {e:#}");
    }
    let binary = release_binary("quotecast", "quotecast")?;
    step(&format!("quotecast smoke --config {config_url}"), || {
        exec(
            Command::new(&binary)
                .args(["smoke", "--config", &config_url])
                .args(rest),
        )
        .with_context(|| {
            format!(
                "the smoke test failed (if config.json cannot be read, the dashboard may not be \
                 published yet: `cargo xtask publish-dashboard --stack {stack}`)"
            )
        })
    })
}

/// `cargo xtask deploy --stack NAME [KEY=VALUE…]`: `sam build` and `sam deploy` from
/// `deploy/`, with `ApiKeyExpires` a year ahead (renewing the same key on every deploy) and
/// any other template parameters given.
pub fn deploy(args: &[String]) -> Result<()> {
    let (stack, overrides) = match args {
        [flag, name, rest @ ..] if flag == "--stack" => (name.clone(), rest),
        _ => bail!("usage: cargo xtask deploy --stack <stack name> [Parameter=Value ...]"),
    };
    if let Some(bad) = overrides.iter().find(|o| !o.contains('=')) {
        bail!("{bad:?} is not a Parameter=Value template parameter");
    }
    if overrides.iter().any(|o| o.starts_with("ApiKeyExpires=")) {
        bail!(
            "ApiKeyExpires is set by `cargo xtask deploy` (a year ahead); use `sam deploy` to choose it"
        );
    }
    ensure_python_tools("sam", &["aws-sam-cli", "cfn-lint"])?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let expires = api_key::expiry_for_deploy(now);
    step("sam build", || {
        exec(
            tool("sam")
                .current_dir(project_root().join("deploy"))
                .arg("build"),
        )
    })?;
    step(
        &format!("sam deploy --stack-name {stack} (ApiKeyExpires={expires})"),
        || {
            exec(
                tool("sam")
                    .current_dir(project_root().join("deploy"))
                    // A second deploy within the hour computes the same expiry: no change is
                    // not a failure.
                    .args([
                        "deploy",
                        "--stack-name",
                        &stack,
                        "--no-fail-on-empty-changeset",
                    ])
                    .arg("--parameter-overrides")
                    .arg(format!("ApiKeyExpires={expires}"))
                    .args(overrides),
            )
        },
    )
}

/// What is left of the dashboard key's life, from `aws appsync list-api-keys`; a warning
/// under a month. Needs the stack's `ApiId` output and AWS credentials that may list keys.
fn report_key_life(outputs: &Map<String, Value>) -> Result<()> {
    let (Some(api_id), Some(key)) = (
        outputs.get("ApiId").and_then(Value::as_str),
        outputs.get("ApiKey").and_then(Value::as_str),
    ) else {
        bail!("the stack has no ApiId / ApiKey outputs (deployed from an older template?)");
    };
    let listed = output(Command::new("aws").args([
        "appsync",
        "list-api-keys",
        "--api-id",
        api_id,
        "--output",
        "json",
    ]))
    .context("`aws appsync list-api-keys` failed")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let (line, warn) = api_key::life_left(&serde_json::from_str(&listed)?, key, now)?;
    if warn {
        eprintln!("warning: {line}");
    } else {
        println!("{line}");
    }
    Ok(())
}

/// Uploads the bundle and `config.json` to the stack's bucket and invalidates CloudFront.
pub fn publish_dashboard(args: &[String]) -> Result<()> {
    let stack = match args {
        [flag, name] if flag == "--stack" => name.clone(),
        _ => bail!("usage: cargo xtask publish-dashboard --stack <stack name>"),
    };
    let outputs = stack_outputs(&stack)?;
    let config = config_from_outputs(&outputs)?;
    let bucket = outputs["DashboardBucketName"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let distribution = outputs["DashboardDistributionId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if bucket.is_empty() || distribution.is_empty() {
        bail!("stack {stack} has no DashboardBucketName / DashboardDistributionId outputs");
    }
    dashboard::build()?;
    let dist = dashboard::dist_dir();
    let config_path = project_root().join("target/config.json");
    std::fs::write(&config_path, serde_json::to_string_pretty(&config)?)?;
    step("aws s3 sync (dashboard)", || {
        exec(
            Command::new("aws")
                .args(["s3", "sync", "--delete", "--exclude", "config.json"])
                .arg(&dist)
                .arg(format!("s3://{bucket}/")),
        )
    })?;
    step("aws s3 cp config.json", || {
        exec(
            Command::new("aws")
                .args(["s3", "cp", "--cache-control", "no-cache", "--content-type"])
                .arg("application/json")
                .arg(&config_path)
                .arg(format!("s3://{bucket}/config.json")),
        )
    })?;
    step("aws cloudfront create-invalidation", || {
        exec(Command::new("aws").args([
            "cloudfront",
            "create-invalidation",
            "--distribution-id",
            &distribution,
            "--paths",
            "/index.html",
            "/config.json",
        ]))
    })?;
    println!(
        "dashboard: {}",
        outputs["DashboardUrl"].as_str().unwrap_or_default()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_comes_from_the_outputs() {
        let outputs: Map<String, Value> = serde_json::from_value(json!({
            "GraphqlUrl": "https://a.appsync-api.eu-west-1.amazonaws.com/graphql",
            "RealtimeUrl": "wss://a.appsync-realtime-api.eu-west-1.amazonaws.com/graphql",
            "ApiKey": "da2-abc",
            "DefaultSymbols": "AMZN, TSLA",
            "Symbols": "AMZN,TSLA,MSFT,",
        }))
        .unwrap();
        let config = config_from_outputs(&outputs).unwrap();
        assert_eq!(config["defaultSymbols"], json!(["AMZN", "TSLA"]));
        assert_eq!(config["symbols"], json!(["AMZN", "TSLA", "MSFT"]));
        assert_eq!(config["apiKey"], "da2-abc");
        let mut missing = outputs.clone();
        missing.remove("ApiKey");
        let err = config_from_outputs(&missing).unwrap_err().to_string();
        assert!(err.contains("ApiKey"), "{err}");
    }

    #[test]
    fn the_smoke_test_reads_the_config_the_dashboard_serves() {
        let outputs: Map<String, Value> =
            serde_json::from_value(json!({"DashboardUrl": "https://d1.cloudfront.net/"})).unwrap();
        assert_eq!(
            config_url_from_outputs(&outputs).unwrap(),
            "https://d1.cloudfront.net/config.json"
        );
        let err = config_url_from_outputs(&Map::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("DashboardUrl"), "{err}");
    }
}
