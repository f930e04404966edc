//! What new connections start from, replaceable while the server runs: the
//! configuration in force and the prototypes made from it (the IRC
//! renderer's shared MOTD and ISUPPORT). A reload puts new ones in; the
//! accept loops read them at each accept, so connections already open keep
//! what they started with.
//!
//! Must not decide what a reload may change (`reload.rs` does).

use std::sync::{Arc, PoisonError, RwLock};

use chatroom_config::Config;
use chatroom_proto::irc;

/// What every connection of a protocol starts from, made once per
/// configuration: each connection's renderer shares the fixed parts (the
/// IRC MOTD and ISUPPORT tokens) instead of holding its own copy.
pub struct Prototypes {
    pub irc: irc::IrcRenderer,
}

impl Prototypes {
    pub fn of(cfg: &Config) -> Prototypes {
        Prototypes {
            irc: irc::renderer(cfg),
        }
    }
}

/// The configuration in force for new connections, and its prototypes.
pub struct Live {
    now: RwLock<(Arc<Config>, Arc<Prototypes>)>,
}

impl Live {
    pub fn new(cfg: Arc<Config>) -> Arc<Live> {
        let protos = Arc::new(Prototypes::of(&cfg));
        Arc::new(Live {
            now: RwLock::new((cfg, protos)),
        })
    }

    /// What a connection accepted now starts from.
    pub fn get(&self) -> (Arc<Config>, Arc<Prototypes>) {
        self.now
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts a new configuration in force for the connections to come.
    pub fn set(&self, cfg: Arc<Config>) {
        let protos = Arc::new(Prototypes::of(&cfg));
        *self.now.write().unwrap_or_else(PoisonError::into_inner) = (cfg, protos);
    }
}
