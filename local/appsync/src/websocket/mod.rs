//! The WebSocket layer of the real-time endpoint, split so that writing is ours.
//!
//! A connection's socket is split in two halves. The read half goes to tungstenite, which
//! decodes the client's frames (masking, fragments, control frames, size caps); the write
//! half goes to the connection's writer, which encodes the server's frames itself
//! ([`frame`]) and sends each batch of queued frames in one write. Fan-out reached 0.8 M
//! deliveries/s through axum's socket, where every delivery was a frame string built,
//! copied into tungstenite's buffer under the split socket's lock, and often sent with a
//! system call of its own (BENCHMARKS.md, issue 24).
//!
//! [`upgrade`] takes the HTTP upgrade (axum's extractor would hide the raw socket);
//! [`socket`] splits it and routes tungstenite's own replies (pongs) into the connection's
//! send queue, so that they are written in order with everything else.

pub mod frame;
pub mod socket;
pub mod upgrade;
