//! The frames the server writes, encoded here rather than by tungstenite.
//!
//! A server's frames are the simple half of RFC 6455 §5.2: never masked, never fragmented,
//! a header of two to ten bytes before the payload. Encoding them ourselves lets the writer
//! put a `data` frame's parts (the subscription's prefix, the payload shared by every
//! subscriber, the end) straight into the bytes it sends, and send a whole batch of frames
//! in one write: no frame string built per delivery, no copy into a second buffer, no
//! system call per frame. Reading client frames (masked, fragmented, interleaved with
//! control frames) stays with tungstenite.

/// FIN + opcode 0x1 (text).
const TEXT: u8 = 0x81;
/// FIN + opcode 0x8 (close).
const CLOSE: u8 = 0x88;
/// A control frame's payload is at most 125 bytes (§5.5); a close frame's starts with
/// its two-byte code.
const MAX_CLOSE_REASON: usize = 123;

/// The longest header a server frame has: two bytes and a 64-bit length.
pub const MAX_HEADER: usize = 10;

/// The bytes of a text frame of `len` payload bytes, header included.
pub fn text_len(len: usize) -> usize {
    let header = match len {
        0..126 => 2,
        126..=0xffff => 4,
        _ => MAX_HEADER,
    };
    header + len
}

/// Appends a frame header for an unmasked, final frame of `len` payload bytes.
fn push_header(out: &mut Vec<u8>, first: u8, len: usize) {
    out.push(first);
    if len < 126 {
        // The length fits the seven bits; the cast cannot truncate.
        out.push(len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Appends one text frame whose payload is `parts` in turn (UTF-8, as each part is a `str`).
pub fn push_text(out: &mut Vec<u8>, parts: &[&str]) {
    let len = parts.iter().map(|p| p.len()).sum();
    // Exactly the frame's bytes: the outbox sizes its buffer to its limit, and reserving a
    // longer header than the frame has could make it double past that.
    out.reserve(text_len(len));
    push_header(out, TEXT, len);
    for part in parts {
        out.extend_from_slice(part.as_bytes());
    }
}

/// Appends a close frame with `code` and `reason` (cut at a character boundary to fit a
/// control frame).
pub fn push_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason[..end];
    push_header(out, CLOSE, 2 + reason.len());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason.as_bytes());
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Cursor;

    use tungstenite::protocol::{Role, WebSocket};
    use tungstenite::{Message, protocol::frame::coding::CloseCode};

    use super::*;

    /// tungstenite, as a client, reads what we wrote: an independent decoder.
    pub(crate) fn read_back(bytes: Vec<u8>) -> Vec<Message> {
        let mut ws = WebSocket::from_raw_socket(Cursor::new(bytes), Role::Client, None);
        let mut out = Vec::new();
        while let Ok(message) = ws.read() {
            let close = matches!(message, Message::Close(_));
            out.push(message);
            if close {
                break;
            }
        }
        out
    }

    #[test]
    fn text_frames_of_every_length_class_read_back_whole() {
        // 7-bit, 16-bit and 64-bit lengths, and their edges.
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 200_000] {
            let body = "x".repeat(len);
            let (a, b) = body.split_at(len / 2);
            let mut out = Vec::new();
            push_text(&mut out, &[a, b, "}"]);
            let messages = read_back(out);
            assert_eq!(messages.len(), 1, "len {len}");
            assert_eq!(messages[0], Message::text(format!("{body}}}")), "len {len}");
        }
    }

    #[test]
    fn text_len_is_what_push_text_writes() {
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 200_000] {
            let mut out = Vec::new();
            push_text(&mut out, &[&"x".repeat(len)]);
            assert_eq!(text_len(len), out.len(), "len {len}");
        }
    }

    #[test]
    fn frames_written_back_to_back_read_as_separate_messages() {
        let mut out = Vec::new();
        push_text(&mut out, &[r#"{"type":"ka"}"#]);
        push_text(&mut out, &["é", "😀"]);
        push_close(&mut out, 1008, "send queue full");
        let messages = read_back(out);
        assert_eq!(messages[0], Message::text(r#"{"type":"ka"}"#));
        assert_eq!(messages[1], Message::text("é😀"));
        let Message::Close(Some(close)) = &messages[2] else {
            panic!("{messages:?}");
        };
        assert_eq!(close.code, CloseCode::Policy);
        assert_eq!(close.reason.as_str(), "send queue full");
    }

    #[test]
    fn a_long_close_reason_is_cut_to_fit_a_control_frame() {
        let reason = "é".repeat(100); // 200 bytes
        let mut out = Vec::new();
        push_close(&mut out, 1000, &reason);
        assert!(out.len() <= 2 + 125);
        let Message::Close(Some(close)) = &read_back(out)[0] else {
            panic!("not a close frame");
        };
        assert_eq!(close.reason.len(), 122);
        assert!(reason.starts_with(close.reason.as_str()));
    }
}
