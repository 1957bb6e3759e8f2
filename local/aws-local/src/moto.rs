//! moto's server (an independent implementation of AWS services, from PyPI) on a free
//! loopback port, stopped when dropped: what the twins' tests compare against, launched one
//! way for all of them. `cargo xtask setup` installs it at `target/tools/venv/bin/moto_server`
//! (`MOTO_SERVER` overrides the path). Test support only, behind the `moto` feature.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `cargo xtask setup` puts moto's server, unless `MOTO_SERVER` says otherwise.
pub fn server_path() -> PathBuf {
    std::env::var_os("MOTO_SERVER").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/venv/bin/moto_server"),
        PathBuf::from,
    )
}

/// Starts moto's server and waits until it listens (up to 15 s).
///
/// # Panics
/// If no port is free, the server cannot start (not installed: run `cargo xtask setup`) or
/// it does not listen in time: a test cannot go on without it.
pub async fn start() -> Moto {
    let path = server_path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"));
    let child = Command::new(&path)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({e}): run `cargo xtask setup`",
                path.display()
            )
        });
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return moto;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} did not listen on {port} within 15 s", path.display());
}
