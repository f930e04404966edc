//! chatroom: a chat server that many people reach over TCP with the clients
//! they already have (netcat, IRC clients, the classic tutorial programs, our
//! terminal client), meeting in the same rooms.
//!
//! The tree follows the shape in `docs/architecture.md`:
//! - [`core`]: the hub (rooms, members, delivery rules); no I/O.
//! - [`edges`]: one module per wire protocol; parse bytes into core commands
//!   and render core events into bytes.
//! - [`runtime`]: listeners, connections, queues, limits, shutdown (tokio).
//! - [`client`]: the terminal client (`chatroom join`).
//! - [`bench`]: the load generator (`chatroom bench`).
//! - [`config`]: the one configuration struct (flags, environment, TOML).
//! - [`auth`]: password hashing (argon2id).

pub mod auth;
pub mod bench;
pub mod client;
pub mod config;
pub mod core;
pub mod edges;
pub mod runtime;
pub mod store;
