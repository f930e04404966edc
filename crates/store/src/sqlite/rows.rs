//! Reading records back from `messages` (and `offline`) rows, and the SQL
//! that scopes a query to what its requester may see. This file must not
//! write anything.

use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::{Row, params_from_iter};

use crate::error::StoreError;
use crate::keys::{Scope, from_ms};
use crate::{Record, RecordKind, page};
use chatroom_core::{MsgTarget, UserInfo};

/// Columns read back into a [`Record`], in [`record_from_row`]'s order.
pub(super) const COLS: &str = "m.id, m.time_ms, m.kind, m.pm_a IS NOT NULL, m.target, m.nick, m.ident, \
                    m.realname, m.host, m.text, m.tags";

pub(super) fn record_from_row(row: &Row<'_>) -> Result<Record, StoreError> {
    let id: i64 = row.get(0)?;
    let id = u64::try_from(id)
        .map_err(|_| StoreError::Damaged(format!("negative msgid {id} in the database")))?;
    let kind: String = row.get(2)?;
    let kind = RecordKind::parse(&kind)
        .ok_or_else(|| StoreError::Damaged(format!("msgid {id} has unknown kind {kind:?}")))?;
    let is_pm: bool = row.get(3)?;
    let target: String = row.get(4)?;
    let nick: String = row.get(5)?;
    let user: String = row.get(6)?;
    let realname: String = row.get(7)?;
    let host: String = row.get(8)?;
    let text: String = row.get(9)?;
    let tags = match row.get_ref(10)? {
        rusqlite::types::ValueRef::Null => Vec::new(),
        v => page::decode_tags(
            v.as_blob()
                .map_err(|e| StoreError::Damaged(format!("msgid {id}: tags: {e}")))?,
            id,
        )?,
    };
    Ok(Record {
        id,
        time: from_ms(row.get(1)?),
        kind,
        from: Arc::new(UserInfo {
            nick: nick.into(),
            user: user.into(),
            realname: realname.into(),
            host: host.into(),
            account: None,
            bot: false,
        }),
        to: if is_pm {
            MsgTarget::Nick(target.into())
        } else {
            MsgTarget::Room(target.into())
        },
        text: text.into(),
        to_account: None,
        tags,
    })
}

pub(super) fn collect(
    stmt: &mut rusqlite::Statement<'_>,
    params: Vec<Value>,
) -> Result<Vec<Record>, StoreError> {
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(record_from_row(row)?);
    }
    Ok(out)
}

/// Column `i` of `row` as bytes, without a copy.
pub(crate) fn blob<'r>(row: &'r Row<'_>, i: usize) -> Result<&'r [u8], StoreError> {
    row.get_ref(i)?
        .as_blob()
        .map_err(|e| StoreError::Damaged(format!("a history page's body: {e}")))
}

impl Scope {
    /// The rows the scope may see, its parameters numbered from `?first`
    /// (see [`Scope::params`]). For a private scope, the rule of
    /// [`Scope::sees`]: the asker's account on one side and, with a peer,
    /// the peer's nickname or account on the other.
    pub(super) fn sql(&self, first: usize) -> String {
        let (me, peer) = (first, first + 1);
        match self {
            Scope::Conv(_) => format!("m.conv = ?{me}"),
            Scope::Private { peer: None, .. } => {
                format!("(m.acct_a = ?{me} OR m.acct_b = ?{me})")
            }
            Scope::Private { peer: Some(_), .. } => format!(
                "((m.acct_a = ?{me} AND (m.pm_b = ?{peer} OR m.acct_b = ?{peer})) \
                 OR (m.acct_b = ?{me} AND (m.pm_a = ?{peer} OR m.acct_a = ?{peer})))"
            ),
        }
    }

    /// The values [`Scope::sql`]'s parameters are bound to, in order.
    pub(super) fn params(&self) -> Vec<Value> {
        match self {
            Scope::Conv(k) => vec![Value::Text(k.clone())],
            Scope::Private { account, peer } => std::iter::once(account)
                .chain(peer)
                .map(|v| Value::Text(v.clone()))
                .collect(),
        }
    }
}
