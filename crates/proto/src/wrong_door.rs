//! Someone at the wrong listener: an IRC client (or `chatroom join`) on
//! the line protocol's port, whose first line would otherwise be taken as
//! a nickname ("CAP LS 302 is not a valid nickname"), or a web browser on
//! a port that does not speak HTTP. Each gets one short answer in a form
//! its program shows (an IRC `ERROR`, a plain-text HTTP response) naming
//! the port it wants, and the connection is closed.
//!
//! Pure: recognises a first line and words the answer from the
//! configuration, which holds the ports really listened on. Must not read
//! or write anything itself.

use bytes::Bytes;

use chatroom_config::Config;

/// Whether a first line on the line port is an IRC client's registration
/// (`CAP`, `NICK`, `USER` or `PASS` and a parameter), not a nickname.
pub fn is_irc_registration(line: &str) -> bool {
    let line = line.trim_start();
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    ["CAP", "NICK", "USER", "PASS"]
        .iter()
        .any(|w| word.eq_ignore_ascii_case(w))
        && !rest.trim().is_empty()
}

/// Whether a first line is an HTTP request line (`GET / HTTP/1.1`).
pub fn is_http_request(line: &str) -> bool {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    const METHODS: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    METHODS.contains(&method) && !target.is_empty() && version.trim_end().starts_with("HTTP/")
}

/// Where IRC is, in words.
fn irc_ports(cfg: &Config) -> String {
    match (cfg.listeners.irc, cfg.tls.enabled) {
        (true, true) => format!(
            "IRC clients connect to port {} (IRC over TLS: {})",
            cfg.listeners.irc_port, cfg.tls.port
        ),
        (true, false) => format!("IRC clients connect to port {}", cfg.listeners.irc_port),
        (false, true) => format!("IRC clients connect to port {} (TLS)", cfg.tls.port),
        (false, false) => "this server has no IRC listener".to_string(),
    }
}

/// The answer to an IRC client on the line port: an IRC `ERROR` line
/// (which IRC clients, `chatroom join` among them, show as the reason the
/// server closed the link) and the reason to close with.
pub fn irc_on_line_port(cfg: &Config) -> (Bytes, String) {
    let text = format!(
        "This is chatroom's line protocol port (port {}, for nc and telnet); {}",
        cfg.listeners.line_port,
        irc_ports(cfg)
    );
    (
        Bytes::from(format!("ERROR :{text}\r\n")),
        "IRC client on the line port".to_string(),
    )
}

/// What a web browser at a port that is not the web listener's is told
/// (`this`: the port's name, "IRC" or "line protocol"), one line.
pub fn web_hint(this: &str, this_port: u16, cfg: &Config) -> String {
    let web = if cfg.web.enabled {
        format!(
            "The web app is on port {}: http://<this server>:{}/",
            cfg.web.port, cfg.web.port
        )
    } else {
        "This server's web listener is off.".to_string()
    };
    format!("This is chatroom's {this} port ({this_port}), not a web server. {web}")
}

/// The answer to an HTTP request on the IRC port, which says nothing
/// before the client does: a plain-text HTTP response with the
/// [`web_hint`], and the reason to close with.
pub fn http_on_irc_port(cfg: &Config) -> (Bytes, String) {
    let body = format!("{}\n", web_hint("IRC", cfg.listeners.irc_port, cfg));
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    (
        Bytes::from(response),
        "HTTP request on the IRC port".to_string(),
    )
}

/// The answer to an HTTP request on the line port, which has already
/// greeted the client (so no HTTP response can follow): the
/// [`web_hint`] as a line, and the reason to close with.
pub fn http_on_line_port(cfg: &Config) -> (Bytes, String) {
    let hint = web_hint("line protocol", cfg.listeners.line_port, cfg);
    (
        Bytes::from(format!("{hint}\n")),
        "HTTP request on the line protocol port".to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irc_registration_lines_are_recognised_nicknames_are_not() {
        for line in [
            "CAP LS 302",
            "NICK alice",
            "USER a 0 * :Alice",
            "PASS secret",
            "cap ls",
        ] {
            assert!(is_irc_registration(line), "{line}");
        }
        for line in ["alice", "Nick", "CAP", "capybara", "nickname please"] {
            assert!(!is_irc_registration(line), "{line}");
        }
    }

    #[test]
    fn http_request_lines_are_recognised() {
        assert!(is_http_request("GET / HTTP/1.1"));
        assert!(is_http_request("HEAD /favicon.ico HTTP/1.0"));
        for line in [
            "GET /",
            "get / HTTP/1.1",
            "GET  HTTP/1.1",
            "PRIVMSG #a :GET / HTTP/1.1",
        ] {
            assert!(!is_http_request(line), "{line}");
        }
    }

    #[test]
    fn answers_name_the_ports_listened_on() {
        let mut cfg = Config::default();
        cfg.listeners.irc_port = 16667;
        cfg.tls.port = 16697;
        cfg.web.port = 18080;
        let (bytes, _) = irc_on_line_port(&cfg);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("ERROR :"), "{text}");
        assert!(text.contains("16667") && text.contains("16697"), "{text}");
        let (bytes, _) = http_on_irc_port(&cfg);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{text}"
        );
        assert!(body.contains("port 18080"), "{body}");
        let (bytes, _) = http_on_line_port(&cfg);
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("line protocol port") && text.contains("port 18080"),
            "{text}"
        );
    }
}
