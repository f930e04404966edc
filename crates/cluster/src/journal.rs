//! The cluster's journal on the way out: a node's room messages are
//! published to the history stream one after the other without waiting
//! (each with its own reply subject, so an acknowledgement is matched to
//! its message whatever else arrives), and a command's messages go to the
//! rooms' followers, and their local deliveries are released, once the
//! stream has acknowledged all of them. What the stream refuses, or does
//! not acknowledge within the bound, is released as not stored (its
//! sender is told; nobody receives it).
//!
//! Must not deliver anything itself: the hub task releases deliveries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;

use chatroom_server::inbox::{HubHandle, HubMsg};
use chatroom_server::link::Remote;

/// One command's messages waiting for the stream.
struct Pending {
    /// Acknowledgements still to come.
    left: usize,
    failed: bool,
    /// (subject, body) for the rooms' followers, in order.
    fanout: Vec<(String, Bytes)>,
    deadline: Instant,
}

#[derive(Clone)]
pub struct Journal {
    client: async_nats::Client,
    hub: HubHandle,
    /// Replies come to `<inbox>.<token>.<n>`.
    inbox: String,
    pending: Arc<Mutex<HashMap<u64, Pending>>>,
    timeout: Duration,
}

impl Journal {
    /// Subscribes to the acknowledgements and starts the task that
    /// matches them.
    pub async fn start(
        client: async_nats::Client,
        hub: HubHandle,
        timeout: Duration,
    ) -> anyhow::Result<Journal> {
        let inbox = client.new_inbox();
        let sub = client.subscribe(format!("{inbox}.>")).await?;
        let journal = Journal {
            client,
            hub,
            inbox,
            pending: Arc::default(),
            timeout,
        };
        tokio::spawn(journal.clone().acks(sub));
        Ok(journal)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        match self.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Publishes `entries` ((stream subject, headers, room subject, body))
    /// for `token`; the answer reaches the hub task as
    /// `Remote::Journaled`.
    pub async fn publish(
        &self,
        token: u64,
        entries: Vec<(String, async_nats::HeaderMap, String, Bytes)>,
    ) {
        if entries.is_empty() {
            self.answer(token, true).await;
            return;
        }
        let fanout = entries
            .iter()
            .map(|(_, _, room, body)| (room.clone(), body.clone()))
            .collect();
        self.lock().insert(
            token,
            Pending {
                left: entries.len(),
                failed: false,
                fanout,
                deadline: Instant::now() + self.timeout,
            },
        );
        for (n, (subject, headers, _, body)) in entries.into_iter().enumerate() {
            let reply = format!("{}.{token}.{n}", self.inbox);
            if let Err(e) = self
                .client
                .publish_with_reply_and_headers(subject, reply, headers, body)
                .await
            {
                tracing::warn!("cluster: the journal did not take a message: {e}");
                let gone = self.lock().remove(&token);
                if gone.is_some() {
                    self.answer(token, false).await;
                }
                return;
            }
        }
    }

    async fn answer(&self, token: u64, ok: bool) {
        let _ = self
            .hub
            .send(HubMsg::Remote(Remote::Journaled { token, ok }))
            .await;
    }

    /// Matches acknowledgements to messages; gives up on those past their
    /// bound.
    async fn acks(self, mut sub: async_nats::Subscriber) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                msg = sub.next() => {
                    let Some(msg) = msg else { return };
                    let Some(token) = msg
                        .subject
                        .strip_prefix(self.inbox.as_str())
                        .and_then(|r| r.split('.').nth(1))
                        .and_then(|t| t.parse::<u64>().ok())
                    else {
                        continue;
                    };
                    let stored = serde_json::from_slice::<serde_json::Value>(&msg.payload)
                        .ok()
                        .is_some_and(|v| v.get("seq").is_some() && v.get("error").is_none());
                    if !stored {
                        tracing::warn!(
                            "cluster: the journal refused a message: {}",
                            String::from_utf8_lossy(&msg.payload)
                        );
                    }
                    let done = {
                        let mut pending = self.lock();
                        match pending.get_mut(&token) {
                            Some(p) => {
                                p.left = p.left.saturating_sub(1);
                                p.failed |= !stored;
                                if p.left == 0 { pending.remove(&token) } else { None }
                            }
                            None => None,
                        }
                    };
                    if let Some(p) = done {
                        if !p.failed {
                            for (subject, body) in p.fanout {
                                if let Err(e) = self.client.publish(subject, body).await {
                                    tracing::warn!("cluster: publish failed: {e}");
                                }
                            }
                        }
                        self.answer(token, !p.failed).await;
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    let late: Vec<u64> = {
                        let mut pending = self.lock();
                        let late: Vec<u64> = pending
                            .iter()
                            .filter(|(_, p)| p.deadline < now)
                            .map(|(t, _)| *t)
                            .collect();
                        for t in &late {
                            pending.remove(t);
                        }
                        late
                    };
                    for token in late {
                        tracing::warn!("cluster: the journal did not acknowledge in time");
                        self.answer(token, false).await;
                    }
                }
            }
        }
    }
}
