//! Replies from the server to one client: numerics that carry the
//! nickname the client holds when they are written (`*` before
//! registration), standard replies, and numerics whose comma-separated list
//! spans as many lines as the line limit needs.
//!
//! The primitive every sub-renderer answers through, so that none of them
//! needs the renderer itself. Must not decide which reply an event gets.

use bytes::BytesMut;

use crate::irc::wire::{MAX_LINE, write_line};

/// Where a reply comes from and whom it names: the server and the
/// client's current nickname.
#[derive(Debug, Clone, Copy)]
pub(super) struct Numerics<'a> {
    pub server: &'a str,
    pub me: &'a str,
}

impl Numerics<'_> {
    /// `:server <code> <me> <params...> [:trailing]`
    pub fn numeric(&self, out: &mut BytesMut, code: &str, params: &[&str], trailing: Option<&str>) {
        let mut all = Vec::with_capacity(params.len() + 1);
        all.push(self.me);
        all.extend_from_slice(params);
        write_line(out, Some(self.server), code, &all, trailing);
    }

    /// A standard reply. Sent whether or not the client enabled
    /// `standard-replies`: the only ones used here are those that their own
    /// specifications require (`SETNAME INVALID_REALNAME`, `INVALID_UTF8`);
    /// the capability is about replies beyond those.
    pub fn standard(
        &self,
        out: &mut BytesMut,
        kind: &str,
        command: &str,
        code: &str,
        context: &[&str],
        text: &str,
    ) {
        let mut params = vec![command, code];
        params.extend_from_slice(context);
        write_line(out, Some(self.server), kind, &params, Some(text));
    }

    /// `code` with `items` joined by commas as its last parameter, over
    /// as many lines as the line limit needs (MONITOR's 730–732).
    pub fn comma_lists(&self, out: &mut BytesMut, code: &str, items: &[String]) {
        let prefix_len = format!(":{} {code} {} :", self.server, self.me).len();
        let budget = MAX_LINE.saturating_sub(prefix_len).max(64);
        let mut chunk = String::new();
        for item in items {
            if !chunk.is_empty() && chunk.len() + 1 + item.len() > budget {
                self.numeric(out, code, &[], Some(&chunk));
                chunk.clear();
            }
            if !chunk.is_empty() {
                chunk.push(',');
            }
            chunk.push_str(item);
        }
        if !chunk.is_empty() {
            self.numeric(out, code, &[], Some(&chunk));
        }
    }
}
