//! The runtime: tokio listeners, one task per connection (its reading
//! session and its writer side by side), the hub's task, limits and shutdown. Thin by design: it moves
//! bytes and events between the edges and the core, and enforces the limits
//! that need clocks or sockets (flood rate, queue size, connection counts,
//! registration timeout).
//!
//! It must not decide what a command means (the core does) or how a protocol
//! looks on the wire (the edges do).

#![deny(unsafe_code)]

pub mod accounts;
pub mod activity;
pub mod admin;
pub mod banner;
pub mod connection;
pub mod deadlines;
pub mod descriptors;
pub mod fanout;
pub mod history;
pub mod hub_task;
pub mod inbox;
pub mod limits;
pub mod link;
pub mod listen;
pub mod live;
pub mod logins;
pub mod mdns;
pub mod metrics;
pub mod outbound;
pub mod persist;
pub mod reader;
pub mod reload;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod tls;
pub mod web;
pub mod websocket;

pub use connection::{Ctx, HubGone, ReadHalf, Renderer};
pub use inbox::GroupItem;
pub use reader::FrameReader;
pub use server::{Protocol, Server};
