//! IRC over WebSocket as pure functions: one WebSocket message is one IRC
//! line (IRCv3 WebSocket specification), and the server's runtime sees the
//! socket as a byte stream of CR LF-terminated lines. These map one to the
//! other; the runtime's adapter (`chatroom-server`'s `websocket.rs`) does
//! the I/O around them.
//!
//! Also the origin rule of the upgrade ([`origin_allowed`]): a page on
//! another site must not be able to open a chat connection in a visitor's
//! browser.
//!
//! Must not interpret IRC, and must not do I/O: bytes in, bytes out.

use bytes::{Bytes, BytesMut};

/// Whether an upgrade request may open a chat connection, by its `Origin`
/// header (browsers always send one; other clients usually none) and its
/// `Host` header (the address the browser used to reach this server):
/// - no `Origin`: yes (not a page in a browser, so nobody else's page);
/// - `allowed` holds `*`: any origin;
/// - `allowed` lists the origin (`https://chat.example`, compared without
///   regard to case): yes — the list is for pages served from elsewhere,
///   such as behind a reverse proxy;
/// - otherwise only the same origin: the origin's host and port are the
///   request's own `Host` (default ports left out on both sides).
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin.map(str::trim) else {
        return true;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        // `null` (a sandboxed frame, a file) and anything unparsable.
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => ":80",
        "https" | "wss" => ":443",
        _ => return false,
    };
    let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else {
        return false;
    };
    let bare = |a: &str| -> String {
        let a = a.trim_end_matches('/').to_ascii_lowercase();
        a.strip_suffix(default_port)
            .map(str::to_string)
            .unwrap_or(a)
    };
    bare(authority) == bare(host)
}

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
    fn only_the_same_origin_unless_listed() {
        let none: Vec<String> = Vec::new();
        let host = Some("192.168.1.20:8080");
        // Not a browser.
        assert!(origin_allowed(None, host, &none));
        // The page this server served.
        assert!(origin_allowed(
            Some("http://192.168.1.20:8080"),
            host,
            &none
        ));
        assert!(origin_allowed(
            Some("HTTP://Chat.Example"),
            Some("chat.example:80"),
            &none
        ));
        assert!(origin_allowed(
            Some("https://chat.example"),
            Some("chat.example"),
            &none
        ));
        // Somebody else's page.
        assert!(!origin_allowed(Some("https://evil.example"), host, &none));
        assert!(!origin_allowed(
            Some("http://192.168.1.20:8081"),
            host,
            &none
        ));
        assert!(!origin_allowed(Some("http://192.168.1.20"), host, &none));
        assert!(!origin_allowed(Some("null"), host, &none));
        assert!(!origin_allowed(
            Some("http://192.168.1.20:8080"),
            None,
            &none
        ));
        // Listed, or everyone.
        let listed = vec!["https://chat.example".to_string()];
        assert!(origin_allowed(Some("https://CHAT.example"), host, &listed));
        assert!(!origin_allowed(Some("https://evil.example"), host, &listed));
        assert!(origin_allowed(
            Some("https://evil.example"),
            host,
            &["*".to_string()]
        ));
    }

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
