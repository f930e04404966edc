//! CAP (IRCv3 capability negotiation) and what this server offers in
//! `CAP LS` ([`offer`]).
//!
//! The negotiation's rules are `caps`'s
//! ([`CapState::handle`](crate::irc::caps::CapState::handle)); this
//! handler holds registration back while a negotiation is open and tells
//! the renderer every change of the enabled set, in stream order. Must not
//! offer anything the session and the renderer do not implement.

use crate::irc::caps::{Cap, CapOutcome, Offer};
use crate::irc::local::Local;
use crate::irc::login;
use crate::irc::message::Message;
use crate::irc::numeric::ERR_INVALIDCAPCMD;
use crate::irc::sasl;
use crate::irc::step::echo;

use super::args::need_more_params;
use super::context::Context;

/// What this server offers in `CAP LS`: exactly what the session and the
/// renderer implement. `draft/read-marker` is offered always (markers of
/// someone not logged in last as long as the connection). `chghost` is offered: a host changes only by an
/// operator's CHGHOST (otherwise it is the peer's address for the life of
/// the connection); `draft/chathistory` is offered when there is a history to read
/// (`history`); SASL, account-notify, account-tag and
/// draft/account-registration when accounts are on (`accounts`), the
/// latter with the value `registration` (see `login::registration_cap`).
pub fn offer(
    history: bool,
    accounts: bool,
    registration: Option<&str>,
    hub: &chatroom_core::HubConfig,
) -> Offer {
    let offer = [
        Cap::CapNotify,
        Cap::MessageTags,
        Cap::ServerTime,
        Cap::EchoMessage,
        Cap::LabeledResponse,
        Cap::Batch,
        Cap::MultiPrefix,
        Cap::UserhostInNames,
        Cap::ExtendedJoin,
        Cap::AwayNotify,
        Cap::Setname,
        Cap::Chghost,
        Cap::InviteNotify,
        Cap::StandardReplies,
        Cap::Utf8Only,
        Cap::ReadMarker,
        Cap::MessageRedaction,
        Cap::ExtendedMonitor,
    ]
    .into_iter()
    .fold(Offer::new(), |o, c| o.with(c, None));
    let limits = format!(
        "max-bytes={},max-lines={}",
        hub.multiline_max_bytes, hub.multiline_max_lines
    );
    let offer = offer.with(Cap::Multiline, Some(&limits));
    let offer = if history {
        offer.with(Cap::ChatHistory, None)
    } else {
        offer
    };
    if accounts {
        offer
            .with(Cap::Sasl, Some(sasl::MECHANISMS))
            .with(Cap::AccountNotify, None)
            .with(Cap::AccountTag, None)
            .with(Cap::AccountRegistration, registration)
    } else {
        offer
    }
}

/// CAP LS/LIST/REQ/END; an open negotiation holds registration back until
/// CAP END, and every change of the enabled set is passed to the renderer
/// in stream order. The subcommands are `caps`'s to parse, so the whole
/// message is its argument.
pub fn cap(cx: &mut Context<'_>, msg: &Message) {
    let offered = offer(
        cx.cfg.history.enabled,
        login::accounts_on(cx.cfg),
        login::registration_cap(cx.cfg),
        &cx.cfg.hub,
    );
    let registered = cx.st.is_registered();
    let caps = cx.st.caps_mut();
    let before = caps.enabled;
    match caps.handle(&offered, &msg.params, registered) {
        CapOutcome::Reply(lines) => {
            for params in lines {
                let refs: Vec<&str> = params.iter().map(String::as_str).collect();
                cx.reply("CAP", &refs);
            }
            // After the ACK: capabilities apply from the next line on.
            let after = cx.st.caps_mut().enabled;
            if after != before {
                cx.note(Local::Caps(after));
            }
        }
        CapOutcome::End => cx.st.try_register(&mut cx.steps),
        CapOutcome::NeedMoreParams => cx.push(need_more_params("CAP")),
        CapOutcome::Invalid(sub) => {
            cx.reply(ERR_INVALIDCAPCMD, &[echo(&sub), "Invalid CAP command"])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irc::caps::{Cap, CapSet};
    use crate::irc::handlers::test_support::*;
    use crate::irc::local::Local;
    use crate::irc::state::State;
    use crate::irc::step::Step;

    #[test]
    fn cap_negotiation_holds_registration() {
        let mut st = State::default();
        let steps = run(&mut st, "CAP LS 302");
        assert_eq!(
            shown(&steps[0]),
            ":chatroom CAP * LS :cap-notify message-tags server-time echo-message \
         labeled-response batch multi-prefix userhost-in-names extended-join away-notify \
         setname chghost invite-notify standard-replies utf8only draft/read-marker \
         draft/message-redaction extended-monitor draft/multiline=max-bytes=4096,max-lines=32 draft/chathistory \
         sasl=PLAIN,EXTERNAL account-notify account-tag \
         draft/account-registration=before-connect\r\n"
        );
        assert_eq!(run(&mut st, "NICK bob"), vec![]);
        assert_eq!(run(&mut st, "USER bob 0 * :B"), vec![]);
        // Not offered: the whole request is refused.
        let steps = run(&mut st, "CAP REQ :multi-prefix draft/event-playback");
        assert_eq!(
            shown(&steps[0]),
            ":chatroom CAP * NAK :multi-prefix draft/event-playback\r\n"
        );
        assert_eq!(steps.len(), 1, "a NAK changes nothing: {steps:?}");
        let steps = run(&mut st, "CAP REQ :multi-prefix server-time");
        assert_eq!(
            shown(&steps[0]),
            ":chatroom CAP * ACK :multi-prefix server-time\r\n"
        );
        let want = CapSet::EMPTY
            .with(Cap::CapNotify)
            .with(Cap::MultiPrefix)
            .with(Cap::ServerTime);
        assert_eq!(steps[1], Step::Note(Local::Caps(want)));
        let steps = run(&mut st, "CAP LIST");
        assert_eq!(
            shown(&steps[0]),
            ":chatroom CAP * LIST :cap-notify multi-prefix server-time\r\n"
        );
        assert_eq!(
            run(&mut st, "CAP END"),
            vec![register_step("bob", "bob", "B")]
        );
        let steps = run(&mut st, "CAP FOO");
        assert!(shown(&steps[0]).starts_with(":chatroom 410 * FOO :"));
    }

    #[test]
    fn nothing_unimplemented_is_offered() {
        let offered = offer(true, false, None, &Default::default()).set();
        for cap in [
            Cap::Sasl,
            Cap::AccountNotify,
            Cap::AccountTag,
            Cap::AccountRegistration,
        ] {
            assert!(!offered.has(cap), "{cap} is offered");
        }
        // Hosts change only by CHGHOST, which needs no accounts.
        assert!(offered.has(Cap::Chghost));
        // Chat history only with a history to read.
        assert!(offered.has(Cap::ChatHistory));
        assert!(
            !offer(false, false, None, &Default::default())
                .set()
                .has(Cap::ChatHistory)
        );
        // Accounts only when they are on.
        let with = offer(true, true, Some("before-connect"), &Default::default()).set();
        for cap in [
            Cap::Sasl,
            Cap::AccountNotify,
            Cap::AccountTag,
            Cap::AccountRegistration,
        ] {
            assert!(with.has(cap), "{cap} is not offered");
        }
    }

    #[test]
    fn cap_end_without_ls_is_harmless() {
        let mut st = State::default();
        assert_eq!(run(&mut st, "CAP END"), vec![]);
        run(&mut st, "NICK bob");
        assert_eq!(run(&mut st, "USER bob 0 * :B").len(), 1);
    }
}
