//! IRC over WebSocket as pure functions: one WebSocket message is one IRC
//! line (IRCv3 WebSocket specification), and the server's runtime sees the
//! socket as a byte stream of CR LF-terminated lines. These map one to the
//! other; the runtime's adapter (`chatroom-server`'s `websocket.rs`) does
//! the I/O around them.
//!
//! Must not interpret IRC, and must not do I/O: bytes in, bytes out.

use bytes::{Bytes, BytesMut};

/// Appends the lines of one received message to `input`, each with CR LF.
/// One message is one line; a message that still holds line breaks is
/// split at them, as the same bytes on TCP would be, so it can never
/// smuggle more than the lines it visibly contains. Empty lines are
/// dropped (an empty message means nothing).
pub fn message_to_lines(payload: &[u8], input: &mut BytesMut) {
    for line in payload.split(|&b| b == b'\n' || b == b'\r') {
        if !line.is_empty() {
            input.extend_from_slice(line);
            input.extend_from_slice(b"\r\n");
        }
    }
}

/// Takes the first complete line (up to LF) off `output`, without its LF
/// and the CR before it: the payload of one message to send. `None` while
/// no complete line is waiting (an incomplete last line stays in `output`).
pub fn next_line(output: &mut BytesMut) -> Option<Bytes> {
    let end = memchr::memchr(b'\n', output)?;
    let mut line = output.split_to(end + 1).freeze();
    line.truncate(end);
    if line.last() == Some(&b'\r') {
        line.truncate(end - 1);
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_a_line_and_breaks_inside_it_split_it() {
        let mut input = BytesMut::new();
        message_to_lines(b"PRIVMSG #a :hi", &mut input);
        message_to_lines(b"", &mut input);
        message_to_lines(b"PING x\r\nPONG y\r\r\n", &mut input);
        assert_eq!(&input[..], b"PRIVMSG #a :hi\r\nPING x\r\nPONG y\r\n");
    }

    #[test]
    fn output_leaves_as_one_message_per_line() {
        let mut output = BytesMut::from(&b"a\r\nb\nc"[..]);
        assert_eq!(next_line(&mut output).as_deref(), Some(&b"a"[..]));
        assert_eq!(next_line(&mut output).as_deref(), Some(&b"b"[..]));
        assert_eq!(next_line(&mut output), None);
        assert_eq!(&output[..], b"c");
        output.extend_from_slice(b"\r\n");
        assert_eq!(next_line(&mut output).as_deref(), Some(&b"c"[..]));
        assert!(output.is_empty());
    }
}
