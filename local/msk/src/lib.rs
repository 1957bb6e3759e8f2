//! The local stand-in for Amazon MSK: an embedded Kafka broker, librdkafka's mock cluster,
//! speaking the real Kafka protocol on a loopback port, so any client (rdkafka, kcat,
//! confluent-kafka) can attach.
//!
//! What it implements: produce, fetch, consumer groups and offset commits on topics made
//! here with a chosen number of partitions. What it deliberately leaves out: MSK's auth
//! (SASL/SCRAM, IAM) and TLS, replication, and the control plane (`GetBootstrapBrokers`);
//! to exercise those, point `quotecast dev --bootstrap-servers` at a real cluster, or at a
//! SCRAM broker behind [`tls_front::TlsFront`] (`cargo xtask kafka-auth`).
//!
//! Its handle may not leave the thread that made it, so it lives on a thread of its own
//! until [`EmbeddedBroker`] is dropped. Limits (librdkafka's): plaintext only, a random
//! port, no CreateTopics (topics are made here), bounded retention per partition.

pub mod tls_front;

use std::sync::mpsc;
use std::thread::JoinHandle;

use rdkafka::mocking::MockCluster;

#[derive(Debug, thiserror::Error)]
#[error("cannot start the embedded Kafka broker: {0}")]
pub struct BrokerError(String);

pub struct EmbeddedBroker {
    bootstrap: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts a one-broker cluster with `topic` of `partitions` partitions.
    pub fn start(topic: &str, partitions: i32) -> Result<EmbeddedBroker, BrokerError> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, String>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let topic = topic.to_owned();
        let thread = std::thread::Builder::new()
            .name("embedded-kafka".to_owned())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                if let Err(e) = cluster.create_topic(&topic, partitions, 1) {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                // Serve until told to stop (or until the owner is gone).
                let _ = stop_rx.recv();
                drop(cluster);
            })
            .map_err(|e| BrokerError(e.to_string()))?;
        let bootstrap = ready_rx
            .recv()
            .map_err(|_| BrokerError("the broker thread ended before it was ready".to_owned()))?
            .map_err(BrokerError)?;
        Ok(EmbeddedBroker {
            bootstrap,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `host:port` of the broker, for any Kafka client.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
