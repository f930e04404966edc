//! The core: rooms, members, nicknames, topics, private messages and the
//! rules of delivery, decided once for every protocol.
//!
//! Inputs are [`Command`]s, outputs are [`Event`]s handed to an [`Outbox`].
//! The core must not touch sockets, bytes on the wire, clocks (the time is
//! passed in, see [`clock`]), or any protocol's syntax; everything here is tested without a
//! network (see `hub/tests.rs`).

#![deny(unsafe_code)]

pub mod addr;
pub mod clock;
pub mod command;
pub mod error;
pub mod event;
pub mod history;
pub mod hub;
pub mod model;
pub mod modes;
pub mod multiline;
pub mod names;
pub mod password;
pub mod registry;
pub mod services;

pub use clock::{Clock, ManualClock};
pub use command::{Command, ConnId, ListQuery, MsgKind, Overflow, RoomRef, SayTarget};
pub use error::{HubError, RedactRefusal};
pub use event::{Event, Lusers, MemberInfo, MsgTarget, RoomInfo, Topic, UserInfo, WhowasEntry};
pub use hub::{Hub, HubConfig, Outbox, TextFit};
pub use modes::{ListEntry, ModeChange};
pub use services::{Effect, Services};
