//! The `idle` workload: many connections registered and joined (spread over
//! rooms of `room_size`), then held silent while the orchestrator measures
//! the server's memory, then closed.
//!
//! Held connections keep reading (and answering PINGs): a server is
//! entitled to cut a client that never reads its join notices. Must not
//! send anything but registration, joins, PONGs and the final QUIT.

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::traffic::room_name;
use super::{Job, Link, PartResult, open_each, quit};
use crate::client::{self, Conn, Incoming};
use chatroom_proto::framing::Frame;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdleSpec {
    pub clients: u32,
    /// Clients per room.
    pub room_size: u32,
}

/// Reads and discards until `stop`; false if the connection ended first.
pub async fn hold(mut conn: Conn, stop: CancellationToken) -> (Conn, bool) {
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return (conn, true),
            item = conn.reader.next() => match item {
                Some(Ok(Frame::Line(line))) => {
                    if let Incoming::Ping(p) = client::classify(conn.proto, &line)
                        && conn.writer.write(p.as_bytes()).await.is_err()
                    {
                        return (conn, false);
                    }
                }
                Some(Ok(Frame::TooLong)) => {}
                Some(Err(_)) | None => return (conn, false),
            }
        }
    }
}

pub async fn run(job: &Job, spec: &IdleSpec, link: &mut Link) -> anyhow::Result<PartResult> {
    let range = job.range();
    let mut res = PartResult::default();
    res.counts.planned = u64::from(range.end - range.start);
    let size = spec.room_size.max(1);
    let plan: Vec<(u32, String, Option<String>)> = range
        .map(|i| (i, job.nick(i), Some(room_name(&job.tag, i / size))))
        .collect();
    let stop = CancellationToken::new();
    let mut holders = Vec::new();
    open_each(job, plan, &link.live.clone(), &mut res, None, |_, o| {
        holders.push(tokio::spawn(hold(o.conn, stop.clone())));
    })
    .await;
    let go = link.ready(Vec::new()).await;
    stop.cancel();
    let mut quits = Vec::new();
    for h in holders {
        match h.await {
            Ok((conn, true)) => quits.push(quit(conn)),
            Ok((_, false)) => {
                res.counts.disconnects += 1;
                res.errors.add("server closed an idle connection");
            }
            Err(e) => res.errors.add(format!("holder task: {e}")),
        }
    }
    // Closing thousands at once is fine for the server; it is bounded per
    // connection by `quit`.
    let quits = futures_util::stream::iter(quits).buffer_unordered(1024);
    quits.collect::<Vec<()>>().await;
    go?;
    Ok(res)
}
