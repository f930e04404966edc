//! IRCv3 capability negotiation: the capabilities this server can offer,
//! the set a client has enabled, and the `CAP` subcommands (LS, LIST, REQ,
//! END, and the version 302 multi-line LS and cap-notify rules).
//!
//! Specs: <https://ircv3.net/specs/extensions/capability-negotiation>,
//! <https://ircv3.net/specs/extensions/cap-notify>.
//!
//! Pure: it turns a client's `CAP` line into reply parameters and a new
//! [`CapState`]. It must not decide what a capability changes in the output
//! (the renderer reads the enabled set for that) and must not advertise a
//! capability that the session and renderer do not implement: the offer is
//! built by the caller from what is wired up, never from [`Cap::ALL`].

use std::fmt;

/// Every capability name this module knows. Knowing a name is not
/// offering it: see [`Offer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cap {
    AccountNotify,
    AccountRegistration,
    AccountTag,
    AwayNotify,
    Batch,
    CapNotify,
    ChatHistory,
    Chghost,
    EchoMessage,
    ExtendedJoin,
    ExtendedMonitor,
    InviteNotify,
    LabeledResponse,
    MessageRedaction,
    MessageTags,
    MultiPrefix,
    Multiline,
    ReadMarker,
    Sasl,
    ServerTime,
    Setname,
    StandardReplies,
    UserhostInNames,
    Utf8Only,
}

impl Cap {
    pub const ALL: [Cap; 24] = [
        Cap::AccountNotify,
        Cap::AccountRegistration,
        Cap::AccountTag,
        Cap::AwayNotify,
        Cap::Batch,
        Cap::CapNotify,
        Cap::ChatHistory,
        Cap::Chghost,
        Cap::EchoMessage,
        Cap::ExtendedJoin,
        Cap::ExtendedMonitor,
        Cap::InviteNotify,
        Cap::LabeledResponse,
        Cap::MessageRedaction,
        Cap::MessageTags,
        Cap::MultiPrefix,
        Cap::Multiline,
        Cap::ReadMarker,
        Cap::Sasl,
        Cap::ServerTime,
        Cap::Setname,
        Cap::StandardReplies,
        Cap::UserhostInNames,
        Cap::Utf8Only,
    ];

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Cap::AccountNotify => "account-notify",
            Cap::AccountRegistration => "draft/account-registration",
            Cap::AccountTag => "account-tag",
            Cap::AwayNotify => "away-notify",
            Cap::Batch => "batch",
            Cap::CapNotify => "cap-notify",
            Cap::ChatHistory => "draft/chathistory",
            Cap::Chghost => "chghost",
            Cap::EchoMessage => "echo-message",
            Cap::ExtendedJoin => "extended-join",
            Cap::ExtendedMonitor => "extended-monitor",
            Cap::InviteNotify => "invite-notify",
            Cap::LabeledResponse => "labeled-response",
            Cap::MessageRedaction => "draft/message-redaction",
            Cap::MessageTags => "message-tags",
            Cap::MultiPrefix => "multi-prefix",
            Cap::ReadMarker => "draft/read-marker",
            Cap::Multiline => "draft/multiline",
            Cap::Sasl => "sasl",
            Cap::ServerTime => "server-time",
            Cap::Setname => "setname",
            Cap::StandardReplies => "standard-replies",
            Cap::UserhostInNames => "userhost-in-names",
            Cap::Utf8Only => "utf8only",
        }
    }

    /// Names are case-sensitive (the spec compares them exactly).
    pub fn from_name(name: &str) -> Option<Cap> {
        Cap::ALL.into_iter().find(|c| c.name() == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// A capability the client may not switch off once on: cap-notify is
    /// implied by `CAP LS 302` and stays on for such clients.
    fn sticky(self, version: u16) -> bool {
        self == Cap::CapNotify && version >= 302
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of capabilities (a bit set: cheap to copy into the renderer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSet(u32);

impl CapSet {
    pub const EMPTY: CapSet = CapSet(0);

    pub fn has(self, cap: Cap) -> bool {
        self.0 & cap.bit() != 0
    }

    pub fn with(self, cap: Cap) -> CapSet {
        CapSet(self.0 | cap.bit())
    }

    pub fn without(self, cap: Cap) -> CapSet {
        CapSet(self.0 & !cap.bit())
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Cap> {
        Cap::ALL.into_iter().filter(move |c| self.has(*c))
    }
}

impl FromIterator<Cap> for CapSet {
    fn from_iter<I: IntoIterator<Item = Cap>>(iter: I) -> CapSet {
        iter.into_iter().fold(CapSet::EMPTY, CapSet::with)
    }
}

/// What this server offers, in advertising order, each with the value
/// version-302 clients are shown (`sasl=PLAIN,EXTERNAL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offer {
    caps: Vec<(Cap, Option<String>)>,
}

impl Offer {
    pub fn new() -> Offer {
        Offer::default()
    }

    /// Adds `cap` (once), with an optional value.
    pub fn with(mut self, cap: Cap, value: Option<&str>) -> Offer {
        if !self.has(cap) {
            self.caps.push((cap, value.map(str::to_string)));
        }
        self
    }

    pub fn has(&self, cap: Cap) -> bool {
        self.caps.iter().any(|(c, _)| *c == cap)
    }

    pub fn set(&self) -> CapSet {
        self.caps.iter().map(|(c, _)| *c).collect()
    }

    /// The LS tokens: values only for version 302 and later (a 301 client
    /// would take `sasl=PLAIN` for an unknown capability name).
    fn tokens(&self, version: u16) -> impl Iterator<Item = String> + '_ {
        self.caps.iter().map(move |(cap, value)| match value {
            Some(v) if version >= 302 => format!("{}={v}", cap.name()),
            _ => cap.name().to_string(),
        })
    }
}

/// One client's side of the negotiation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapState {
    /// The highest `CAP LS` version the client announced (0: none yet).
    pub version: u16,
    /// An LS or REQ arrived before registration and END has not: the
    /// session holds registration back while this is true.
    pub negotiating: bool,
    pub enabled: CapSet,
}

/// The reply lines of one `CAP` command, as parameters after
/// `CAP <nick>` (the session adds the prefix and the nickname, `*` before
/// registration).
pub type CapReplies = Vec<Vec<String>>;

/// What a `CAP` line asks for, and what the session should do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapOutcome {
    /// Send these `CAP` replies.
    Reply(CapReplies),
    /// `CAP END`: negotiation over; the session may now register.
    End,
    /// No subcommand: ERR_NEEDMOREPARAMS.
    NeedMoreParams,
    /// An unknown subcommand: ERR_INVALIDCAPCMD with this name.
    Invalid(String),
}

/// Most capabilities a single REQ may name. The spec sets no limit; this
/// one is above the number that exists, so no honest client meets it, and
/// keeps a hostile REQ from costing more than one NAK.
pub const MAX_REQ_CAPS: usize = 64;

/// The room we leave for `:server CAP nick LS * :` around the token list
/// in a 512-byte line; nicknames are short here, so this is generous.
const LS_LINE_BUDGET: usize = 400;

impl CapState {
    /// Handles one `CAP` command (`params` as parsed, after `CAP`).
    /// `registered` says whether the client has completed registration
    /// (negotiation only holds registration back before it).
    pub fn handle(&mut self, offer: &Offer, params: &[String], registered: bool) -> CapOutcome {
        let Some(sub) = params.first() else {
            return CapOutcome::NeedMoreParams;
        };
        let arg = params.get(1).map(String::as_str).unwrap_or("");
        match sub.to_ascii_uppercase().as_str() {
            "LS" => {
                self.negotiating |= !registered;
                let asked = arg.parse::<u16>().unwrap_or(0);
                self.version = self.version.max(asked);
                if self.version >= 302 && offer.has(Cap::CapNotify) {
                    self.enabled = self.enabled.with(Cap::CapNotify);
                }
                CapOutcome::Reply(list_lines("LS", offer.tokens(self.version), self.version))
            }
            "LIST" => {
                let names = self.enabled.iter().map(|c| c.name().to_string());
                CapOutcome::Reply(list_lines("LIST", names, self.version))
            }
            "REQ" => {
                self.negotiating |= !registered;
                CapOutcome::Reply(vec![self.request(offer, arg)])
            }
            "END" => {
                self.negotiating = false;
                CapOutcome::End
            }
            _ => CapOutcome::Invalid(sub.clone()),
        }
    }

    /// CAP REQ: every change is applied or none is (the spec's rule), and
    /// the answer repeats the request exactly.
    fn request(&mut self, offer: &Offer, arg: &str) -> Vec<String> {
        let echo = cut(arg, LS_LINE_BUDGET);
        let nak = || vec!["NAK".to_string(), echo.to_string()];
        let words: Vec<&str> = arg.split_ascii_whitespace().collect();
        if words.is_empty() || words.len() > MAX_REQ_CAPS || echo.len() < arg.len() {
            return nak();
        }
        let mut next = self.enabled;
        for word in words {
            let (off, name) = match word.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, word),
            };
            let Some(cap) = Cap::from_name(name).filter(|c| offer.has(*c)) else {
                return nak();
            };
            if off {
                if cap.sticky(self.version) {
                    return nak();
                }
                next = next.without(cap);
            } else {
                next = next.with(cap);
            }
        }
        self.enabled = next;
        vec!["ACK".to_string(), arg.to_string()]
    }
}

/// LS and LIST replies: one line, or for version 302 several, each but the
/// last marked with `*`. A version-301 client gets one line however long
/// (it cannot read a continuation); our offer is short enough for that.
fn list_lines(sub: &str, tokens: impl Iterator<Item = String>, version: u16) -> CapReplies {
    let mut lines: Vec<String> = vec![String::new()];
    for token in tokens {
        let Some(cur) = lines.last_mut() else {
            break;
        };
        if version >= 302 && !cur.is_empty() && cur.len() + 1 + token.len() > LS_LINE_BUDGET {
            lines.push(token);
        } else {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(&token);
        }
    }
    let last = lines.len() - 1;
    lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            if i < last {
                vec![sub.to_string(), "*".to_string(), line]
            } else {
                vec![sub.to_string(), line]
            }
        })
        .collect()
}

/// The longest prefix of `s` within `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer() -> Offer {
        Offer::new()
            .with(Cap::CapNotify, None)
            .with(Cap::MultiPrefix, None)
            .with(Cap::ServerTime, None)
            .with(Cap::Sasl, Some("PLAIN,EXTERNAL"))
    }

    fn p(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn replies(out: CapOutcome) -> CapReplies {
        match out {
            CapOutcome::Reply(r) => r,
            other => panic!("expected replies, got {other:?}"),
        }
    }

    #[test]
    fn ls_301_has_no_values_and_holds_registration() {
        let mut st = CapState::default();
        let r = replies(st.handle(&offer(), &p(&["LS"]), false));
        assert_eq!(
            r,
            vec![p(&["LS", "cap-notify multi-prefix server-time sasl"])]
        );
        assert!(st.negotiating);
        assert!(st.enabled.is_empty());
    }

    #[test]
    fn ls_302_shows_values_and_enables_cap_notify() {
        let mut st = CapState::default();
        let r = replies(st.handle(&offer(), &p(&["LS", "302"]), false));
        assert_eq!(
            r,
            vec![p(&[
                "LS",
                "cap-notify multi-prefix server-time sasl=PLAIN,EXTERNAL"
            ])]
        );
        assert!(st.enabled.has(Cap::CapNotify));
        // A later plain LS does not lower the version.
        st.handle(&offer(), &p(&["LS"]), false);
        assert_eq!(st.version, 302);
    }

    #[test]
    fn long_ls_302_is_split_with_continuation_marks() {
        let mut big = Offer::new();
        for cap in Cap::ALL {
            big = big.with(cap, Some(&"x".repeat(40)));
        }
        let mut st = CapState::default();
        let r = replies(st.handle(&big, &p(&["LS", "302"]), false));
        assert!(r.len() > 1, "{r:?}");
        for line in &r[..r.len() - 1] {
            assert_eq!(line[1], "*");
            assert!(line[2].len() <= LS_LINE_BUDGET);
        }
        let last = r.last().map(|l| l.len());
        assert_eq!(last, Some(2));
        let all: Vec<&str> = r
            .iter()
            .flat_map(|l| l.last().map(|s| s.split(' ')).into_iter().flatten())
            .collect();
        assert_eq!(all.len(), Cap::ALL.len());
    }

    #[test]
    fn req_is_all_or_nothing() {
        let mut st = CapState::default();
        let r = replies(st.handle(&offer(), &p(&["REQ", "multi-prefix server-time"]), false));
        assert_eq!(r, vec![p(&["ACK", "multi-prefix server-time"])]);
        assert!(st.enabled.has(Cap::MultiPrefix) && st.enabled.has(Cap::ServerTime));

        let r = replies(st.handle(&offer(), &p(&["REQ", "-server-time bogus"]), false));
        assert_eq!(r, vec![p(&["NAK", "-server-time bogus"])]);
        assert!(st.enabled.has(Cap::ServerTime), "a NAK changes nothing");

        let r = replies(st.handle(&offer(), &p(&["REQ", "-server-time"]), false));
        assert_eq!(r, vec![p(&["ACK", "-server-time"])]);
        assert!(!st.enabled.has(Cap::ServerTime));
    }

    #[test]
    fn known_but_not_offered_is_refused() {
        let mut st = CapState::default();
        let r = replies(st.handle(&offer(), &p(&["REQ", "echo-message"]), false));
        assert_eq!(r, vec![p(&["NAK", "echo-message"])]);
    }

    #[test]
    fn names_are_case_sensitive() {
        let mut st = CapState::default();
        let r = replies(st.handle(&offer(), &p(&["REQ", "Multi-Prefix"]), false));
        assert_eq!(r[0][0], "NAK");
    }

    #[test]
    fn cap_notify_cannot_be_dropped_by_302_clients() {
        let mut st = CapState::default();
        st.handle(&offer(), &p(&["LS", "302"]), false);
        let r = replies(st.handle(&offer(), &p(&["REQ", "-cap-notify"]), false));
        assert_eq!(r[0][0], "NAK");
        assert!(st.enabled.has(Cap::CapNotify));
    }

    #[test]
    fn huge_or_empty_req_is_one_nak() {
        let mut st = CapState::default();
        let many = vec!["multi-prefix"; MAX_REQ_CAPS + 1].join(" ");
        let r = replies(st.handle(&offer(), &p(&["REQ", &many]), false));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0][0], "NAK");
        assert!(r[0][1].len() <= LS_LINE_BUDGET);
        assert!(st.enabled.is_empty());
        let r = replies(st.handle(&offer(), &p(&["REQ", ""]), false));
        assert_eq!(r[0][0], "NAK");
    }

    #[test]
    fn list_shows_enabled_and_end_ends() {
        let mut st = CapState::default();
        st.handle(&offer(), &p(&["REQ", "server-time"]), false);
        let r = replies(st.handle(&offer(), &p(&["LIST"]), false));
        assert_eq!(r, vec![p(&["LIST", "server-time"])]);
        assert_eq!(st.handle(&offer(), &p(&["end"]), false), CapOutcome::End);
        assert!(!st.negotiating);
    }

    #[test]
    fn after_registration_nothing_is_held_back() {
        let mut st = CapState::default();
        st.handle(&offer(), &p(&["LS", "302"]), true);
        st.handle(&offer(), &p(&["REQ", "multi-prefix"]), true);
        assert!(!st.negotiating);
        assert!(st.enabled.has(Cap::MultiPrefix));
    }

    #[test]
    fn bad_subcommands() {
        let mut st = CapState::default();
        assert_eq!(st.handle(&offer(), &[], false), CapOutcome::NeedMoreParams);
        assert_eq!(
            st.handle(&offer(), &p(&["FROB"]), false),
            CapOutcome::Invalid("FROB".into())
        );
    }
}
