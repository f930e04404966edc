//! [`SearchStore`]: full-text search in the history a [`crate::HistoryStore`]
//! of the same store holds.
//!
//! # What it promises
//! - **Words, not a query language.** What a person typed is split on
//!   white space; every word must occur, as a whole word (a word's letters
//!   and digits; anything else separates, so `brown-nosing` is found by
//!   `brown nosing` and the phrase `brown-nosing`), case-insensitively and
//!   ignoring accents (`cafe` finds `café`). No character has a special
//!   meaning: quotes, `*`, `-`, `OR`, `NEAR(...)` are plain text. Input
//!   with no letter or digit finds nothing (not an error); only the first
//!   16 words count, so a pasted essay is no expensive search.
//! - **No lag.** A search sees every record appended before it began,
//!   whatever background indexing has done, and none that retention has
//!   deleted.
//! - **The history's privacy rules.** One conversation, scoped as
//!   [`crate::HistoryStore::query`] scopes it: a private conversation only
//!   for one of its parties.
//! - **Newest first**, at most `limit` (cut to the store's maximum).
//!
//! # What it must not do
//! It must not decide who may read a room (the caller checks membership
//! first) and must never hand user input to a query language unescaped.
//! Every method may block; call it from a blocking thread.

use super::error::StoreError;
use super::{QueryTarget, Record};

/// Full-text search over the history. Object safe: shared as
/// `Arc<dyn SearchStore>`.
pub trait SearchStore: Send + Sync {
    /// Full-text search in one conversation, newest first. `words` is what a
    /// person typed: every word must occur, and no character in it has a
    /// special meaning.
    fn search(
        &self,
        requester: &str,
        target: &QueryTarget,
        words: &str,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError>;

    /// Background work: adds up to `max` stored records to the full-text
    /// index, oldest first; returns how many (0: the index is complete, or
    /// the store keeps none). [`SearchStore::search`] completes the index
    /// itself before it searches, so this only moves that work to a moment
    /// of the caller's choosing.
    fn index_search(&self, max: usize) -> Result<usize, StoreError>;
}
