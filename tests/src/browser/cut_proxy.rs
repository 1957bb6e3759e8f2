//! A TCP proxy in front of a real server that can cut the network: close every connection
//! through it and refuse new ones for a while, or drop single WebSocket `data` frames on
//! their way to the client.
//!
//! DevTools' offline emulation does not close an open WebSocket to loopback (see the team's
//! TOOLCHAIN notes), so a browser's network drop is simulated here, below HTTP: the page is
//! loaded through the proxy, and the stack's `config.json` (built from the request's `Host`)
//! points the page's GraphQL and WebSocket URLs at the proxy too.
//!
//! Frames are dropped by reading the server-to-client stream of an upgraded connection as
//! WebSocket frames (unmasked, as servers send them; the local server negotiates no
//! extension). Everything else passes through byte for byte.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

struct Shared {
    upstream: SocketAddr,
    /// While set, connections are refused (accepted and closed at once).
    down: AtomicBool,
    /// `data` frames still to drop.
    drop_data: AtomicUsize,
    dropped: AtomicUsize,
    /// Bumped by every cut; a connection ends when it changes.
    cuts: watch::Sender<u64>,
}

pub struct CutProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl CutProxy {
    pub async fn start(upstream: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream,
            down: AtomicBool::new(false),
            drop_data: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            cuts: watch::channel(0).0,
        });
        let accepting = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if accepting.down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                tokio::spawn(relay(client, accepting.clone()));
            }
        });
        CutProxy { addr, shared }
    }

    /// Closes every connection and refuses new ones until [`CutProxy::restore`].
    pub fn cut(&self) {
        self.shared.down.store(true, Ordering::SeqCst);
        self.shared.cuts.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.shared.down.store(false, Ordering::SeqCst);
    }

    /// Drops the next `n` WebSocket `data` frames sent to a client.
    pub fn drop_data_frames(&self, n: usize) {
        self.shared.drop_data.store(n, Ordering::SeqCst);
    }

    /// `data` frames dropped so far.
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }
}

async fn relay(client: TcpStream, shared: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(shared.upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut cut = shared.cuts.subscribe();
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = copy_raw(client_read, server_write);
    let down = copy_down(server_read, client_write, shared.clone());
    // Either direction ending (or a cut) ends both: the halves are dropped, the sockets close.
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cut.changed() => {}
    }
}

async fn copy_raw(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Server to client: the HTTP response head, then, on a `101 Switching Protocols`, frame by
/// frame (dropping `data` frames on demand); otherwise raw bytes.
async fn copy_down(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    shared: Arc<Shared>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match from.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
        if head.len() > 64 * 1024 {
            break;
        }
    }
    if to.write_all(&head).await.is_err() {
        return;
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return copy_raw(from, to).await;
    }
    loop {
        let mut header = [0u8; 2];
        if from.read_exact(&mut header).await.is_err() {
            return;
        }
        let mut frame = header.to_vec();
        let len = match header[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                if from.read_exact(&mut ext).await.is_err() {
                    return;
                }
                frame.extend_from_slice(&ext);
                u16::from_be_bytes(ext) as usize
            }
            127 => {
                let mut ext = [0u8; 8];
                if from.read_exact(&mut ext).await.is_err() {
                    return;
                }
                frame.extend_from_slice(&ext);
                u64::from_be_bytes(ext) as usize
            }
            n => n as usize,
        };
        let start = frame.len();
        frame.resize(start + len, 0);
        if from.read_exact(&mut frame[start..]).await.is_err() {
            return;
        }
        let is_data = header[0] & 0x0f == 0x1
            && String::from_utf8_lossy(&frame[start..]).contains(r#""type":"data""#);
        let drop_it = is_data
            && shared
                .drop_data
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if drop_it {
            shared.dropped.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        if to.write_all(&frame).await.is_err() {
            return;
        }
    }
}
