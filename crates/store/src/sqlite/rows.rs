//! Reading records back from `messages` (and `offline`) rows, and the SQL
//! that scopes a query to what its requester may see. This file must not
//! write anything.

use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::{Row, params_from_iter};

use crate::error::StoreError;
use crate::keys::{Scope, from_ms};
use crate::{Record, RecordKind};
use chatroom_core::{MsgTarget, UserInfo};

/// Columns read back into a [`Record`], in [`record_from_row`]'s order.
pub(super) const COLS: &str = "m.id, m.time_ms, m.kind, m.pm_a IS NOT NULL, m.target, m.nick, m.ident, \
                    m.realname, m.host, m.text";

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
        }),
        to: if is_pm {
            MsgTarget::Nick(target.into())
        } else {
            MsgTarget::Room(target.into())
        },
        text: text.into(),
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
    /// The rows the scope may see, with its key bound as `?1`.
    pub(super) fn sql(&self) -> &'static str {
        match self {
            Scope::Conv(_) => "m.conv = ?1",
            Scope::Private(_) => "(m.pm_a = ?1 OR m.pm_b = ?1)",
        }
    }

    pub(super) fn param(&self) -> Value {
        match self {
            Scope::Conv(k) | Scope::Private(k) => Value::Text(k.clone()),
        }
    }
}
