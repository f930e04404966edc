//! Runs a chatroom server as one node of a cluster over NATS (with
//! JetStream): the glue between this node's hub task (through the
//! server's `link` seam) and the other nodes. See docs/cluster.md for
//! the design: subjects, buckets, who writes what, and what is
//! guaranteed.
//!
//! This crate holds the cluster's I/O and its wire format; the rules of
//! the chat stay in the core, and the hub task stays the one writer of
//! this node's state (everything from NATS reaches it through its inbox).
//! It must not decide anything the hub decides.

mod claims;
mod index;
mod journal;
pub mod js;
pub mod names;
mod node;
pub mod wire;

pub use node::plug;
