//! [`AccountStore`]: accounts, the TLS client-certificate fingerprints tied
//! to them, and the private messages held for accounts that are offline.
//!
//! # What it promises
//! - **Case-insensitive names.** Accounts and held messages are keyed by
//!   the case-folded name; the name comes back as it was stored.
//! - **One owner per fingerprint.** A fingerprint is tied to at most one
//!   account; tying it to another is refused (`false`), not an error.
//! - **Held messages are never lost between store and connection.** They
//!   come back oldest first (in the order held, whatever their times), each
//!   with its place in the queue; they stay until acknowledged up to a
//!   place ([`AccountStore::ack_offline`]) or taken
//!   ([`AccountStore::take_offline`], which removes what it returns in the
//!   same step). Retention never deletes them. Holding a message counts its
//!   msgid for [`crate::HistoryStore::last_id`].
//! - **Each call is atomic.** A failed call changes nothing.
//!
//! # What it must not do
//! It keeps the password hash string it is given: hashing, checking a
//! password, the rules for names and the brute-force limits are the
//! caller's. It must not decide who may log in. Every method may block;
//! call it from a blocking thread.

use super::error::StoreError;
use super::{Account, Record};

/// Accounts, certificates and offline messages. Object safe: the accounts
/// service holds an `Arc<dyn AccountStore>`.
pub trait AccountStore: Send + Sync {
    /// Creates or replaces an account (keyed by its case-folded name).
    fn put_account(&self, acct: &Account) -> Result<(), StoreError>;

    fn get_account(&self, name: &str) -> Result<Option<Account>, StoreError>;

    /// The names of every account (as stored), in case-folded order, for
    /// the server's in-memory index of registered nicknames.
    fn account_names(&self) -> Result<Vec<String>, StoreError>;

    /// Ties a TLS client-certificate fingerprint (`AB:CD:...`, upper case)
    /// to `account`. False when the fingerprint belongs to another account
    /// already (nothing changes then).
    fn add_cert(&self, account: &str, fingerprint: &str) -> Result<bool, StoreError>;

    /// Unties a fingerprint from `account`; false when it was not tied.
    fn del_cert(&self, account: &str, fingerprint: &str) -> Result<bool, StoreError>;

    /// The fingerprints tied to `account`, sorted.
    fn certs(&self, account: &str) -> Result<Vec<String>, StoreError>;

    /// The account a fingerprint is tied to, if any (and if it exists).
    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<Account>, StoreError>;

    /// Keeps a private message for `account`, to hand over at its next login.
    fn hold_offline(&self, account: &str, rec: &Record) -> Result<(), StoreError>;

    /// The messages held for `account`, oldest first, removed from the store
    /// in the same transaction.
    fn take_offline(&self, account: &str) -> Result<Vec<Record>, StoreError>;

    /// The messages held for `account`, oldest first, each with its place
    /// in the queue, without removing them: the caller hands them to the
    /// connection first and then calls [`AccountStore::ack_offline`], so
    /// that a message is never lost between the store and the connection.
    fn peek_offline(&self, account: &str) -> Result<Vec<(i64, Record)>, StoreError>;

    /// Removes the messages held for `account` up to and including `upto`
    /// (a place returned by [`AccountStore::peek_offline`]).
    fn ack_offline(&self, account: &str, upto: i64) -> Result<(), StoreError>;
}
