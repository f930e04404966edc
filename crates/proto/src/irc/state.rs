//! What the IRC session knows about its client ([`State`]): whether it is
//! registered, what registration has gathered so far, the IRCv3
//! capabilities negotiated, a SASL exchange in progress and the account
//! logged in to.
//!
//! Shared by the command handlers, `login` and the server's session loop,
//! below all of them. It records facts that need no hub decision; it must
//! not decide anything the hub decides (whether a nickname is free, whether
//! registration succeeds: the hub's answer arrives through
//! [`State::registered`] and [`State::register_failed`]).

use super::caps::{Cap, CapState};
use super::limits::MAX_LABEL;
use super::message::Message;
use super::sasl::Exchange;
use super::step::Step;

/// What the session knows about its client.
///
/// Small on purpose: it lives in every connection's session state for the
/// connection's whole life, and what registration gathers (names, the
/// password) or a SASL exchange holds is needed only for a moment, so it
/// sits in boxes that exist only while they are used (the session's state
/// was 624 B, a size class above 512; `docs/perf.md`, third round).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct State {
    registered: bool,
    /// The connection came over TLS (the hub is told once registered).
    pub secure: bool,
    /// IRCv3 negotiation: what is enabled, and whether an open
    /// negotiation holds registration back.
    caps: CapState,
    /// What registration gathers; `None` once registered (or before
    /// anything was offered).
    gathered: Option<Box<Gathered>>,
    /// A SASL exchange in progress.
    pub sasl: Option<Box<Exchange>>,
    /// The account this connection is logged in to.
    pub account: Option<String>,
    /// A `draft/multiline` batch the client has opened and not yet closed.
    pub multiline: Option<Box<OpenBatch>>,
}

/// A client's `draft/multiline` batch while it is being sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OpenBatch {
    /// The client's reference (`BATCH +<reference> ...`).
    pub reference: String,
    pub target: String,
    /// The `label` of the `BATCH +` line: the message's echo answers it.
    pub label: Option<String>,
    /// Client-only tags of the `BATCH +` line: the message's tags.
    pub tags: Vec<(String, String)>,
    /// The lines so far, with whether each continues the one before.
    pub lines: Vec<(String, bool)>,
    /// Bytes of the combined message so far (each break one byte).
    pub bytes: usize,
    /// Refused already (a FAIL was sent): the rest is ignored until `BATCH -`.
    pub failed: bool,
}

/// What the client offers before registration.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Gathered {
    /// The nickname offered (valid by the hub's rules, maybe taken). After
    /// registration the renderer keeps track of the nickname.
    nick: Option<String>,
    /// USER's username and real name.
    user: Option<(String, String)>,
    /// The connection password from PASS, checked at registration.
    pass: Option<String>,
}

impl State {
    /// A new connection's state; `secure` when it came over TLS.
    pub fn new(secure: bool) -> State {
        State {
            secure,
            ..State::default()
        }
    }

    pub fn is_registered(&self) -> bool {
        self.registered
    }

    pub fn nick(&self) -> Option<&str> {
        self.gathered.as_ref()?.nick.as_deref()
    }

    fn gathered(&mut self) -> &mut Gathered {
        self.gathered.get_or_insert_with(Box::default)
    }

    /// PASS: the connection password, checked at registration.
    pub(crate) fn offer_pass(&mut self, pass: &str) {
        self.gathered().pass = Some(pass.to_string());
    }

    /// USER: the username and real name.
    pub(crate) fn offer_user(&mut self, user: &str, realname: &str) {
        self.gathered().user = Some((user.to_string(), realname.to_string()));
    }

    /// NICK before registration: a nickname valid by the hub's rules.
    pub(crate) fn offer_nick(&mut self, nick: &str) {
        self.gathered().nick = Some(nick.to_string());
    }

    /// The hub accepted the registration. What was gathered for it is let
    /// go: the hub and the renderer keep the names from here on, and the
    /// session would hold its copies for the connection's whole life.
    pub fn registered(&mut self) {
        self.registered = true;
        self.gathered = None;
    }

    /// The hub refused the nickname: the client must send another NICK.
    pub fn register_failed(&mut self) {
        if let Some(g) = &mut self.gathered {
            g.nick = None;
        }
    }

    /// The connection password offered with PASS, taken to be checked.
    pub fn take_pass(&mut self) -> Option<String> {
        self.gathered.as_mut()?.pass.take()
    }

    pub fn has(&self, cap: Cap) -> bool {
        self.caps.enabled.has(cap)
    }

    /// The capability negotiation, for CAP.
    pub(crate) fn caps_mut(&mut self) -> &mut CapState {
        &mut self.caps
    }

    /// `nick!user@host` as known before registration (`*` for what is not).
    pub fn mask(&self, host: &str) -> String {
        let g = self.gathered.as_deref();
        let nick = g.and_then(|g| g.nick.as_deref()).unwrap_or("*");
        let user = g
            .and_then(|g| g.user.as_ref())
            .map_or("*", |(u, _)| u.as_str());
        format!("{nick}!{user}@{host}")
    }

    /// The `label` of a line to answer as a labeled response, if the
    /// client enabled labeled-response and batch (which the spec requires
    /// for labels to be used) and is registered (the registration burst is
    /// never one response).
    pub fn label_of(&self, msg: &Message) -> Option<String> {
        // A multiline batch answers once, at its end, with the label its
        // opening line carried; its other lines answer nothing.
        if let Some(open) = &self.multiline {
            if msg.command == "BATCH" && msg.param(0) == format!("-{}", open.reference) {
                return open.label.clone();
            }
            if msg.tag("batch").is_some() {
                return None;
            }
        }
        if msg.command == "BATCH" && msg.param(0).starts_with('+') {
            return None;
        }
        let label = msg.tag("label")?;
        let ok = self.registered
            && self.has(Cap::LabeledResponse)
            && self.has(Cap::Batch)
            && !label.is_empty()
            && label.len() <= MAX_LABEL;
        ok.then(|| label.to_string())
    }

    /// Registration happens once NICK and USER are known and no CAP
    /// negotiation is open.
    pub(crate) fn try_register(&self, steps: &mut Vec<Step>) {
        if self.registered || self.caps.negotiating {
            return;
        }
        let Some(g) = &self.gathered else {
            return;
        };
        if let (Some(nick), Some((user, realname))) = (&g.nick, &g.user) {
            steps.push(Step::Register {
                nick: nick.clone(),
                user: user.clone(),
                realname: realname.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::irc::handlers::test_support::*;
    use crate::irc::limits::MAX_LABEL;
    use crate::irc::message::Message;
    use crate::irc::state::State;

    #[test]
    fn labels_need_the_capability_registration_and_a_short_label() {
        let msg = |l: &str| Message::parse(l).expect("parses");
        let st = with_caps("labeled-response batch");
        assert_eq!(st.label_of(&msg("@label=x1 PING a")), Some("x1".into()));
        // The spec makes batch a requirement for labels.
        let no_batch = with_caps("labeled-response");
        assert_eq!(no_batch.label_of(&msg("@label=x1 PING a")), None);
        assert_eq!(st.label_of(&msg("PING a")), None);
        let long = format!("@label={} PING a", "l".repeat(MAX_LABEL + 1));
        assert_eq!(st.label_of(&msg(&long)), None);
        assert_eq!(registered_state().label_of(&msg("@label=x1 PING a")), None);
        let mut early = State::default();
        run(&mut early, "CAP REQ labeled-response");
        assert_eq!(early.label_of(&msg("@label=x1 PING a")), None);
    }
}
