//! What a command handler works with ([`Context`]): the session's state,
//! the configuration, and the steps answered so far, with the shorthands
//! every handler uses to add one.
//!
//! At the bottom of the handlers, below the dispatcher, so that handlers
//! never import the dispatcher. Must not hold any command's rules.

use chatroom_config::Config;
use chatroom_core::Command;

use crate::irc::local::Local;
use crate::irc::state::State;
use crate::irc::step::{Step, reply};

/// What a handler works with: the session's state, the configuration, and
/// the steps answered so far.
pub struct Context<'a> {
    pub st: &'a mut State,
    pub cfg: &'a Config,
    pub steps: Vec<Step>,
}

impl Context<'_> {
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// A command for the hub, which reports its own refusals.
    pub fn send(&mut self, command: Command) {
        self.push(Step::Send(command));
    }

    /// An instruction for the connection's renderer.
    pub fn note(&mut self, local: Local) {
        self.push(Step::Note(local));
    }

    /// A numeric reply whose last parameter is text.
    pub fn reply(&mut self, code: &str, params: &[&str]) {
        self.push(reply(code, params));
    }
}
