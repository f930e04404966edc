//! The line protocol's session loop (netcat, telnet): asks for a nickname,
//! then reads lines and carries out what they say.

use bytes::Bytes;
use futures_util::StreamExt;

use chatroom_core::history::{HistoryAsk, HistoryError, MAX_ANSWER};
use chatroom_core::names::normalize_room;
use chatroom_core::{Command, Event, MsgKind, SayTarget};
use chatroom_proto::framing::{Frame, LineCodec, split_text, text};
use chatroom_proto::line::HELP;

use crate::connection::{Ctx, HubGone, ReadHalf};
use crate::reader::FrameReader;

/// Reads lines until the client leaves; returns the quit reason.
pub async fn session(mut ctx: Ctx, rd: ReadHalf) -> String {
    // Holds no buffer between lines (see `FrameReader`).
    let mut frames = FrameReader::new(rd, LineCodec::new(ctx.cfg.limits.max_line_bytes));
    if ctx
        .tell(Bytes::from_static(
            b"Welcome to chatroom! Choose a nickname:\n",
        ))
        .await
        .is_err()
    {
        return "Server shutting down".into();
    }
    let mut pages = Pages::default();
    loop {
        let line = match frames.next().await {
            None => return "Connection closed".into(),
            Some(Err(e)) => return format!("Read error: {e}"),
            Some(Ok(Frame::TooLong)) => {
                let max = ctx.cfg.limits.max_line_bytes;
                let msg = format!("! line too long (at most {max} bytes); it was not sent\n");
                if ctx.tell(Bytes::from(msg)).await.is_err() {
                    return "Server shutting down".into();
                }
                continue;
            }
            Some(Ok(Frame::Line(bytes))) => text(&bytes),
        };
        match handle_line(&mut ctx, &mut pages, &line).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Quit(reason)) => return reason,
            Err(HubGone) => return "Server shutting down".into(),
        }
    }
}

enum Flow {
    Continue,
    Quit(String),
}

/// Where `/history` goes on from: the room of the last page shown and the
/// msgid of the oldest message on it.
#[derive(Debug, Default)]
struct Pages(Option<(String, u64)>);

/// Messages `/history` shows when not told how many, and at most.
const HISTORY_PAGE: usize = 20;

const HISTORY_MAX: usize = MAX_ANSWER;

/// Results `/search` shows.
const SEARCH_RESULTS: usize = 20;

async fn handle_line(ctx: &mut Ctx, pages: &mut Pages, line: &str) -> Result<Flow, HubGone> {
    let line = line.trim_end_matches(['\r', '\n']);
    if !ctx.is_registered() {
        let nick = line.trim();
        if let Some(rest) = nick.strip_prefix("/quit") {
            let reason = rest.trim();
            return Ok(Flow::Quit(if reason.is_empty() {
                "Client quit".into()
            } else {
                reason.into()
            }));
        }
        if nick.is_empty() {
            ctx.tell(Bytes::from_static(b"Choose a nickname:\n"))
                .await?;
            return Ok(Flow::Continue);
        }
        let nick = nick.strip_prefix("/nick ").unwrap_or(nick).trim();
        let host = ctx.host();
        let _ = ctx
            .request(Command::Register {
                nick: nick.into(),
                user: nick.into(),
                realname: nick.into(),
                host,
            })
            .await?;
        return Ok(Flow::Continue);
    }
    if let Some(text) = line.strip_prefix("//") {
        say(ctx, SayTarget::Focus, MsgKind::Say, &format!("/{text}")).await?;
        return Ok(Flow::Continue);
    }
    let Some(cmdline) = line.strip_prefix('/') else {
        if !line.trim().is_empty() {
            say(ctx, SayTarget::Focus, MsgKind::Say, line).await?;
        }
        return Ok(Flow::Continue);
    };
    let (word, rest) = cmdline.split_once(' ').unwrap_or((cmdline, ""));
    let rest = rest.trim();
    let (arg1, arg_rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let arg_rest = arg_rest.trim();
    let cmd = match word.to_ascii_lowercase().as_str() {
        "nick" if !arg1.is_empty() => Command::Nick(arg1.into()),
        "join" | "j" if !arg1.is_empty() => Command::Join(normalize_room(arg1)),
        "part" | "leave" => {
            if arg1.starts_with('#') {
                Command::Part {
                    room: arg1.into(),
                    reason: Some(arg_rest.into()),
                }
            } else {
                Command::Part {
                    room: String::new(),
                    reason: (!rest.is_empty()).then(|| rest.into()),
                }
            }
        }
        "rooms" | "list" => Command::ListRooms,
        "who" | "names" => {
            if arg1.is_empty() {
                Command::Who(String::new())
            } else {
                Command::Who(normalize_room(arg1))
            }
        }
        "whois" if !arg1.is_empty() => Command::Whois(arg1.into()),
        "msg" | "query" | "m" if !arg1.is_empty() && !arg_rest.is_empty() => {
            let target = if arg1.starts_with('#') {
                SayTarget::Room(arg1.into())
            } else {
                SayTarget::Nick(arg1.into())
            };
            say(ctx, target, MsgKind::Say, arg_rest).await?;
            return Ok(Flow::Continue);
        }
        "me" if !rest.is_empty() => {
            say(ctx, SayTarget::Focus, MsgKind::Action, rest).await?;
            return Ok(Flow::Continue);
        }
        // An empty room name means the current room; the hub resolves it.
        "topic" if arg1.starts_with('#') => Command::Topic {
            room: arg1.into(),
            topic: (!arg_rest.is_empty()).then(|| arg_rest.into()),
        },
        "topic" => Command::Topic {
            room: String::new(),
            topic: (!rest.is_empty()).then(|| rest.into()),
        },
        // Room management: an omitted room is the current one.
        "kick" if !arg1.is_empty() => Command::Kick {
            room: String::new(),
            nick: arg1.into(),
            reason: (!arg_rest.is_empty()).then(|| arg_rest.into()),
        },
        "invite" if !arg1.is_empty() => Command::Invite {
            nick: arg1.into(),
            room: arg_rest.split(' ').next().unwrap_or("").into(),
        },
        "mode" => {
            let mut words: Vec<String> = rest.split_whitespace().map(String::from).collect();
            // `/mode +m` is about the current room; `/mode #room ...` and
            // `/mode nick +i` name their target.
            let target = if words.first().is_some_and(|w| !w.starts_with(['+', '-'])) {
                words.remove(0)
            } else {
                String::new()
            };
            Command::Mode {
                target,
                args: words,
            }
        }
        "away" => Command::Away((!rest.is_empty()).then(|| rest.into())),
        "back" => Command::Away(None),
        "quit" | "exit" => {
            let reason = if rest.is_empty() { "Client quit" } else { rest };
            ctx.send(Command::Quit(Some(reason.into()))).await?;
            return Ok(Flow::Quit(reason.into()));
        }
        "history" => {
            let limit = if rest.is_empty() {
                Some(HISTORY_PAGE)
            } else {
                rest.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=HISTORY_MAX).contains(n))
            };
            let Some(limit) = limit else {
                let msg = format!("! usage: /history [N] with N from 1 to {HISTORY_MAX}\n");
                ctx.tell(Bytes::from(msg)).await?;
                return Ok(Flow::Continue);
            };
            history(ctx, pages, limit).await?;
            return Ok(Flow::Continue);
        }
        "search" | "find" => {
            if rest.is_empty() {
                ctx.tell(Bytes::from_static(b"! usage: /search WORDS\n"))
                    .await?;
                return Ok(Flow::Continue);
            }
            search(ctx, rest).await?;
            return Ok(Flow::Continue);
        }
        "help" | "?" => {
            ctx.tell(Bytes::from_static(HELP.as_bytes())).await?;
            return Ok(Flow::Continue);
        }
        _ => {
            let msg = format!("! unknown command or missing argument: /{word} (try /help)\n");
            ctx.tell(Bytes::from(msg)).await?;
            return Ok(Flow::Continue);
        }
    };
    ctx.send(cmd).await?;
    Ok(Flow::Continue)
}

/// `/history`: the page before the last one shown, when the current room
/// is still the room of that page; else the newest page.
async fn history(ctx: &mut Ctx, pages: &mut Pages, limit: usize) -> Result<(), HubGone> {
    let ask = HistoryAsk::Page {
        before: pages.0.clone(),
        limit,
    };
    match ctx.history("", ask).await? {
        Ok(page) => {
            match page.oldest {
                Some(id) => pages.0 = Some((page.room.to_string(), id)),
                // Nothing older: the next /history starts from the newest again.
                None => pages.0 = None,
            };
            ctx.tell(Event::History {
                room: page.room,
                lines: page.lines,
            })
            .await
        }
        Err(e) => tell_history_error(ctx, e).await,
    }
}

/// `/search WORDS` in the current room.
async fn search(ctx: &mut Ctx, words: &str) -> Result<(), HubGone> {
    let ask = HistoryAsk::Search {
        words: words.to_string(),
        limit: SEARCH_RESULTS,
    };
    match ctx.history("", ask).await? {
        Ok(page) => {
            ctx.tell(Event::Found {
                room: page.room,
                words: chatroom_core::hub::clean_text(words, 100).into(),
                lines: page.lines,
            })
            .await
        }
        Err(e) => tell_history_error(ctx, e).await,
    }
}

async fn tell_history_error(ctx: &Ctx, e: HistoryError) -> Result<(), HubGone> {
    match e {
        HistoryError::Hub(e) => ctx.tell(Event::Error(e)).await,
        other => ctx.tell(Bytes::from(format!("! {other}\n"))).await,
    }
}

/// Sends text, split into several messages when longer than the hub allows.
async fn say(ctx: &mut Ctx, target: SayTarget, kind: MsgKind, text: &str) -> Result<(), HubGone> {
    let max = ctx.cfg.hub.text_len;
    for part in split_text(text, max) {
        ctx.send(Command::Say {
            target: target.clone(),
            kind,
            text: part.into(),
            tags: Vec::new(),
        })
        .await?;
    }
    Ok(())
}
