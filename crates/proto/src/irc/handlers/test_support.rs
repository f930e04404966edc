//! What the session's tests share: a configuration, a state registered or
//! with capabilities, a line run through the dispatcher, and a step's
//! reply as the renderer would write it. Test code only; it must not hold
//! assertions of its own.

use bytes::BytesMut;

use chatroom_config::Config;

use super::dispatch;
use crate::Renderer;
use crate::irc::local::Local;
use crate::irc::message::Message;
use crate::irc::render::IrcRenderer;
use crate::irc::state::State;
use crate::irc::step::Step;

pub fn cfg() -> Config {
    Config::default()
}

pub fn run(st: &mut State, line: &str) -> Vec<Step> {
    let msg = Message::parse(line).expect("parses");
    dispatch(st, &msg, &cfg())
}

/// The local reply in a step, rendered by a renderer whose client is `*`.
pub fn shown(step: &Step) -> String {
    let ev: crate::Body = match step {
        Step::Tell(ev) => ev.clone().into(),
        Step::Note(local) => local.body(),
        Step::Raw(bytes) => bytes.clone().into(),
        _ => panic!("not a reply: {step:?}"),
    };
    let mut r = IrcRenderer::new(&cfg());
    let mut out = BytesMut::new();
    r.render(&crate::Envelope::new(ev), &mut out);
    String::from_utf8(out.to_vec()).expect("utf-8")
}

pub fn local(l: Local) -> Step {
    Step::Note(l)
}

pub fn registered_state() -> State {
    let mut st = State::default();
    run(&mut st, "NICK bob");
    run(&mut st, "USER bob 0 * :Bob");
    st.registered();
    st
}

pub fn register_step(nick: &str, user: &str, realname: &str) -> Step {
    Step::Register {
        nick: nick.into(),
        user: user.into(),
        realname: realname.into(),
    }
}

pub fn with_caps(caps: &str) -> State {
    let mut st = registered_state();
    run(&mut st, &format!("CAP REQ :{caps}"));
    st
}
