//! [`SearchStore`] for [`SqliteStore`]: candidates come from the index
//! (`index.rs`) newest first, and the records are read with the query's own
//! scope rule, so a match in a conversation the requester may not read is
//! never returned. This file must not write history.

use rusqlite::types::Value;

use super::SqliteStore;
use super::history::page_records_by_id;
use super::index::PASS_ROWS;
use super::rows::{COLS, collect};
use crate::error::StoreError;
use crate::fts::fts_query;
use crate::keys::Scope;
use crate::select::merge;
use crate::{QueryTarget, Record, SearchStore};

impl SearchStore for SqliteStore {
    fn search(
        &self,
        requester: &str,
        target: &QueryTarget,
        words: &str,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let limit = self.clamp(limit);
        let Some(fts) = fts_query(words) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let scope = Scope::of(requester, target);
        // Whatever was committed before this search is in the index first.
        self.read(|conn| self.search.catch_up(conn))?;
        // Candidates come from the index newest first, a page at a time;
        // the rows are read with the scope's own rule, so a match in a
        // conversation the requester may not read is never returned.
        let sql = format!(
            "SELECT {COLS} FROM messages m \
             WHERE m.id IN (SELECT value FROM json_each(?1)) AND {} \
             ORDER BY m.time_ms DESC, m.id DESC",
            scope.sql(2)
        );
        let page = limit.clamp(64, PASS_ROWS);
        let mut found = Vec::new();
        let mut below = None;
        loop {
            let ids = self.search.matching(&fts, below, page)?;
            let Some(&last) = ids.last() else {
                break;
            };
            below = Some(last);
            let list = format!(
                "[{}]",
                ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            );
            let rows = self.read(|conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let params = std::iter::once(Value::Text(list)).chain(scope.params());
                let rows = collect(&mut stmt, params.collect())?;
                match scope.room() {
                    Some(conv) => Ok(merge(
                        rows,
                        page_records_by_id(conn, conv, &ids)?,
                        true,
                        usize::MAX,
                    )),
                    None => Ok(rows),
                }
            })?;
            found.extend(rows);
            if found.len() >= limit || ids.len() < page {
                break;
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    fn index_search(&self, max: usize) -> Result<usize, StoreError> {
        self.read(|conn| self.search.index_some(conn, max))
    }
}
