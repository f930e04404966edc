//! The `connect` workload: a connection storm. Once the run starts, every
//! client connects, registers (and joins, when asked) and quits, with at
//! most `--concurrency` in progress per part; reports connects per second
//! and registration latency.
//!
//! Must not hold connections open beyond their own registration: this
//! measures setup cost, not capacity (that is `idle`).

use serde::{Deserialize, Serialize};

use super::traffic::room_name;
use super::{Job, Link, PartResult, open_each, quit};
use crate::payload::mono_ns;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectSpec {
    pub clients: u32,
    /// Join a room after registering (one room per run).
    pub join: bool,
}

pub async fn run(job: &Job, spec: &ConnectSpec, link: &mut Link) -> anyhow::Result<PartResult> {
    let range = job.range();
    let mut res = PartResult::default();
    res.counts.planned = u64::from(range.end - range.start);
    let room = spec.join.then(|| room_name(&job.tag, 0));
    let plan: Vec<(u32, String, Option<String>)> =
        range.map(|i| (i, job.nick(i), room.clone())).collect();
    let start_ns = link.ready(Vec::new()).await?;
    tokio::time::sleep_until(crate::payload::instant_at(start_ns)).await;
    let t0 = mono_ns();
    let mut quits = Vec::new();
    let live = link.live.clone();
    open_each(job, plan, &live, &mut res, Some(start_ns), |_, o| {
        quits.push(tokio::spawn(quit(o.conn)));
    })
    .await;
    res.storm_ns = mono_ns().saturating_sub(t0);
    for q in quits {
        let _ = q.await;
    }
    Ok(res)
}
