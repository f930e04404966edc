//! The plain line mode, used when stdin or stdout is not a terminal (scripts,
//! pipes, tests): each stdin line is a command (`/join #x`) or text for the
//! current room; each event is printed to stdout as one stable line:
//!
//! ```text
//! connected to 127.0.0.1:6667 as alice
//! 12:01 #lobby * bob joined
//! 12:01 #lobby <alice> hi
//! 12:01 #lobby * alice waves
//! 12:01 #lobby * bob left (reason)
//! 12:01 #lobby * bob quit (reason)
//! 12:01 * alice is now known as alicia
//! 12:01 -> bob: private text
//! 12:01 <bob> (private) text
//! 12:01 * bob (private) waves
//! 12:01 #lobby -bob- a notice
//! 12:01 -bob- a private notice
//! 12:01 * some server or command reply
//! 12:01 ! an error
//! ```
//!
//! Lines from the server's history (the replay on joining a room, pages
//! fetched with /history) carry their date as well and come between marks:
//!
//! ```text
//! 12:01 #lobby — history —
//! 2024-05-01 09:12 #lobby <alice> earlier words
//! 12:01 #lobby — live —
//! ```
//!
//! Stdin is read only once registered, so lines piped in before the server
//! answers are sent after the first JOIN. On stdin EOF it sends QUIT and
//! exits 0. This module must not draw to a terminal or interpret IRC itself;
//! it only moves lines between stdio and the [`Session`].

use chatroom_proto::terminal::for_terminal;
use std::io::{BufRead, Write};

use tokio::sync::mpsc;

use super::session::{Flow, Session, now, stop_signal};
use super::state::{Event, LineKind, Scope};

/// Formats one event as its stdout line.
pub fn format_event(ev: &Event) -> String {
    let time = if ev.line.history {
        ev.line.time.format("%Y-%m-%d %H:%M")
    } else {
        ev.line.time.format("%H:%M")
    };
    let room = match &ev.scope {
        Scope::Room(r) => format!("{r} "),
        _ => String::new(),
    };
    let private = matches!(ev.scope, Scope::Private(_));
    let peer = match &ev.scope {
        Scope::Private(n) => n.as_str(),
        _ => "",
    };
    match &ev.line.kind {
        LineKind::Connected { server, nick } => format!("connected to {server} as {nick}"),
        LineKind::Message { nick, text, own } => match (private, own) {
            (true, true) => format!("{time} -> {peer}: {text}"),
            (true, false) => format!("{time} <{nick}> (private) {text}"),
            _ => format!("{time} {room}<{nick}> {text}"),
        },
        LineKind::Action { nick, text, own } => match (private, own) {
            (true, true) => format!("{time} -> {peer}: * {nick} {text}"),
            (true, false) => format!("{time} * {nick} (private) {text}"),
            _ => format!("{time} {room}* {nick} {text}"),
        },
        LineKind::Notice { nick, text, own } => match (private, own) {
            (true, true) => format!("{time} -> -{peer}- {text}"),
            _ => format!("{time} {room}-{nick}- {text}"),
        },
        LineKind::Error(text) => format!("{time} {room}! {text}"),
        LineKind::Marker(text) => format!("{time} {room}{text}"),
        kind => {
            let text = kind.event_text().unwrap_or_default();
            format!("{time} {room}* {text}")
        }
    }
}

/// Runs the plain mode until stdin ends, /quit, or a stop signal.
pub async fn run(mut session: Session) -> anyhow::Result<()> {
    session.state.record_events = true;
    let mut lines = spawn_stdin_reader();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let stop = stop_signal();
    tokio::pin!(stop);
    let reason = loop {
        let registered = session.state.is_registered();
        tokio::select! {
            ev = session.next_conn_event() => match ev {
                Some(ev) => session.on_conn_event(ev, now()),
                None => break None,
            },
            line = lines.recv(), if registered => match line {
                Some(line) => {
                    if let Flow::Quit(reason) = session.submit(&line, now()) {
                        break Some(reason);
                    }
                }
                None => break Some("end of input".to_string()),
            },
            _ = tick.tick() => session.tick(now()),
            _ = &mut stop => break Some("interrupted".to_string()),
        }
        if print_events(&mut session).is_err() {
            // Nobody reads our output any more (closed pipe).
            break Some("output closed".to_string());
        }
    };
    let _ = print_events(&mut session);
    if let Some(reason) = reason {
        session.quit(&reason).await;
    }
    Ok(())
}

fn print_events(session: &mut Session) -> std::io::Result<()> {
    // Bells and notifications are the full-screen mode's.
    session.state.take_alerts();
    let events = session.state.take_events();
    if events.is_empty() {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    for ev in &events {
        // What the server relayed reaches a terminal or a script's input:
        // no control sequence gets through (see `chatroom_proto::terminal`).
        writeln!(out, "{}", for_terminal(&format_event(ev), false))?;
    }
    out.flush()
}

/// Reads stdin lines, lossy as UTF-8, on a plain thread: a read pending in
/// tokio's blocking pool would keep the runtime from shutting down after
/// /quit. The channel closes at EOF; its bound makes reading wait while the
/// session is not taking lines (not yet registered).
fn spawn_stdin_reader() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(64);
    let spawned = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match stdin.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        let line = line.trim_end_matches(['\r', '\n']);
                        if line.trim().is_empty() {
                            continue;
                        }
                        if tx.blocking_send(line.to_string()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    // Without the thread the sender is dropped: treated as end of input.
    drop(spawned);
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Line;
    use chrono::{Local, TimeZone};

    fn ev(scope: Scope, kind: LineKind) -> String {
        let time = Local
            .with_ymd_and_hms(2024, 5, 1, 12, 1, 0)
            .single()
            .expect("valid time");
        format_event(&Event {
            scope,
            line: Line::new(time, kind),
        })
    }

    fn room() -> Scope {
        Scope::Room("#lobby".into())
    }

    #[test]
    fn formats_are_stable() {
        let s = |x: &str| x.to_string();
        assert_eq!(
            ev(
                room(),
                LineKind::Message {
                    nick: s("alice"),
                    text: s("hi"),
                    own: false
                }
            ),
            "12:01 #lobby <alice> hi"
        );
        assert_eq!(
            ev(room(), LineKind::Join { nick: s("bob") }),
            "12:01 #lobby * bob joined"
        );
        assert_eq!(
            ev(
                room(),
                LineKind::Part {
                    nick: s("bob"),
                    reason: Some(s("reason"))
                }
            ),
            "12:01 #lobby * bob left (reason)"
        );
        assert_eq!(
            ev(
                room(),
                LineKind::Quit {
                    nick: s("bob"),
                    reason: Some(s("reason"))
                }
            ),
            "12:01 #lobby * bob quit (reason)"
        );
        assert_eq!(
            ev(
                Scope::Global,
                LineKind::Nick {
                    old: s("alice"),
                    new: s("alicia")
                }
            ),
            "12:01 * alice is now known as alicia"
        );
        assert_eq!(
            ev(
                Scope::Private(s("bob")),
                LineKind::Message {
                    nick: s("me"),
                    text: s("private text"),
                    own: true
                }
            ),
            "12:01 -> bob: private text"
        );
        assert_eq!(
            ev(
                Scope::Private(s("bob")),
                LineKind::Message {
                    nick: s("bob"),
                    text: s("text"),
                    own: false
                }
            ),
            "12:01 <bob> (private) text"
        );
        assert_eq!(
            ev(
                room(),
                LineKind::Action {
                    nick: s("alice"),
                    text: s("waves"),
                    own: true
                }
            ),
            "12:01 #lobby * alice waves"
        );
        assert_eq!(
            ev(
                Scope::Global,
                LineKind::Connected {
                    server: s("127.0.0.1:6667"),
                    nick: s("alice")
                }
            ),
            "connected to 127.0.0.1:6667 as alice"
        );
        assert_eq!(
            ev(Scope::Global, LineKind::Error(s("no such nick"))),
            "12:01 ! no such nick"
        );
    }
}
