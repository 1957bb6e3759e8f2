//! `cargo xtask kafka-auth --serve`: the SCRAM broker of `tests/tests/kafka_auth.rs` (Tansu
//! behind a TLS front), kept running so `quotecast dev` can be pointed at it by hand.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, Result};
use quotecast_e2e::tansu::{self, ScramCluster};

#[tokio::main]
async fn main() -> Result<()> {
    let bin = tansu::binary().context(
        "Tansu is not installed: `cargo xtask kafka-auth --serve` installs it (or set TANSU_BIN)",
    )?;
    let cluster = ScramCluster::start(&bin, "quotes", 2).await?;
    let password_file = cluster.dir().join("password");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&password_file)?
        .write_all(cluster.password.as_bytes())?;
    let ca = cluster.ca_file().display().to_string();
    let bootstrap = cluster.bootstrap();
    println!(
        "SCRAM broker (Tansu {}) behind TLS, topic quotes (2 partitions)",
        tansu::TANSU_VERSION
    );
    println!("  bootstrap:  {bootstrap} (SASL_SSL, SCRAM-SHA-512)");
    println!("  user:       {}", cluster.username);
    println!("  password:   in {}", password_file.display());
    println!("  CA:         {ca}");
    println!("Run the stack against it:");
    println!(
        "  cargo xtask dev -- --bootstrap-servers {bootstrap} --kafka-security sasl-scram-512 \
         --kafka-username {} --kafka-password-file {} --kafka-ca {ca}",
        cluster.username,
        password_file.display()
    );
    println!("Ctrl-C stops it (and deletes its data).");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
