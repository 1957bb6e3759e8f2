//! MSK's TLS listener, in front of a broker that has none: it accepts TLS on a loopback port
//! with a certificate made at run time, and relays each connection's plaintext to the
//! broker. Clients verify that certificate against the CA this writes out, as they verify
//! MSK's against Amazon's, so a test of SASL_SSL exercises the real handshake, hostname
//! check included.
//!
//! Why a front: Tansu 0.6.0, the SCRAM broker our tests use, accepts `--cert`/`--key` and
//! serves plaintext anyway. The broker must advertise this front's port, not its own, so
//! the front binds first ([`TlsFront::bind`]) and relays once the broker runs
//! ([`TlsFront::relay_to`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// How long a client may take over its TLS handshake, and the broker to accept the relayed
/// connection, before the front drops it.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);

/// Connections relayed at once; more wait in the listener's backlog. A test broker's
/// clients open a few each.
const MAX_CONNECTIONS: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum TlsFrontError {
    #[error("cannot make the front's certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("cannot configure TLS: {0}")]
    Tls(#[from] tokio_rustls::rustls::Error),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("listen on one address, not {0}: the certificate names the address clients dial")]
    Unspecified(std::net::IpAddr),
}

/// A TLS listener bound and holding its certificates; it relays once told where to.
pub struct TlsFront {
    listener: Option<TcpListener>,
    addr: SocketAddr,
    ca_pem: String,
    acceptor: TlsAcceptor,
    relay: Option<JoinHandle<()>>,
}

impl TlsFront {
    /// Binds `listen` (port 0: any free one) and makes a CA and, signed by it, a server
    /// certificate for `localhost` and the listener's IP address.
    pub async fn bind(listen: SocketAddr) -> Result<TlsFront, TlsFrontError> {
        if listen.ip().is_unspecified() {
            return Err(TlsFrontError::Unspecified(listen.ip()));
        }
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;

        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "quotecast local MSK CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key)?;

        let leaf_key = KeyPair::generate()?;
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned()])?;
        leaf.subject_alt_names.push(SanType::IpAddress(addr.ip()));
        leaf.distinguished_name
            .push(DnType::CommonName, "quotecast local MSK broker");
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key)?;

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![leaf_cert.der().clone()], key)?;
        Ok(TlsFront {
            listener: Some(listener),
            addr,
            ca_pem: ca_cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
            relay: None,
        })
    }

    /// Where clients connect: the address the broker must advertise.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA that signed the front's certificate, PEM: what clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Starts relaying every accepted connection to `upstream`, until the front is dropped.
    /// A second call changes nothing.
    pub fn relay_to(&mut self, upstream: SocketAddr) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        let acceptor = self.acceptor.clone();
        self.relay = Some(tokio::spawn(async move {
            // The connections live in this set, so they end with the accept loop.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                while connections.try_join_next().is_some() {}
                if connections.len() >= MAX_CONNECTIONS {
                    connections.join_next().await;
                    continue;
                }
                let (client, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS front: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                connections.spawn(relay(acceptor.clone(), client, peer, upstream));
            }
        }));
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.abort();
        }
    }
}

/// One connection: the TLS handshake, then bytes both ways until either side closes.
async fn relay(acceptor: TlsAcceptor, client: TcpStream, peer: SocketAddr, upstream: SocketAddr) {
    let mut tls = match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(client)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "TLS front: handshake refused");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "TLS front: handshake timed out");
            return;
        }
    };
    let mut broker = match tokio::time::timeout(HANDSHAKE_LIMIT, TcpStream::connect(upstream)).await
    {
        Ok(Ok(broker)) => broker,
        Ok(Err(e)) => {
            tracing::warn!(%upstream, error = %e, "TLS front: the broker is not reachable");
            return;
        }
        Err(_) => {
            tracing::warn!(%upstream, "TLS front: the broker did not accept in time");
            return;
        }
    };
    let _ = broker.set_nodelay(true);
    if let Err(e) = tokio::io::copy_bidirectional(&mut tls, &mut broker).await {
        tracing::debug!(%peer, error = %e, "TLS front: connection ended");
    }
}
