//! Edges: one module per wire protocol. Each turns its protocol's bytes into
//! core commands (a session reading from the socket) and renders core events
//! back into bytes (a `Renderer` used by the connection's writer).
//!
//! Edges must not decide anything the hub decides (who may join, who gets a
//! message); they only translate. Codecs are pure functions over buffers.

pub mod framing;
pub mod irc;
pub mod lenheader;
pub mod line;
pub mod nickhs;
pub mod past;
