//! moto's server (an independent DynamoDB, from PyPI) on a free loopback port, stopped when
//! dropped. `cargo xtask setup` installs it at `target/tools/venv/bin/moto_server`
//! (`MOTO_SERVER` overrides the path).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server() -> PathBuf {
    std::env::var_os("MOTO_SERVER").map_or_else(
        || crate::project_root().join("target/tools/venv/bin/moto_server"),
        PathBuf::from,
    )
}

/// Starts moto's server and waits until it listens.
pub async fn start() -> Moto {
    let path = moto_server();
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
