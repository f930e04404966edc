//! Tests of the account commands (AUTHENTICATE, REGISTER, VERIFY,
//! NickServ) as the dispatcher reaches `login`. Test code only: it must
//! not be needed by anything else.

use crate::irc::handlers::test_support::*;
use crate::irc::state::State;
use crate::irc::step::Step;

fn sasl_state() -> State {
    let mut st = State::default();
    run(&mut st, "CAP LS 302");
    run(&mut st, "CAP REQ :sasl");
    st
}

#[test]
fn authenticate_works_without_requesting_the_capability() {
    // Clients are told to CAP REQ sasl first, but one that goes straight to
    // AUTHENTICATE (irctest 0.1.2 does) is served all the same.
    let mut st = State::default();
    let steps = run(&mut st, "AUTHENTICATE PLAIN");
    assert_eq!(shown(&steps[0]), "AUTHENTICATE +\r\n");
}

#[test]
fn authenticate_starts_reassembles_and_hands_over_one_payload() {
    use crate::irc::login::Ask;
    use crate::irc::sasl::Mechanism;
    let mut st = sasl_state();
    let steps = run(&mut st, "AUTHENTICATE plain");
    assert_eq!(shown(&steps[0]), "AUTHENTICATE +\r\n");
    let chunk = "A".repeat(400);
    assert_eq!(run(&mut st, &format!("AUTHENTICATE {chunk}")), vec![]);
    let steps = run(&mut st, "AUTHENTICATE QUJD");
    assert_eq!(
        steps,
        vec![Step::Account(Ask::Sasl {
            mechanism: Mechanism::Plain,
            payload: format!("{chunk}QUJD"),
        })]
    );
    // The exchange is over: the next AUTHENTICATE starts a new one.
    let steps = run(&mut st, "AUTHENTICATE EXTERNAL");
    assert_eq!(shown(&steps[0]), "AUTHENTICATE +\r\n");
    assert_eq!(
        run(&mut st, "AUTHENTICATE +"),
        vec![Step::Account(Ask::Sasl {
            mechanism: Mechanism::External,
            payload: String::new(),
        })]
    );
}

#[test]
fn authenticate_refusals() {
    let mut st = sasl_state();
    run(&mut st, "AUTHENTICATE PLAIN");
    let steps = run(&mut st, &format!("AUTHENTICATE {}", "A".repeat(401)));
    assert!(shown(&steps[0]).starts_with(":chatroom 905 * :"));
    run(&mut st, "AUTHENTICATE PLAIN");
    let steps = run(&mut st, "AUTHENTICATE *");
    assert!(shown(&steps[0]).starts_with(":chatroom 906 * :"));
    let steps = run(&mut st, "AUTHENTICATE DIGEST-MD5");
    assert_eq!(
        shown(&steps[0]),
        ":chatroom 908 * PLAIN,EXTERNAL :are available SASL mechanisms\r\n"
    );
    assert!(shown(&steps[1]).starts_with(":chatroom 904 * :"));
    // Too much in all (over max_sasl_bytes, 4096 by default), in chunks
    // of the right size: 904, not 905 (sasl-3.1 keeps that for a chunk
    // over 400 bytes).
    run(&mut st, "AUTHENTICATE PLAIN");
    let chunk = "A".repeat(400);
    let mut last = Vec::new();
    for _ in 0..11 {
        last = run(&mut st, &format!("AUTHENTICATE {chunk}"));
    }
    assert_eq!(
        last.iter().map(shown).collect::<Vec<_>>(),
        [":chatroom 904 * :SASL authentication failed\r\n"]
    );
    // Logged in already: 907.
    st.account = Some("bob".into());
    let steps = run(&mut st, "AUTHENTICATE PLAIN");
    assert!(shown(&steps[0]).starts_with(":chatroom 907 * :"));
}

#[test]
fn nickserv_and_register_become_account_requests() {
    use crate::irc::login::Ask;
    use crate::irc::nickserv::Request;
    let mut st = registered_state();
    assert_eq!(
        run(&mut st, "PRIVMSG nickserv :IDENTIFY pw"),
        vec![Step::Account(Ask::NickServ(Request::Identify {
            account: None,
            password: "pw".into()
        }))]
    );
    assert_eq!(
        run(&mut st, "NS CERT LIST"),
        vec![Step::Account(Ask::NickServ(Request::CertList))]
    );
    // Never an answer to a NOTICE, and never relayed to anyone.
    assert_eq!(run(&mut st, "NOTICE NickServ :IDENTIFY pw"), vec![]);
    assert_eq!(
        run(&mut st, "REGISTER * * some-password"),
        vec![Step::Account(Ask::Register {
            account: None,
            password: "some-password".into()
        })]
    );
    // Before registration too (before-connect).
    let mut early = State::default();
    assert_eq!(
        run(&mut early, "REGISTER bob * pw"),
        vec![Step::Account(Ask::Register {
            account: Some("bob".into()),
            password: "pw".into()
        })]
    );
    let steps = run(&mut st, "VERIFY bob 123");
    assert!(shown(&steps[0]).starts_with(":chatroom FAIL VERIFY INVALID_CODE bob :"));
}

#[test]
fn register_before_the_connection_is_complete_can_be_refused() {
    use crate::irc::handlers::dispatch;
    use crate::irc::login::Ask;
    use crate::irc::message::Message;
    let mut cfg = cfg();
    cfg.accounts.register_before_connect = false;
    let run_with =
        |st: &mut State, line: &str| dispatch(st, &Message::parse(line).expect("parses"), &cfg);
    // The capability no longer says before-connect...
    let mut early = State::default();
    let steps = run_with(&mut early, "CAP LS 302");
    let ls = shown(&steps[0]);
    assert!(
        ls.split_whitespace()
            .any(|t| t.trim_start_matches(':') == "draft/account-registration"),
        "{ls}"
    );
    assert!(!ls.contains("before-connect"), "{ls}");
    // ...and REGISTER before NICK/USER/CAP END is refused as the spec says.
    let steps = run_with(&mut early, "REGISTER * * some-password");
    assert_eq!(
        shown(&steps[0]),
        ":chatroom FAIL REGISTER COMPLETE_CONNECTION_REQUIRED * \
         :Finish connecting (NICK, USER, CAP END) before registering an account\r\n"
    );
    // Once connected it works as usual.
    let mut st = registered_state();
    assert_eq!(
        run_with(&mut st, "REGISTER bob * some-password"),
        vec![Step::Account(Ask::Register {
            account: Some("bob".into()),
            password: "some-password".into()
        })]
    );
}
