//! An upgraded socket, split into tungstenite's reader and our writer.
//!
//! tungstenite reads from the socket and, now and then, wants to write: the pong that
//! answers a ping (RFC 6455 §5.5.2). Its writes go into the connection's [`Outbox`] as
//! bytes already framed, so the writer task stays the only one writing to the socket and
//! a pong cannot land inside another frame.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::{Role, WebSocketConfig};

use crate::outbox::{Frame, Outbox};

/// The read half of a socket, whose writes are queued on the connection's outbox.
pub struct ReadSide<S> {
    read: ReadHalf<S>,
    replies: Arc<Outbox>,
}

impl<S: AsyncRead> AsyncRead for ReadSide<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl<S> AsyncWrite for ReadSide<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // A closing or full outbox ends the connection on its own; tungstenite only needs to
        // hear that its bytes were taken.
        let _ = self.replies.push(Frame::Raw(buf));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The client's messages, decoded by tungstenite.
pub type Reader<S> = WebSocketStream<ReadSide<S>>;

/// Splits an upgraded socket: tungstenite reads the client's frames (with `config`'s
/// caps), its replies go to `outbox`, and the write half is for the writer task alone.
pub async fn split<S>(
    socket: S,
    outbox: Arc<Outbox>,
    config: WebSocketConfig,
) -> (Reader<S>, WriteHalf<S>)
where
    S: AsyncRead + AsyncWrite,
{
    let (read, write) = tokio::io::split(socket);
    let side = ReadSide {
        read,
        replies: outbox,
    };
    let reader = WebSocketStream::from_raw_socket(side, Role::Server, Some(config)).await;
    (reader, write)
}

#[cfg(test)]
mod tests {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::AsyncWriteExt;
    use tungstenite::Message;

    use super::*;
    use crate::outbox::Batch;

    /// A client's ping is read as a message, and the pong tungstenite writes in reply is
    /// queued for the writer, framed.
    #[tokio::test]
    async fn a_ping_is_answered_through_the_outbox() {
        let (server, client) = tokio::io::duplex(1024);
        let outbox = Arc::new(Outbox::new(1024, 1024));
        let (mut reader, _write) = split(server, outbox.clone(), WebSocketConfig::default()).await;
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        client
            .send(Message::Ping(b"hi".to_vec().into()))
            .await
            .unwrap();
        client.send(Message::text("after")).await.unwrap();
        assert!(matches!(reader.next().await, Some(Ok(Message::Ping(_)))));
        assert_eq!(
            reader.next().await.unwrap().unwrap(),
            Message::text("after")
        );
        let mut batch = Batch::default();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            outbox.next_batch(&mut batch),
        )
        .await
        .expect("no pong was queued");
        // FIN + pong, unmasked, two bytes of payload.
        assert_eq!(batch.bytes(), b"\x8a\x02hi");
    }

    /// The writer half writes alone: what it writes reaches the client whole.
    #[tokio::test]
    async fn the_write_half_reaches_the_client() {
        let (server, client) = tokio::io::duplex(1024);
        let outbox = Arc::new(Outbox::new(1024, 1024));
        let (_reader, mut write) = split(server, outbox, WebSocketConfig::default()).await;
        let mut bytes = Vec::new();
        Frame::Text("hello").encode_into(&mut bytes);
        write.write_all(&bytes).await.unwrap();
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::text("hello")
        );
    }
}
