//! A Kafka broker that demands SASL/SCRAM over TLS, as MSK's SASL/SCRAM listener does: Tansu
//! (a Kafka-compatible broker in Rust, from crates.io; `cargo xtask kafka-auth` installs it)
//! with SQLite storage and `--authentication`, behind [`TlsFront`] for TLS.
//!
//! Tansu 0.6.0's `user create` and `topic create` speak no SASL, and its gate refuses every
//! request but ApiVersions/SaslHandshake/SaslAuthenticate before a login. So the user and
//! the topic are made while the broker runs without `--authentication`; then it is started
//! again, with it, on the same storage. The broker advertises the front's port, so clients
//! that follow the metadata reach it through TLS too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use quotecast_msk::tls_front::TlsFront;
use quotecast_shared::kafka_security::{KafkaSecurity, ScramMechanism};

/// The version `cargo xtask kafka-auth` installs; its quirks above are this version's.
pub const TANSU_VERSION: &str = "0.6.0";

const CLUSTER_ID: &str = "quotecast-scram";

/// Where the broker binary is: `TANSU_BIN`, else `tansu` where `cargo xtask kafka-auth`
/// installs it (`target/tools/tansu/bin`), else on `PATH`. `None`: not installed.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TANSU_BIN") {
        return Some(PathBuf::from(path));
    }
    let installed = crate::project_root().join("target/tools/tansu/bin/tansu");
    if installed.is_file() {
        return Some(installed);
    }
    let on_path = Command::new("tansu")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    on_path.then(|| PathBuf::from("tansu"))
}

/// A running SCRAM broker behind TLS; stopped when dropped.
pub struct ScramCluster {
    broker: Child,
    front: TlsFront,
    dir: PathBuf,
    pub username: String,
    pub password: String,
    pub topic: String,
    ca_file: PathBuf,
}

impl Drop for ScramCluster {
    fn drop(&mut self) {
        let _ = self.broker.kill();
        let _ = self.broker.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl ScramCluster {
    /// Starts Tansu (`bin`) with a SCRAM-SHA-512 user and `topic` of `partitions`
    /// partitions, then restarts it with `--authentication`, behind a TLS front.
    pub async fn start(bin: &Path, topic: &str, partitions: u32) -> Result<ScramCluster> {
        let dir = crate::scratch_dir("tansu");
        std::fs::create_dir_all(&dir)?;
        let mut front = TlsFront::bind("127.0.0.1:0".parse()?).await?;
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, front.ca_pem())?;
        let upstream = free_port()?;
        let username = "quotecast".to_owned();
        let password = format!("pw-{}", std::process::id());

        let open = spawn_broker(bin, &dir, upstream, front.addr(), false)?;
        let mut open = KillOnDrop(open);
        wait_listening(upstream, &mut open.0, &dir.join("setup.log")).await?;
        let broker_url = format!("tcp://127.0.0.1:{upstream}");
        run(
            "user create",
            Command::new(bin).args([
                "user",
                "create",
                &username,
                &password,
                "--mechanism",
                "scram512",
                "--broker",
                &broker_url,
            ]),
        )?;
        run(
            "topic create",
            Command::new(bin).args([
                "topic",
                "create",
                topic,
                "--partitions",
                &partitions.to_string(),
                "--broker",
                &broker_url,
            ]),
        )?;
        drop(open);

        let mut broker = spawn_broker(bin, &dir, upstream, front.addr(), true)?;
        wait_listening(upstream, &mut broker, &dir.join("broker.log")).await?;
        front.relay_to(SocketAddr::from(([127, 0, 0, 1], upstream)));
        Ok(ScramCluster {
            broker,
            front,
            dir,
            username,
            password,
            topic: topic.to_owned(),
            ca_file,
        })
    }

    /// The TLS listener's address, which the broker advertises.
    pub fn bootstrap(&self) -> String {
        self.front.addr().to_string()
    }

    /// The broker's own directory: its storage, its logs, the CA file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA that signed the listener's certificate.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The cluster's own user, over SASL_SSL with `mechanism`, the CA verified.
    pub fn security(&self, mechanism: ScramMechanism, password: &str) -> KafkaSecurity {
        KafkaSecurity::SaslScram {
            mechanism,
            username: self.username.clone(),
            password: password.to_owned(),
            ca_file: Some(self.ca_file.display().to_string()),
        }
    }

    /// The right login: SCRAM-SHA-512 with the user's password.
    pub fn login(&self) -> KafkaSecurity {
        self.security(ScramMechanism::Sha512, &self.password)
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_broker(
    bin: &Path,
    dir: &Path,
    port: u16,
    advertised: SocketAddr,
    authentication: bool,
) -> Result<Child> {
    let mut cmd = Command::new(bin);
    cmd.arg("broker")
        .args(["--cluster-id", CLUSTER_ID])
        .args(["--listener-url", &format!("tcp://127.0.0.1:{port}")])
        .args(["--advertised-listener-url", &format!("tcp://{advertised}")])
        // Tansu reads the URL's path relative to its working directory.
        .args(["--storage-engine", "sqlite://tansu.db"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(if authentication {
            "broker.log"
        } else {
            "setup.log"
        }))?);
    if authentication {
        cmd.arg("--authentication");
    }
    cmd.spawn()
        .with_context(|| format!("cannot start {}", bin.display()))
}

/// Waits until the broker accepts connections on `port` (or has exited).
async fn wait_listening(port: u16, broker: &mut Child, log: &Path) -> Result<()> {
    let log = log.display();
    for _ in 0..200 {
        if let Some(status) = broker.try_wait()? {
            bail!("the broker exited at start-up ({status}); its log is in {log}");
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the broker did not listen on {port} within 10 s")
}

/// Runs one of Tansu's admin commands; `what` names it in an error (its arguments may hold
/// a password).
fn run(what: &str, cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("tansu {what}"))?;
    if !out.status.success() {
        bail!(
            "tansu {what}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
