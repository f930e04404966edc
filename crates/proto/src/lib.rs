//! Edges: one module per wire protocol. Each turns its protocol's bytes into
//! core commands (a session reading from the socket) and renders core events
//! back into bytes (a `Renderer` used by the connection's writer).
//!
//! Edges must not decide anything the hub decides (who may join, who gets a
//! message); they only translate. Codecs are pure functions over buffers.

#![deny(unsafe_code)]

pub mod certfp;
pub mod dialect;
pub mod envelope;
pub mod framing;
pub mod irc;
pub mod lenheader;
pub mod line;
pub mod nickhs;
pub mod past;
pub mod say;
pub mod terminal;
pub mod websocket;
pub mod wrong_door;

use std::time::Duration;

use bytes::BytesMut;
pub use envelope::{Body, Envelope, Shared, Slot};

/// Turns events into one connection's wire bytes. Owned by the connection's
/// writer, so it can keep per-connection state (the recipient's nickname,
/// its focus, negotiated capabilities) learned from the events themselves.
pub trait Renderer: Send + 'static {
    /// Appends the bytes for `event` to `out` (possibly nothing: not every
    /// event means something on every protocol).
    fn render(&mut self, event: &Shared, out: &mut BytesMut);
}

/// A protocol's check that an idle client is still there: after `after`
/// of silence the server sends `probe`; after as long again without
/// input it closes the connection with `reason`.
pub struct Liveness {
    pub after: Duration,
    pub probe: Shared,
    pub reason: String,
}
