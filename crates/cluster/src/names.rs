//! The names a cluster uses on NATS: subjects, buckets, keys. Every one
//! starts with the configured prefix, so several clusters can share one
//! NATS. Room names and nicknames may hold characters NATS gives a
//! meaning to (`.`, `*`, `>`), so they travel hex-encoded in their folded
//! form (the same room is the same subject on every node).
//!
//! Pure functions; must not do I/O.

use chatroom_core::names::Key;

#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

impl Names {
    pub fn new(prefix: &str) -> Names {
        Names {
            prefix: prefix.to_string(),
        }
    }

    /// What every node must hear: commands, departures.
    pub fn events(&self) -> String {
        format!("{}.ev", self.prefix)
    }

    /// A room's messages, heard by the nodes with members in it.
    pub fn room(&self, room: &str) -> String {
        format!("{}.room.{}", self.prefix, hex(Key::of(room).as_str()))
    }

    /// What is for one node only (private messages, questions).
    pub fn node(&self, node: &str) -> String {
        format!("{}.node.{node}", self.prefix)
    }

    pub fn heartbeats(&self) -> String {
        format!("{}.hb", self.prefix)
    }

    /// Where a node asks every other where their people stand.
    pub fn ask(&self) -> String {
        format!("{}.ask", self.prefix)
    }

    /// The stream of every room message: the cluster's journal.
    pub fn history_stream(&self) -> String {
        format!("{}_history", self.prefix)
    }

    /// A room's subject in the journal.
    pub fn history(&self, room: &str) -> String {
        format!("{}.hist.{}", self.prefix, hex(Key::of(room).as_str()))
    }

    /// Every subject of the journal.
    pub fn history_all(&self) -> String {
        format!("{}.hist.>", self.prefix)
    }

    /// The bucket of nickname claims.
    pub fn nicks_bucket(&self) -> String {
        format!("{}_nicks", self.prefix)
    }

    /// A nickname's key in the claims bucket.
    pub fn nick_key(&self, nick: &str) -> String {
        hex(Key::of(nick).as_str())
    }

    /// The bucket of msgid slots (one per node).
    pub fn slots_bucket(&self) -> String {
        format!("{}_slots", self.prefix)
    }
}

/// Lower-case hex of `s`'s bytes.
pub fn hex(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Whether `name` can name a node: it is a subject token and a key.
pub fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_fold_and_never_break_a_subject() {
        let n = Names::new("chatroom");
        assert_eq!(n.room("#Lobby"), n.room("#lobby"));
        assert_eq!(n.room("#a.b*>"), "chatroom.room.23612e622a3e");
        assert!(valid_node_name("node-1_a"));
        assert!(!valid_node_name("a.b"));
        assert!(!valid_node_name(""));
    }
}
