//! This node's history as an index of the cluster's journal: a durable
//! JetStream consumer named after the node reads the history stream from
//! where it stopped (the whole stream, the first time) and hands the
//! messages to the hub task, which stores them with the node's own
//! history; the consumer is acknowledged only once they are committed.
//! After downtime the node catches up from its last acknowledged stream
//! sequence. A message delivered again (the node was killed between the
//! commit and the acknowledgement) is looked up first and stored only if
//! it is not there: no msgid is stored twice.
//!
//! Must not deliver anything to anyone: live delivery is the followers'
//! business (`node`); this only writes history.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::oneshot;

use chatroom_core::Event;
use chatroom_core::history::{Anchor, Selector};
use chatroom_server::inbox::{HubHandle, HubMsg};
use chatroom_server::link::Remote;
use chatroom_store::{HistoryQuery, HistoryStore, QueryTarget};

use crate::names::Names;
use crate::wire::{Body, Envelope};

/// Messages taken per pull.
const BATCH: usize = 256;

/// How long one pull waits for messages before the server ends it.
const PULL_EXPIRES_NS: u64 = 1_000_000_000;

/// How long the stream waits for an acknowledgement before it delivers
/// a message again (5 s: a batch is committed well within it).
const ACK_WAIT_NS: u64 = 5_000_000_000;

pub struct Index {
    pub client: async_nats::Client,
    pub names: Names,
    pub durable: String,
    pub history: Arc<dyn HistoryStore>,
    pub hub: HubHandle,
}

/// One message as the consumer gave it.
struct Pulled {
    event: Event,
    room: String,
    /// Delivered before: it may be stored already.
    again: bool,
    reply: String,
}

impl Index {
    pub async fn run(self) {
        loop {
            match self.follow().await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!("cluster: history index: {e}; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn make_consumer(&self) -> anyhow::Result<()> {
        let stream = self.names.history_stream();
        let body = json!({
            "stream_name": stream,
            "config": {
                "durable_name": self.durable,
                "deliver_policy": "all",
                "ack_policy": "all",
                // What a killed node had been given and not acknowledged
                // comes again this long after, to its next run.
                "ack_wait": ACK_WAIT_NS,
                "max_ack_pending": 20_000,
                "filter_subject": self.names.history_all(),
            }
        });
        let reply = self
            .client
            .request(
                format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{}", self.durable),
                body.to_string().into(),
            )
            .await?;
        let v: serde_json::Value = serde_json::from_slice(&reply.payload)?;
        if let Some(err) = v.get("error") {
            anyhow::bail!("cannot make the consumer {}: {err}", self.durable);
        }
        Ok(())
    }

    /// Pulls and stores until the hub is gone; an error ends it (the
    /// caller starts again).
    async fn follow(&self) -> anyhow::Result<()> {
        self.make_consumer().await?;
        let stream = self.names.history_stream();
        let inbox = self.client.new_inbox();
        let mut sub = self.client.subscribe(inbox.clone()).await?;
        let next = format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{}", self.durable);
        // Messages the open pull may still bring (0: none open). One pull
        // at a time: a new one for each message would pile up hundreds
        // of waiting pulls in the server.
        let mut open = 0usize;
        loop {
            if open == 0 {
                let ask = json!({ "batch": BATCH, "expires": PULL_EXPIRES_NS });
                self.client
                    .publish_with_reply(next.clone(), inbox.clone(), ask.to_string().into())
                    .await?;
                open = BATCH;
            }
            // What has come: the first message waited for, the rest taken
            // as far as they are already here.
            let mut pulled = Vec::new();
            let mut wait = Duration::from_nanos(PULL_EXPIRES_NS) + Duration::from_secs(2);
            while open > 0 && pulled.len() < BATCH {
                let msg = match tokio::time::timeout(wait, sub.next()).await {
                    Ok(Some(m)) => m,
                    Ok(None) => anyhow::bail!("the subscription ended"),
                    Err(_) if pulled.is_empty() => anyhow::bail!("no answer to a pull"),
                    Err(_) => break,
                };
                wait = Duration::ZERO;
                // A status (no messages, the pull expired) ends the pull.
                let Some(reply) = msg.reply.as_ref().map(|r| r.to_string()) else {
                    open = 0;
                    break;
                };
                if msg.status.is_some() {
                    open = 0;
                    break;
                }
                open -= 1;
                let again = delivered_count(&reply) > 1;
                if let Some(env) = Envelope::decode(&msg.payload)
                    && let Body::Said { msg: said, .. } = env.body
                    && let Some(room) = said.room().map(str::to_string)
                {
                    pulled.push(Pulled {
                        event: said.into_event(),
                        room,
                        again,
                        reply,
                    });
                } else {
                    // Nothing to store, but it counts as read.
                    pulled.push(Pulled {
                        event: Event::ServerNotice { text: "".into() },
                        room: String::new(),
                        again: false,
                        reply,
                    });
                }
            }
            let Some(last) = pulled.last().map(|p| p.reply.clone()) else {
                continue;
            };
            let mut events = Vec::with_capacity(pulled.len());
            for p in pulled {
                if !matches!(p.event, Event::Message { .. }) {
                    continue;
                }
                if p.again && self.stored(&p.room, &p.event).await {
                    continue;
                }
                events.push(p.event);
            }
            if !events.is_empty() {
                let (done, stored) = oneshot::channel();
                let index = Remote::Index { events, done };
                if self.hub.send(HubMsg::Remote(index)).await.is_err() {
                    return Ok(());
                }
                if stored.await.is_err() {
                    return Ok(());
                }
            }
            // Acknowledges this one and every one before it.
            self.client.publish(last, "+ACK".into()).await?;
        }
    }

    /// Whether `event` (of `room`) is in this node's history already.
    async fn stored(&self, room: &str, event: &Event) -> bool {
        let Event::Message { id, .. } = event else {
            return false;
        };
        let id = *id;
        let q = HistoryQuery {
            requester: String::new(),
            target: QueryTarget::Room(room.to_string()),
            selector: Selector::Around(Anchor::MsgId(id)),
            limit: 1,
        };
        let history = self.history.clone();
        tokio::task::spawn_blocking(move || {
            history
                .query(&q)
                .map(|found| found.iter().any(|r| r.id == id))
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }
}

/// How many times the message was delivered, from its acknowledgement
/// subject (`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`).
fn delivered_count(reply: &str) -> u64 {
    reply
        .split('.')
        .nth(4)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_delivery_count_is_read_from_the_ack_subject() {
        assert_eq!(
            super::delivered_count("$JS.ACK.chatroom_history.a.3.17.12.1700000000.0"),
            3
        );
        assert_eq!(super::delivered_count("garbage"), 1);
    }
}
