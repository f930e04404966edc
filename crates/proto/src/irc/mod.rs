//! The IRC edge (RFC 1459/2812, the Modern IRC client protocol, and the
//! IRCv3 capabilities listed in docs/irc.md), for irssi, weechat, HexChat
//! and friends.
//!
//! - [`message`]: IRC message syntax, shared with the client and the bench.
//! - [`session`]: the reading side as the server's session loop sees it —
//!   framing (512-byte lines plus up to 4096 bytes of tags, over-long ones
//!   refused whole with 417, non-UTF-8 ones with `FAIL INVALID_UTF8`),
//!   `translate`, liveness PINGs.
//! - `handlers`: one handler per command or small family of commands
//!   (`handlers/join.rs` for JOIN/PART, `handlers/who.rs` for
//!   WHO/WHOIS/WHOWAS/USERHOST/ISON, ...), each with typed arguments parsed
//!   in one place, and the dispatcher that `translate` calls: registration
//!   (NICK/USER in any order, CAP holding it back), command translation.
//! - [`state`], [`step`]: what the session knows about its client, and what
//!   it does in answer to a line.
//! - [`render`]: core events → IRC lines, numerics with the client's
//!   current nickname, shared bytes for room traffic (one encoding per
//!   combination of the capabilities that change a line), labeled
//!   responses; its parts, one file each, take what they need as
//!   arguments and never reach back into the renderer.
//! - [`local`]: the instructions the session queues for its renderer.
//! - [`wire`]: writing one line, tag prefixes, fields as IRC words — the
//!   bottom of the writing side, used by everything that writes.
//! - [`limits`]: the numbers both directions agree on (TARGMAX, tag bytes,
//!   label length).
//! - [`numeric`]: the numeric replies by name.
//! - [`caps`]: IRCv3 capability negotiation (the names, LS/REQ/LIST/END);
//!   what is offered is `session::offer`.
//! - [`tags`]: server-time, msgid and client-only tag relay rules.
//! - [`history`] (`render/history.rs`): replayed history and search
//!   results as IRC lines.
//! - [`sasl`], [`nickserv`]: SASL chunks and payloads, NickServ requests
//!   (pure); [`login`]: the session's account commands (AUTHENTICATE,
//!   REGISTER, VERIFY, NickServ), carried out through the runtime's
//!   accounts service.
//! - [`chanserv`]: `ChanServ` (room registration) requests and answers.
//! - [`chathistory`]: the CHATHISTORY command's parameters and refusals.
//! - [`help`]: the texts of HELP and HELPOP, one per command.
//!
//! Dependencies between these go one way, from the session and the
//! renderer down: `session` → `handlers` → `login`, `chanserv`,
//! `chathistory` → `state`, `step` → `local`, `message`, `numeric`,
//! `caps`, `sasl`, `nickserv`; `render` → its parts → `wire`, `local`,
//! `limits` → `tags` → `message`. Nothing below imports anything above
//! it, and no part of the renderer imports the renderer.
//!
//! Every rule (modes, bans, KICK, INVITE, operators, WHOWAS) is the hub's;
//! this edge maps IRC syntax onto hub commands and hub refusals onto
//! numerics (see docs/irc.md for what is supported). The only things
//! answered here without the hub: `USERHOST` and `ISON` ask the hub one
//! WHOIS per nickname and the renderer folds the answers into one reply;
//! WHOX field selection is applied by the renderer to the hub's WHO answer;
//! and `OPER` passwords are checked on a blocking thread before the hub is
//! told (argon2 is too slow for the hub's task).
//!
//! The session reaches the renderer only through the hub's per-connection
//! queue (`Ctx::tell` with `Event::Raw` or `Event::Edge` notes, among them
//! the enabled capabilities and label brackets), so local replies and
//! capability changes stay in order with the hub's. Like every edge, this one must not decide anything the
//! hub decides; it only translates.

pub mod caps;
pub mod casemap;
pub mod chanserv;
pub mod chathistory;
mod handlers;
pub mod help;
pub mod limits;
pub mod local;
pub mod login;
pub mod message;
pub mod nickserv;
pub mod numeric;
pub mod render;
pub mod sasl;
pub mod session;
pub mod state;
pub mod step;
pub mod tags;
pub mod wire;

use chatroom_config::Config;

pub use render::{IrcRenderer, history, text_fit};

pub fn renderer(cfg: &Config) -> IrcRenderer {
    IrcRenderer::new(cfg)
}
