//! Test helpers shared by the state model's tests: fixed clocks, feeding
//! server lines, running typed commands, and a state already registered and
//! joined to a room. Test-only; it must not hold tests itself.

use chatroom_proto::irc::message::Message;
use chrono::{Local, TimeZone};
use std::time::Instant;

use super::{Effect, LineKind, Now, State};
use crate::command::parse_input;

pub fn now() -> Now {
    Now {
        instant: Instant::now(),
        local: Local
            .with_ymd_and_hms(2024, 5, 1, 12, 1, 0)
            .single()
            .expect("valid time"),
    }
}

pub fn feed(state: &mut State, line: &str) -> Vec<Message> {
    let msg = Message::parse(line).expect("test line parses");
    state.handle_message(&msg, now())
}

/// Expected messages, compared parsed so the test does not depend on
/// where the serializer chooses to put a `:`.
pub fn msgs(lines: &[&str]) -> Vec<Message> {
    lines
        .iter()
        .map(|l| Message::parse(l).expect("expected line parses"))
        .collect()
}

pub fn run(state: &mut State, input: &str) -> Vec<Effect> {
    state.execute(parse_input(input), now())
}

pub fn sent(effects: &[Effect]) -> Vec<Message> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// A state registered as `me` and joined to #lobby with alice and @bob.
pub fn joined() -> State {
    let mut s = State::new("irc.test:6667", "me", Some("#lobby"));
    s.on_connected("127.0.0.1:6667", now());
    let out = feed(&mut s, ":srv 001 me :Welcome to the test net");
    assert_eq!(out, msgs(&["JOIN #lobby"]));
    feed(&mut s, ":me!u@h JOIN #lobby");
    feed(&mut s, ":srv 353 me = #lobby :me alice @bob");
    feed(&mut s, ":srv 366 me #lobby :End of NAMES list");
    s
}

pub fn last_kind(s: &State, buffer: &str) -> LineKind {
    let i = s.find_buffer(buffer).expect("buffer exists");
    s.buffers[i].lines.back().expect("has a line").kind.clone()
}

pub fn nicks(s: &State, buffer: &str) -> Vec<String> {
    let i = s.find_buffer(buffer).expect("buffer exists");
    s.sorted_members(i)
        .iter()
        .map(|m| format!("{}{}", m.prefixes, m.nick))
        .collect()
}
