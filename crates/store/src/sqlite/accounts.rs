//! [`AccountStore`] for [`SqliteStore`]: the `accounts`, `account_certs`
//! and `offline` tables. This file must not hash or check passwords.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use super::append::BUMP_LAST_ID;
use super::rows::record_from_row;
use crate::error::StoreError;
use crate::keys::{db_id, from_ms, target_name, to_ms};
use crate::{Account, AccountStore, Record};
use chatroom_core::MsgTarget;
use chatroom_core::names::Key;

impl AccountStore for SqliteStore {
    fn put_account(&self, acct: &Account) -> Result<(), StoreError> {
        self.writer().execute(
            "INSERT OR REPLACE INTO accounts (key, name, password_hash, created_ms) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                Key::of(&acct.name).as_str(),
                acct.name,
                acct.password_hash,
                to_ms(acct.created)
            ],
        )?;
        Ok(())
    }

    fn get_account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, password_hash, created_ms FROM accounts WHERE key = ?1",
            )?;
            Ok(stmt
                .query_row([Key::of(name).as_str()], |r| {
                    Ok(Account {
                        name: r.get(0)?,
                        password_hash: r.get(1)?,
                        created: from_ms(r.get(2)?),
                    })
                })
                .optional()?)
        })
    }

    fn account_names(&self) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT name FROM accounts ORDER BY key")?;
            let names = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(names)
        })
    }

    fn add_cert(&self, account: &str, fingerprint: &str) -> Result<bool, StoreError> {
        let key = Key::of(account);
        let conn = self.writer();
        let tx = conn.unchecked_transaction()?;
        let owner: Option<String> = tx
            .query_row(
                "SELECT account FROM account_certs WHERE fingerprint = ?1",
                [fingerprint],
                |r| r.get(0),
            )
            .optional()?;
        if owner.as_deref().is_some_and(|o| o != key.as_str()) {
            return Ok(false);
        }
        tx.execute(
            "INSERT OR REPLACE INTO account_certs (fingerprint, account) VALUES (?1, ?2)",
            params![fingerprint, key.as_str()],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn del_cert(&self, account: &str, fingerprint: &str) -> Result<bool, StoreError> {
        let n = self.writer().execute(
            "DELETE FROM account_certs WHERE fingerprint = ?1 AND account = ?2",
            params![fingerprint, Key::of(account).as_str()],
        )?;
        Ok(n > 0)
    }

    fn certs(&self, account: &str) -> Result<Vec<String>, StoreError> {
        let key = Key::of(account);
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT fingerprint FROM account_certs WHERE account = ?1 ORDER BY fingerprint",
            )?;
            let fps = stmt
                .query_map([key.as_str()], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(fps)
        })
    }

    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<Account>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT a.name, a.password_hash, a.created_ms FROM account_certs c \
                 JOIN accounts a ON a.key = c.account WHERE c.fingerprint = ?1",
            )?;
            Ok(stmt
                .query_row([fingerprint], |r| {
                    Ok(Account {
                        name: r.get(0)?,
                        password_hash: r.get(1)?,
                        created: from_ms(r.get(2)?),
                    })
                })
                .optional()?)
        })
    }

    fn hold_offline(&self, account: &str, rec: &Record) -> Result<(), StoreError> {
        let id = db_id(rec.id)?;
        let conn = self.writer();
        let from = &rec.from;
        let tx = conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO offline \
             (account, id, time_ms, kind, is_pm, target, nick, ident, realname, host, text, tags) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                Key::of(account).as_str(),
                id,
                to_ms(rec.time),
                rec.kind.as_str(),
                matches!(rec.to, MsgTarget::Nick(_)),
                target_name(&rec.to),
                &*from.nick,
                &*from.user,
                &*from.realname,
                &*from.host,
                &*rec.text,
                crate::page::encode_tags(&rec.tags),
            ],
        )?;
        tx.execute(BUMP_LAST_ID, [id])?;
        tx.commit()?;
        Ok(())
    }

    fn take_offline(&self, account: &str) -> Result<Vec<Record>, StoreError> {
        let key = Key::of(account);
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (records, last_seq) = {
            let mut stmt = tx.prepare_cached(
                "SELECT m.id, m.time_ms, m.kind, m.is_pm, m.target, m.nick, m.ident, \
                 m.realname, m.host, m.text, m.tags, m.seq \
                 FROM offline m WHERE m.account = ?1 ORDER BY m.seq",
            )?;
            let mut rows = stmt.query([key.as_str()])?;
            let mut records = Vec::new();
            let mut last_seq: i64 = 0;
            while let Some(row) = rows.next()? {
                records.push(record_from_row(row)?);
                last_seq = row.get(11)?;
            }
            (records, last_seq)
        };
        if !records.is_empty() {
            tx.execute(
                "DELETE FROM offline WHERE account = ?1 AND seq <= ?2",
                params![key.as_str(), last_seq],
            )?;
        }
        tx.commit()?;
        Ok(records)
    }

    fn peek_offline(&self, account: &str) -> Result<Vec<(i64, Record)>, StoreError> {
        let key = Key::of(account);
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT m.id, m.time_ms, m.kind, m.is_pm, m.target, m.nick, m.ident, \
                 m.realname, m.host, m.text, m.tags, m.seq \
                 FROM offline m WHERE m.account = ?1 ORDER BY m.seq",
            )?;
            let mut rows = stmt.query([key.as_str()])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push((row.get(11)?, record_from_row(row)?));
            }
            Ok(out)
        })
    }

    fn ack_offline(&self, account: &str, upto: i64) -> Result<(), StoreError> {
        self.writer().execute(
            "DELETE FROM offline WHERE account = ?1 AND seq <= ?2",
            params![Key::of(account).as_str(), upto],
        )?;
        Ok(())
    }
}
