//! The IRC edge (RFC 1459/2812, the Modern IRC client protocol; IRCv3
//! capabilities are negotiated but none is offered yet), for irssi, weechat,
//! HexChat and friends.
//!
//! - [`message`]: IRC message syntax, shared with the client and the bench.
//! - [`session`]: the reading side — framing (512-byte lines, over-long ones
//!   refused whole with 417), registration (NICK/USER in any order, CAP
//!   holding it back), command translation, liveness PINGs.
//! - [`render`]: core events → IRC lines, numerics with the client's
//!   current nickname, shared bytes for room traffic.
//! - [`numeric`]: the numeric replies by name.
//! - [`history`]: replayed history and search results as plain IRC lines.
//!
//! How IRC commands the hub has no direct command for are answered:
//! `JOIN 0` parts every room the hub confirmed the client is in (the session
//! mirrors that list from the hub's answers); `USERHOST` and `ISON` ask the
//! hub one WHOIS per nickname and the renderer folds the answers into one
//! reply; `MODE` tells what is true here (rooms are `+n`, nothing can be
//! changed; the only user mode is `a`, set by AWAY); `WHOWAS` knows nobody.
//!
//! The session reaches the renderer only through the hub's per-connection
//! queue (`Ctx::tell` with `Event::Raw`), so local replies stay in order
//! with the hub's. Like every edge, this one must not decide anything the
//! hub decides; it only translates.

pub mod history;
pub mod message;
pub mod numeric;
pub mod render;
pub mod session;

use crate::config::Config;
use crate::runtime::Ctx;

pub use render::IrcRenderer;

pub fn renderer(cfg: &Config) -> IrcRenderer {
    IrcRenderer::new(cfg)
}

/// Serves one IRC connection until the client leaves; returns the reason.
pub async fn session(ctx: Ctx, rd: crate::runtime::ReadHalf) -> String {
    session::run(ctx, rd).await
}
