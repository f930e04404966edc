//! Each edge's reading session as a task: it reads frames from the socket,
//! has the edge's pure translation turn them into steps, and carries the
//! steps out against the hub (`Ctx`), the history and the accounts service.
//!
//! Everything a line means is decided by the protocol crate's translators
//! and the hub; this module only waits: for input, for the hub's answers,
//! for the blocking pool. It must not word a reply or parse a command.

pub mod dialect;
pub mod irc;
pub mod irc_login;
pub mod lenheader;
pub mod line;
pub mod nickhs;
pub mod oper;
