//! The IRC session's account commands: `AUTHENTICATE` (SASL PLAIN and
//! EXTERNAL), `REGISTER` and `VERIFY` (IRCv3 draft/account-registration)
//! and the NickServ alias (`/msg NickServ ...`, `NS`, `NICKSERV`).
//!
//! Translation ([`authenticate`], [`register`], [`verify`], [`nickserv`])
//! is pure, like the rest of the session: it turns a line into an [`Ask`]
//! or an immediate reply. [`carry_out`] then runs the ask against the
//! runtime's accounts service (argon2 and the store stay off the hub's
//! task) and words the outcome; the hub is told only `Command::Login`.
//!
//! Specs: <https://ircv3.net/specs/extensions/sasl-3.1>,
//! <https://ircv3.net/specs/extensions/sasl-3.2>,
//! <https://ircv3.net/specs/extensions/account-registration>.
//!
//! Must not check a password itself, keep one, or log one.

use bytes::Bytes;
use chatroom_config::Config;
use chatroom_core::names::same;

use super::local::Local;
use super::message::Message;
use super::nickserv::{self, NICKSERV};
use super::numeric::*;
use super::sasl::{self, Exchange, Fed, Mechanism};
use super::state::State;
use super::step::Step;

/// The account request type lives with the other steps (it is one);
/// named here too, where it is made and carried out.
pub use super::step::Ask;

/// Accounts are offered: on in the configuration, with a store to keep
/// them in (history on).
pub fn accounts_on(cfg: &Config) -> bool {
    cfg.accounts.enabled && cfg.history.enabled
}

/// The value of `draft/account-registration` when registering before the
/// connection is complete works (`[accounts] register_before_connect`);
/// otherwise it has none. No e-mail is needed (none is sent) and the
/// account name is the nickname (no `custom-account-name`).
pub const REGISTRATION_CAP: &str = "before-connect";

/// The value `draft/account-registration` is offered with.
pub fn registration_cap(cfg: &Config) -> Option<&'static str> {
    cfg.accounts
        .register_before_connect
        .then_some(REGISTRATION_CAP)
}

pub fn reply(code: &str, params: &[&str]) -> Step {
    Step::Note(Local::reply(code, params))
}

pub fn fail(command: &str, code: &str, context: &[&str], text: &str) -> Step {
    Step::Note(Local::fail(command, code, context, text))
}

/// `AUTHENTICATE`: starts an exchange, feeds it a chunk, or aborts it.
///
/// Accepted whether or not the client requested the `sasl` capability: the
/// spec tells clients to request it first, but a client that sends
/// AUTHENTICATE evidently speaks SASL, and older clients and test suites
/// (irctest 0.1.2) start without the REQ.
pub fn authenticate(st: &mut State, msg: &Message, cfg: &Config, steps: &mut Vec<Step>) {
    let p0 = msg.param(0);
    if !accounts_on(cfg) {
        steps.push(reply(ERR_SASLFAIL, &["SASL authentication failed"]));
        return;
    }
    if p0.is_empty() {
        steps.push(reply(
            ERR_NEEDMOREPARAMS,
            &["AUTHENTICATE", "Not enough parameters"],
        ));
        return;
    }
    if p0 == "*" {
        st.sasl = None;
        steps.push(reply(ERR_SASLABORTED, &["SASL authentication aborted"]));
        return;
    }
    if st.account.is_some() {
        st.sasl = None;
        steps.push(reply(
            ERR_SASLALREADY,
            &["You have already authenticated using SASL"],
        ));
        return;
    }
    let Some(ex) = &mut st.sasl else {
        match Mechanism::parse(p0) {
            Some(m) => {
                st.sasl = Some(Box::new(Exchange::new(m)));
                steps.push(Step::Raw(Bytes::from_static(b"AUTHENTICATE +\r\n")));
            }
            None => {
                steps.push(reply(
                    RPL_SASLMECHS,
                    &[sasl::MECHANISMS, "are available SASL mechanisms"],
                ));
                steps.push(reply(ERR_SASLFAIL, &["SASL authentication failed"]));
            }
        }
        return;
    };
    match ex.feed(p0, cfg.accounts.max_sasl_bytes) {
        Fed::More => {}
        Fed::ChunkTooLong => {
            st.sasl = None;
            steps.push(reply(ERR_SASLTOOLONG, &["SASL message too long"]));
        }
        // sasl-3.1 keeps 905 for one AUTHENTICATE parameter over 400
        // bytes; a payload over the server's own limit is a failure of
        // another kind: 904.
        Fed::PayloadTooLong => {
            st.sasl = None;
            steps.push(reply(ERR_SASLFAIL, &["SASL authentication failed"]));
        }
        Fed::Done(payload) => {
            let mechanism = ex.mechanism;
            st.sasl = None;
            steps.push(Step::Account(Ask::Sasl { mechanism, payload }));
        }
    }
}

/// `REGISTER <account> <email|*> <password>`; before the connection is
/// complete only when the server allows it (see [`registration_cap`]).
pub fn register(st: &State, msg: &Message, cfg: &Config, steps: &mut Vec<Step>) {
    if !accounts_on(cfg) {
        steps.push(reply(ERR_UNKNOWNCOMMAND, &["REGISTER", "Unknown command"]));
        return;
    }
    if msg.params.len() < 3 || msg.param(2).is_empty() {
        steps.push(reply(
            ERR_NEEDMOREPARAMS,
            &["REGISTER", "Not enough parameters"],
        ));
        return;
    }
    let account = msg.param(0);
    if !st.is_registered() && !cfg.accounts.register_before_connect {
        let shown: String = account.chars().take(32).collect();
        steps.push(fail(
            "REGISTER",
            "COMPLETE_CONNECTION_REQUIRED",
            &[if shown.is_empty() { "*" } else { &shown }],
            "Finish connecting (NICK, USER, CAP END) before registering an account",
        ));
        return;
    }
    steps.push(Step::Account(Ask::Register {
        account: (account != "*").then(|| account.to_string()),
        password: msg.param(2).to_string(),
    }));
}

/// `VERIFY <account> <code>`: no code is ever sent (no mail goes out and
/// registration completes at once), so every code is wrong.
pub fn verify(msg: &Message, cfg: &Config, steps: &mut Vec<Step>) {
    if !accounts_on(cfg) {
        steps.push(reply(ERR_UNKNOWNCOMMAND, &["VERIFY", "Unknown command"]));
        return;
    }
    let account: String = msg.param(0).chars().take(32).collect();
    steps.push(fail(
        "VERIFY",
        "INVALID_CODE",
        &[if account.is_empty() { "*" } else { &account }],
        "No verification is pending: accounts here are ready as soon as they are registered",
    ));
}

/// Is this PRIVMSG target the NickServ service?
pub fn is_nickserv(target: &str) -> bool {
    same(target, NICKSERV)
}

/// A message to NickServ, or the `NS`/`NICKSERV` command's parameters.
pub fn nickserv(text: &str, cfg: &Config, steps: &mut Vec<Step>) {
    if !accounts_on(cfg) {
        steps.push(Step::Note(ns("Accounts are not enabled on this server")));
        return;
    }
    steps.push(Step::Account(Ask::NickServ(nickserv::parse(text))));
}

/// A NOTICE from NickServ.
pub fn ns(text: &str) -> Local {
    Local::Service {
        from: NICKSERV.to_string(),
        text: text.to_string(),
    }
}

#[cfg(test)]
#[path = "login_tests.rs"]
mod tests;
