//! The dashboard's build and test tools, installed idempotently: trunk, the wasm-bindgen CLI
//! of exactly the version Cargo.lock resolved, wasm-opt from npm's binaryen 132, Chromium and
//! ChromeDriver. The recipes and the traps behind them are in `../shared/TOOLCHAIN.md`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::install::apt_install;
use crate::step::{cargo, exec, output, path_with, project_root, step};

/// trunk 0.22 needs a newer rustc than this machine's 1.95.
const TRUNK_VERSION: &str = "0.21.14";
/// Debian's binaryen (108) builds bundles that fail in the browser; Trunk.toml pins this one.
const BINARYEN_VERSION: &str = "132";
/// The published wasm-bindgen-cli lock wants a webpki-roots the registry mirror lacks.
const WEBPKI_ROOTS_PIN: &str = "1.0.10";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Tools that live in the project (npm packages), under `target/` so `cargo clean` resets them.
fn tools_dir() -> PathBuf {
    project_root().join("target/tools")
}

/// `PATH` with the project's npm tools and cargo's bin directory first, so trunk finds the
/// wasm-opt and wasm-bindgen installed here and not an older one elsewhere.
pub fn tools_path() -> OsString {
    path_with(vec![
        tools_dir().join("node_modules/.bin"),
        cargo_home().join("bin"),
    ])
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

/// What building the dashboard needs.
pub fn ensure_build_tools() -> Result<()> {
    ensure_trunk()?;
    ensure_wasm_bindgen()?;
    ensure_wasm_opt()
}

/// Everything: the build tools and the browser the tests drive.
pub fn ensure_all() -> Result<()> {
    ensure_build_tools()?;
    ensure_chromium()
}

fn version_of(tool: &str) -> Option<String> {
    output(
        Command::new(tool)
            .arg("--version")
            .env("PATH", tools_path()),
    )
}

fn ensure_trunk() -> Result<()> {
    if version_of("trunk").is_some_and(|v| v.contains(TRUNK_VERSION)) {
        println!("    trunk {TRUNK_VERSION}: present");
        return Ok(());
    }
    step(
        &format!("cargo install trunk {TRUNK_VERSION} (~10 min)"),
        || exec(cargo().args(["install", "trunk", "--locked", "--version", TRUNK_VERSION])),
    )
}

/// The wasm-bindgen version in Cargo.lock; the CLI must match it exactly.
pub fn locked_wasm_bindgen_version() -> Result<String> {
    let lock =
        std::fs::read_to_string(project_root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == r#"name = "wasm-bindgen""#
            && let Some(v) = lines
                .next()
                .and_then(|l| l.strip_prefix(r#"version = ""#))
                .and_then(|l| l.strip_suffix('"'))
        {
            return Ok(v.to_owned());
        }
    }
    bail!("Cargo.lock has no wasm-bindgen package")
}

fn ensure_wasm_bindgen() -> Result<()> {
    let version = locked_wasm_bindgen_version()?;
    check_trunk_toml_pin(&version)?;
    let installed = |tool: &str| version_of(tool).is_some_and(|v| v.trim().ends_with(&version));
    if installed("wasm-bindgen") && installed("wasm-bindgen-test-runner") {
        println!("    wasm-bindgen-cli {version}: present");
        return Ok(());
    }
    step(
        &format!("install wasm-bindgen-cli {version} (~8 min)"),
        || {
            // `cargo install wasm-bindgen-cli --locked` fails offline here (see WEBPKI_ROOTS_PIN):
            // build it from its published source with that one pin changed. Outside the project,
            // so our workspace does not claim it.
            let scratch = std::env::temp_dir().join("quotecast-wasm-bindgen-cli");
            let _ = std::fs::remove_dir_all(&scratch);
            std::fs::create_dir_all(&scratch)?;
            exec(
                cargo()
                    .current_dir(&scratch)
                    .args(["info", &format!("wasm-bindgen-cli@{version}")]),
            )?;
            let archive = find_crate_archive(&format!("wasm-bindgen-cli-{version}.crate"))?;
            exec(
                Command::new("tar")
                    .arg("xzf")
                    .arg(&archive)
                    .arg("-C")
                    .arg(&scratch),
            )?;
            let source = scratch.join(format!("wasm-bindgen-cli-{version}"));
            let pinned = cargo()
                .current_dir(&source)
                .args([
                    "update",
                    "-p",
                    "webpki-roots",
                    "--precise",
                    WEBPKI_ROOTS_PIN,
                ])
                .status()
                .is_ok_and(|s| s.success());
            if !pinned {
                println!("    (webpki-roots not pinned; building with the published lock)");
            }
            exec(
                cargo()
                    .current_dir(&source)
                    .args(["install", "--path", ".", "--locked", "--force"]),
            )
        },
    )
}

/// Trunk.toml names the wasm-bindgen version too (so trunk never downloads one); both must
/// agree or trunk fails late with a confusing message.
fn check_trunk_toml_pin(version: &str) -> Result<()> {
    let trunk_toml = project_root().join("frontend/Trunk.toml");
    let text = std::fs::read_to_string(&trunk_toml).context("reading frontend/Trunk.toml")?;
    let expected = format!(r#"wasm_bindgen = "{version}""#);
    if !text.lines().any(|l| l.trim() == expected) {
        bail!(
            "frontend/Trunk.toml must pin `{expected}` to match Cargo.lock's wasm-bindgen; \
             update its [tools] section"
        );
    }
    Ok(())
}

fn find_crate_archive(file: &str) -> Result<PathBuf> {
    let cache = cargo_home().join("registry/cache");
    for registry in std::fs::read_dir(&cache).with_context(|| format!("reading {cache:?}"))? {
        let candidate = registry?.path().join(file);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("{file} is not in {cache:?} after `cargo info`")
}

fn ensure_wasm_opt() -> Result<()> {
    let marker = format!("version {BINARYEN_VERSION}");
    let wasm_opt = tools_dir().join("node_modules/.bin/wasm-opt");
    if output(Command::new(&wasm_opt).arg("--version")).is_some_and(|v| v.contains(&marker)) {
        println!("    wasm-opt (binaryen {BINARYEN_VERSION}, npm): present");
        return Ok(());
    }
    step(&format!("npm install binaryen@{BINARYEN_VERSION}"), || {
        std::fs::create_dir_all(tools_dir())?;
        exec(
            Command::new("npm")
                .current_dir(tools_dir())
                .args(["install", "--no-save", "--no-audit", "--no-fund"])
                .arg(format!("binaryen@{BINARYEN_VERSION}")),
        )
    })
}

fn ensure_chromium() -> Result<()> {
    if Path::new(CHROMIUM).is_file() && Path::new(CHROMEDRIVER).is_file() {
        println!("    chromium + chromedriver: present");
        return Ok(());
    }
    step("apt-get install chromium chromium-driver", || {
        apt_install(&["chromium", "chromium-driver"])
    })
}
