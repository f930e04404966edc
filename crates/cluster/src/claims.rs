//! Nickname claims: one key per nickname in a JetStream bucket, whose
//! value names the node, the run of that node and the connection holding
//! it. A claim is an atomic create-if-absent, so of two nodes claiming
//! the same nickname at once exactly one wins; a claim left by a node
//! that is gone (lost, or restarted: another run) counts as free and is
//! taken over with a revision-checked update, and the nodes that notice
//! a loss delete its claims the same way (the first delete wins, the
//! others find the revision moved and do nothing).
//!
//! Runs on its own task, one claim or release at a time in the order the
//! hub task asked (a release and a new claim of the same nickname by
//! this node never cross). Must not decide anything but who holds a key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use chatroom_core::ConnId;
use chatroom_server::inbox::{HubHandle, HubMsg};
use chatroom_server::link::{Claim, NodeName, Remote};

use crate::js::{Bucket, Entry, KvError};
use crate::names::Names;

/// The live nodes and their runs, as the receiving task last heard.
pub type Peers = Arc<Mutex<HashMap<NodeName, u64>>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Owner {
    node: String,
    run: u64,
    conn: ConnId,
}

pub enum Ask {
    Claim {
        conn: ConnId,
        nick: String,
    },
    Release {
        node: Option<NodeName>,
        conn: ConnId,
        nick: String,
    },
}

pub struct Claims {
    pub bucket: Bucket,
    pub names: Names,
    pub me: NodeName,
    pub run: u64,
    pub peers: Peers,
    pub started: Instant,
    /// How long a node may be silent before it counts as gone: until a
    /// node has been up this long it does not know every live node, and
    /// takes over no claim of a node it has not heard.
    pub lost_after: Duration,
}

impl Claims {
    /// Deletes the claims an earlier run of this node left (it was killed,
    /// or lost): its people of then are gone.
    pub async fn clear_stale(&self) {
        let keys = match self.bucket.keys().await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!("cluster: cannot list the nickname claims: {e}");
                return;
            }
        };
        let mut cleared = 0;
        for key in keys {
            let Ok(Some(entry)) = self.bucket.get(&key).await else {
                continue;
            };
            if owner_of(&entry).is_some_and(|o| *o.node == *self.me && o.run != self.run)
                && self.bucket.delete(&key, entry.revision).await.is_ok()
            {
                cleared += 1;
            }
        }
        if cleared > 0 {
            tracing::info!("cluster: cleared {cleared} nickname claims of this node's last run");
        }
    }

    pub async fn run(self, mut asks: mpsc::UnboundedReceiver<Ask>, hub: HubHandle) {
        self.clear_stale().await;
        while let Some(ask) = asks.recv().await {
            match ask {
                Ask::Claim { conn, nick } => {
                    let outcome = self.claim(conn, &nick).await;
                    let answer = Remote::Claimed {
                        conn,
                        nick,
                        outcome,
                    };
                    if hub.send(HubMsg::Remote(answer)).await.is_err() {
                        return;
                    }
                }
                Ask::Release { node, conn, nick } => self.release(node, conn, &nick).await,
            }
        }
    }

    fn mine(&self, conn: ConnId) -> Vec<u8> {
        serde_json::to_vec(&Owner {
            node: self.me.to_string(),
            run: self.run,
            conn,
        })
        .unwrap_or_default()
    }

    /// Whether the claim `owner` stands for nobody any more.
    fn stale(&self, owner: &Owner) -> bool {
        if *owner.node == *self.me {
            return owner.run != self.run;
        }
        let peers = match self.peers.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        match peers.get(owner.node.as_str()) {
            Some(&run) => run != owner.run,
            None => self.started.elapsed() > self.lost_after,
        }
    }

    async fn claim(&self, conn: ConnId, nick: &str) -> Claim {
        let key = self.names.nick_key(nick);
        let value = self.mine(conn);
        for _ in 0..3 {
            match self.bucket.create(&key, value.clone()).await {
                Ok(_) => return Claim::Won,
                Err(KvError::Lost) => {}
                Err(e) => {
                    tracing::warn!("cluster: cannot claim {nick}: {e}");
                    return Claim::Unreachable;
                }
            }
            let entry = match self.bucket.get(&key).await {
                Ok(Some(e)) => e,
                // Deleted meanwhile: try the create again.
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("cluster: cannot read the claim on {nick}: {e}");
                    return Claim::Unreachable;
                }
            };
            let Some(owner) = owner_of(&entry) else {
                return Claim::Taken;
            };
            if owner.node == *self.me && owner.run == self.run && owner.conn == conn {
                return Claim::Won;
            }
            if !self.stale(&owner) {
                return Claim::Taken;
            }
            match self
                .bucket
                .update(&key, value.clone(), entry.revision)
                .await
            {
                Ok(_) => return Claim::Won,
                // Someone else took it over first: look again.
                Err(KvError::Lost) => continue,
                Err(e) => {
                    tracing::warn!("cluster: cannot claim {nick}: {e}");
                    return Claim::Unreachable;
                }
            }
        }
        Claim::Taken
    }

    async fn release(&self, node: Option<NodeName>, conn: ConnId, nick: &str) {
        let key = self.names.nick_key(nick);
        let Ok(Some(entry)) = self.bucket.get(&key).await else {
            return;
        };
        let Some(owner) = owner_of(&entry) else {
            return;
        };
        let ours = match &node {
            // This node's own person let go of it.
            None => *owner.node == *self.me && owner.run == self.run && owner.conn == conn,
            // A gone node's person: only while the claim is still that
            // run's (the node may be back and have claimed it again).
            Some(n) => owner.node == **n && owner.conn == conn && self.stale(&owner),
        };
        if ours && let Err(e) = self.bucket.delete(&key, entry.revision).await {
            tracing::debug!("cluster: the claim on {nick} was not released: {e}");
        }
    }
}

fn owner_of(entry: &Entry) -> Option<Owner> {
    serde_json::from_slice(&entry.value).ok()
}
