//! What the renderer's tests share: people, messages and a renderer in a
//! known state, and its output as text. Test code only; it must not hold
//! assertions of its own.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::BytesMut;

use chatroom_config::Config;
use chatroom_core::{Event, Lusers, MemberInfo, MsgKind, MsgTarget, UserInfo};

use super::{IrcRenderer, Local};
use crate::Renderer;
use crate::envelope::{Body, Envelope};
use crate::irc::caps::{Cap, CapSet};

pub fn user(nick: &str) -> Arc<UserInfo> {
    Arc::new(UserInfo {
        nick: nick.into(),
        user: nick.into(),
        realname: format!("{nick} R").into(),
        host: "127.0.0.1".into(),
        account: None,
        bot: false,
    })
}

pub fn logged_in(nick: &str, account: &str) -> Arc<UserInfo> {
    Arc::new(UserInfo {
        account: Some(account.into()),
        ..(*user(nick)).clone()
    })
}

pub fn renderer() -> IrcRenderer {
    IrcRenderer::new(&Config::default())
}

pub fn render(r: &mut IrcRenderer, ev: impl Into<Body>) -> String {
    let mut out = BytesMut::new();
    r.render(&Envelope::new(ev), &mut out);
    String::from_utf8(out.to_vec()).expect("utf-8")
}

pub fn lines(s: &str) -> Vec<&str> {
    s.split_terminator("\r\n").collect()
}

/// A renderer whose client is registered as `me` (and has had its
/// registration burst: welcome, counts, MOTD).
pub fn registered(me: &str) -> IrcRenderer {
    let mut r = renderer();
    render(
        &mut r,
        Event::Welcome {
            nick: me.into(),
            user: user(me),
        },
    );
    render(&mut r, Event::Lusers(Lusers::default()));
    r
}

/// A registered renderer whose client enabled `caps`.
pub fn with_caps(me: &str, caps: &[Cap]) -> IrcRenderer {
    let mut r = registered(me);
    let set: CapSet = caps.iter().copied().collect();
    render(&mut r, Local::Caps(set).body());
    r
}

pub fn msg(from: &str, to: MsgTarget, kind: MsgKind, text: &str) -> Event {
    Event::Message {
        id: 1,
        time: SystemTime::now(),
        from: user(from),
        to,
        kind,
        text: text.into(),
        tags: Vec::new(),
    }
}

pub fn room(name: &str) -> MsgTarget {
    MsgTarget::Room(name.into())
}

pub fn member(nick: &str, op: bool, away: Option<&str>) -> MemberInfo {
    MemberInfo {
        user: user(nick),
        op,
        voice: false,
        oper: false,
        away: away.map(Into::into),
    }
}
