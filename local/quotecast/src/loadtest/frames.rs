//! The load generator's own reading of server WebSocket frames, for the publish window.
//!
//! The generator shares the cores with the server it measures, so every microsecond it
//! spends per frame is taken from the server. Through tokio-tungstenite it spent 1.1 µs of
//! CPU per delivery at 800,000/s (0.9 of 2 cores; `perf`, BENCHMARKS.md): a waker swap, a
//! buffer split, UTF-8 validation and a message allocation per frame, and a clock read per
//! frame. Once the subscriptions are set up through the real client, a reader only has to
//! find `data` frames and their stamps, so it reads the socket's bytes itself: one read and
//! one clock read per burst, frames sliced in place.
//!
//! Server frames are unmasked, use no extension and, from this server and AppSync, are never
//! fragmented; anything else is a [`FrameError`], which the reader reports as an error (never
//! a skipped frame). Text is not checked as UTF-8: the reader only compares bytes.

/// The largest frame a reader accepts: AppSync's payload limit (240 KB) with room for the
/// envelope. A larger length is a broken stream, not a frame to buffer.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// One server frame, as much as a reader needs to know.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerFrame<'a> {
    /// A text frame's payload.
    Text(&'a [u8]),
    /// A close frame: the server ended the connection.
    Close,
    /// Ping or pong: nothing to count.
    Control,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("masked frame from the server")]
    Masked,
    #[error("frame with reserved bits set (an extension nobody negotiated)")]
    Reserved,
    #[error("control frame over 125 bytes or fragmented")]
    BadControl,
    #[error("fragmented or binary frame (opcode {0:#x}, FIN {1})")]
    Unsupported(u8, bool),
    #[error("frame of {0} bytes is over the reader's limit")]
    TooLarge(u64),
}

/// The first whole frame at the start of `bytes` and the bytes it takes, or `None` if the
/// frame has not arrived whole yet.
pub fn next_frame(bytes: &[u8]) -> Result<Option<(ServerFrame<'_>, usize)>, FrameError> {
    let [first, second, rest @ ..] = bytes else {
        return Ok(None);
    };
    let fin = first & 0x80 != 0;
    let opcode = first & 0x0f;
    if first & 0x70 != 0 {
        return Err(FrameError::Reserved);
    }
    if second & 0x80 != 0 {
        return Err(FrameError::Masked);
    }
    let (len, header) = match second & 0x7f {
        126 => match rest {
            [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 4),
            _ => return Ok(None),
        },
        127 => match rest.first_chunk::<8>() {
            Some(len) => (u64::from_be_bytes(*len), 10),
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    if len > MAX_FRAME_BYTES as u64 {
        return Err(FrameError::TooLarge(len));
    }
    let end = header + len as usize;
    let Some(payload) = bytes.get(header..end) else {
        return Ok(None);
    };
    let control = opcode & 0x8 != 0;
    if control && (!fin || len > 125) {
        return Err(FrameError::BadControl);
    }
    let frame = match (opcode, fin) {
        (0x1, true) => ServerFrame::Text(payload),
        (0x8, _) => ServerFrame::Close,
        (0x9 | 0xa, _) => ServerFrame::Control,
        (opcode, fin) => return Err(FrameError::Unsupported(opcode, fin)),
    };
    Ok(Some((frame, end)))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A text frame as the server writes it (its own encoder).
    pub(in crate::loadtest) fn text_frame(text: &str) -> Vec<u8> {
        let mut frame = Vec::new();
        quotecast_appsync::websocket::frame::push_text(&mut frame, &[text]);
        frame
    }

    #[test]
    fn frames_of_every_length_form_come_out_whole() {
        for len in [0, 1, 125, 126, 300, 0xffff, 0x1_0000, 200_000] {
            let payload = "x".repeat(len);
            let mut bytes = text_frame(&payload);
            let whole = bytes.len();
            bytes.extend_from_slice(&text_frame("next"));
            let (frame, used) = next_frame(&bytes).unwrap().unwrap();
            assert_eq!(
                (frame, used),
                (ServerFrame::Text(payload.as_bytes()), whole),
                "{len}"
            );
            let (frame, _) = next_frame(&bytes[used..]).unwrap().unwrap();
            assert_eq!(frame, ServerFrame::Text(b"next"));
        }
    }

    #[test]
    fn a_frame_cut_anywhere_waits_for_the_rest() {
        for len in [5, 126, 70_000] {
            let bytes = text_frame(&"y".repeat(len));
            for cut in 0..bytes.len().min(20) {
                assert_eq!(next_frame(&bytes[..cut]), Ok(None), "{len} cut at {cut}");
            }
            assert_eq!(next_frame(&bytes[..bytes.len() - 1]), Ok(None));
        }
    }

    #[test]
    fn control_frames_are_told_apart() {
        assert_eq!(
            next_frame(&[0x88, 2, 0x03, 0xe8]),
            Ok(Some((ServerFrame::Close, 4)))
        );
        assert_eq!(next_frame(&[0x8a, 0]), Ok(Some((ServerFrame::Control, 2))));
        assert_eq!(next_frame(&[0x89, 0]), Ok(Some((ServerFrame::Control, 2))));
    }

    #[test]
    fn what_a_server_must_not_send_is_an_error() {
        assert_eq!(
            next_frame(&[0x81, 0x81, 1, 2, 3, 4, b'x']),
            Err(FrameError::Masked)
        );
        assert_eq!(
            next_frame(&[0x01, 1, b'x']),
            Err(FrameError::Unsupported(1, false))
        );
        assert_eq!(
            next_frame(&[0x82, 1, b'x']),
            Err(FrameError::Unsupported(2, true))
        );
        // Compressed (RSV1), a fragmented ping, a 126-byte pong.
        assert_eq!(next_frame(&[0xc1, 1, b'x']), Err(FrameError::Reserved));
        assert_eq!(next_frame(&[0x09, 0]), Err(FrameError::BadControl));
        let mut long_pong = vec![0x8a, 126, 0, 126];
        long_pong.extend_from_slice(&[0; 126]);
        assert_eq!(next_frame(&long_pong), Err(FrameError::BadControl));
        let mut huge = vec![0x81, 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(next_frame(&huge), Err(FrameError::TooLarge(u64::MAX)));
    }
}
