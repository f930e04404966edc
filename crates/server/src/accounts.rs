//! The accounts service: everything about accounts that needs the store,
//! argon2 or a clock. Registering, checking a password or a client
//! certificate, changing a password, certificate fingerprints, the
//! brute-force limits, nickname protection's grace timers, and messages
//! held for accounts that are offline.
//!
//! The hub only ever learns the outcome (`Command::Login`, `Reclaim`); the
//! IRC edge parses and words the replies. Argon2 runs on the blocking pool
//! behind the same semaphore as OPER, store calls on the blocking pool too.
//! This module must not parse a protocol or touch the hub's state directly.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use chatroom_config::Config;
use chatroom_core::names::{Key, validate_nick};
use chatroom_core::{Command, ConnId, Event};
use chatroom_store::{Account, Record, SqliteStore, Store};

use super::hub_task::{HubHandle, HubMsg};

/// Why a login failed. The wording for the client is the edge's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong password, unknown account or certificate (never said apart).
    Invalid,
    /// Too many failures for this account or address; try again later.
    Locked { secs: u64 },
    /// The store could not be read.
    Unavailable,
}

/// Why a registration failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    Disabled,
    /// This address registered too many accounts lately.
    TooMany,
    Exists,
    BadName(&'static str),
    WeakPassword(usize),
    Unavailable,
}

/// What `INFO` shows about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub name: String,
    pub created: SystemTime,
    pub certs: usize,
}

/// Failed logins of one account or one address.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
    /// Locks so far: each one doubles the next.
    locks: u32,
}

/// Counting failures and locking, per account and per address. Pure but
/// for the `now` it is given, so it is unit-tested without waiting.
#[derive(Debug, Default)]
pub struct Guard {
    by_account: HashMap<String, Failures>,
    by_ip: HashMap<IpAddr, Failures>,
}

/// The numbers [`Guard`] works with (from `[accounts]`).
#[derive(Debug, Clone, Copy)]
pub struct GuardLimits {
    pub per_account: u32,
    pub per_ip: u32,
    pub window: Duration,
    pub lockout: Duration,
    pub max_lockout: Duration,
}

impl GuardLimits {
    pub fn of(cfg: &Config) -> GuardLimits {
        let a = &cfg.accounts;
        GuardLimits {
            per_account: a.max_failures_per_account,
            per_ip: a.max_failures_per_ip,
            window: Duration::from_secs(a.failure_window_secs),
            lockout: Duration::from_secs(a.lockout_secs),
            max_lockout: Duration::from_secs(a.max_lockout_secs),
        }
    }
}

/// Entries kept at most per map; past it, the ones not locked are dropped
/// (an attacker cycling names must not grow memory without bound).
const GUARD_ENTRIES: usize = 100_000;

impl Guard {
    /// Seconds left of a lock on this account or address, if any.
    pub fn locked(&self, ip: IpAddr, account: &str, now: Instant) -> Option<u64> {
        let left = |f: Option<&Failures>| {
            f.and_then(|f| f.locked_until)
                .filter(|&t| t > now)
                .map(|t| (t - now).as_secs().max(1))
        };
        left(self.by_account.get(Key::of(account).as_str())).max(left(self.by_ip.get(&ip)))
    }

    /// Counts a failure; true when it started a lock.
    pub fn failed(&mut self, ip: IpAddr, account: &str, now: Instant, l: &GuardLimits) -> bool {
        if self.by_account.len() > GUARD_ENTRIES {
            self.by_account.retain(|_, f| f.locked_until.is_some());
        }
        if self.by_ip.len() > GUARD_ENTRIES {
            self.by_ip.retain(|_, f| f.locked_until.is_some());
        }
        let key = Key::of(account).as_str().to_string();
        let a = bump(
            self.by_account.entry(key).or_insert_with(|| fresh(now)),
            now,
            l.per_account,
            l,
        );
        let i = bump(
            self.by_ip.entry(ip).or_insert_with(|| fresh(now)),
            now,
            l.per_ip,
            l,
        );
        a || i
    }

    /// A success clears the account's count (not its address's: one good
    /// password must not reset guessing at other accounts).
    pub fn succeeded(&mut self, account: &str) {
        self.by_account.remove(Key::of(account).as_str());
    }
}

fn fresh(now: Instant) -> Failures {
    Failures {
        count: 0,
        since: now,
        locked_until: None,
        locks: 0,
    }
}

fn bump(f: &mut Failures, now: Instant, max: u32, l: &GuardLimits) -> bool {
    if now.duration_since(f.since) > l.window {
        f.count = 0;
        f.since = now;
    }
    f.count += 1;
    if f.count < max {
        return false;
    }
    let lock = l
        .lockout
        .saturating_mul(1u32 << f.locks.min(16))
        .min(l.max_lockout);
    f.locked_until = Some(now + lock);
    f.locks = f.locks.saturating_add(1);
    f.count = 0;
    f.since = now;
    true
}

/// The service. One per server, shared by every connection and the hub task.
pub struct Accounts {
    cfg: Arc<Config>,
    store: Arc<SqliteStore>,
    /// Case-folded names of every account: the hub task asks "is this
    /// nickname registered?" without waiting on the disk.
    names: RwLock<HashSet<Key>>,
    guard: Mutex<Guard>,
    /// Set once the hub task runs (nickname protection and held-message
    /// notices talk to it).
    hub: OnceLock<HubHandle>,
    /// Nickname-protection timers: the latest generation per connection;
    /// an older timer that fires does nothing.
    timers: Mutex<HashMap<ConnId, u64>>,
    /// When each address registered accounts within the last hour.
    registrations: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

/// How long a failed login holds the session back (as OPER).
pub const FAIL_PAUSE: Duration = Duration::from_secs(1);

impl Accounts {
    /// Loads the account names from the store (a blocking call: run it
    /// before serving, or on the blocking pool).
    pub fn load(cfg: Arc<Config>, store: Arc<SqliteStore>) -> Result<Accounts, String> {
        let names = store
            .account_names()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|n| Key::of(n))
            .collect();
        Ok(Accounts {
            cfg,
            store,
            names: RwLock::new(names),
            guard: Mutex::new(Guard::default()),
            hub: OnceLock::new(),
            timers: Mutex::new(HashMap::new()),
            registrations: Mutex::new(HashMap::new()),
        })
    }

    pub fn set_hub(&self, hub: HubHandle) {
        let _ = self.hub.set(hub);
    }

    /// Is there an account of this name?
    pub fn is_registered(&self, name: &str) -> bool {
        self.names
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&Key::of(name))
    }

    /// Private messages to offline accounts are held.
    pub fn offline_enabled(&self) -> bool {
        self.cfg.accounts.offline_messages
    }

    fn limits(&self) -> GuardLimits {
        GuardLimits::of(&self.cfg)
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, Guard> {
        self.guard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SqliteStore) -> Result<T, chatroom_store::StoreError> + Send + 'static,
    ) -> Result<T, ()> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                tracing::error!("accounts: store error: {e}");
                Err(())
            }
            Err(e) => {
                tracing::error!("accounts: store task failed: {e}");
                Err(())
            }
        }
    }

    /// Creates an account named `name` (the nickname rules apply) with
    /// `password` (stored only as an argon2id hash). Returns the name.
    pub async fn register(
        &self,
        ip: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<String, RegisterError> {
        let a = &self.cfg.accounts;
        if !a.registration {
            return Err(RegisterError::Disabled);
        }
        validate_nick(name, self.cfg.hub.nick_len).map_err(|e| RegisterError::BadName(e.0))?;
        if self
            .cfg
            .hub
            .reserved_nicks
            .iter()
            .any(|r| chatroom_core::names::same(r, name))
        {
            return Err(RegisterError::BadName("it is reserved for services"));
        }
        if password.chars().count() < a.min_password_len {
            return Err(RegisterError::WeakPassword(a.min_password_len));
        }
        if self.is_registered(name) {
            return Err(RegisterError::Exists);
        }
        if !self.may_register(ip, Instant::now()) {
            tracing::warn!(%ip, account = %name, "registration refused: too many from this address");
            return Err(RegisterError::TooMany);
        }
        let hash = hash(password.to_string())
            .await
            .ok_or(RegisterError::Unavailable)?;
        let acct = Account {
            name: name.to_string(),
            password_hash: hash,
            created: SystemTime::now(),
        };
        let created = self
            .blocking(move |s| {
                // Checked again on the writer: two registrations of one
                // name may race; the first one wins.
                if s.get_account(&acct.name)?.is_some() {
                    return Ok(false);
                }
                s.put_account(&acct)?;
                Ok(true)
            })
            .await
            .map_err(|()| RegisterError::Unavailable)?;
        if !created {
            return Err(RegisterError::Exists);
        }
        self.names
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(Key::of(name));
        tracing::info!(account = %name, "account registered");
        Ok(name.to_string())
    }

    /// Counts a registration attempt from `ip`; false past the hourly limit.
    fn may_register(&self, ip: IpAddr, now: Instant) -> bool {
        let max = self.cfg.accounts.max_registrations_per_ip_per_hour;
        if max == 0 {
            return true;
        }
        let hour = Duration::from_secs(3600);
        let mut all = self
            .registrations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if all.len() > GUARD_ENTRIES {
            all.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < hour));
        }
        let times = all.entry(ip).or_default();
        times.retain(|t| now.duration_since(*t) < hour);
        if times.len() >= max as usize {
            return false;
        }
        times.push(now);
        true
    }

    /// Checks a password login; the account's name as registered on success.
    /// Failures count towards the brute-force limits and are logged.
    pub async fn login_password(
        &self,
        ip: IpAddr,
        account: &str,
        password: &str,
    ) -> Result<String, LoginError> {
        if let Some(secs) = self.guard().locked(ip, account, Instant::now()) {
            tracing::warn!(%ip, account = %echo(account), "login refused: locked for {secs} s after repeated failures");
            return Err(LoginError::Locked { secs });
        }
        let name = account.to_string();
        let found = self
            .blocking(move |s| s.get_account(&name))
            .await
            .map_err(|()| LoginError::Unavailable)?;
        let ok = match &found {
            Some(acct) => verify(password.to_string(), acct.password_hash.clone()).await,
            None => false,
        };
        match found {
            Some(acct) if ok => {
                self.guard().succeeded(account);
                tracing::info!(%ip, account = %acct.name, "login");
                Ok(acct.name)
            }
            _ => Err(self
                .failure(ip, account, "wrong password or unknown account")
                .await),
        }
    }

    /// Checks a certificate login (SASL EXTERNAL): the account the
    /// fingerprint is tied to, which must be `authzid` when one is given.
    pub async fn login_cert(
        &self,
        ip: IpAddr,
        fingerprint: Option<&str>,
        authzid: &str,
    ) -> Result<String, LoginError> {
        let shown = if authzid.is_empty() { "*" } else { authzid };
        if let Some(secs) = self.guard().locked(ip, authzid, Instant::now()) {
            tracing::warn!(%ip, account = %echo(shown), "login refused: locked for {secs} s after repeated failures");
            return Err(LoginError::Locked { secs });
        }
        let Some(fp) = fingerprint.map(str::to_string) else {
            return Err(self
                .failure(ip, authzid, "EXTERNAL without a client certificate")
                .await);
        };
        let found = self
            .blocking(move |s| s.account_by_cert(&fp))
            .await
            .map_err(|()| LoginError::Unavailable)?;
        match found {
            Some(acct) if authzid.is_empty() || chatroom_core::names::same(&acct.name, authzid) => {
                self.guard().succeeded(&acct.name);
                tracing::info!(%ip, account = %acct.name, "login by certificate");
                Ok(acct.name)
            }
            _ => Err(self
                .failure(ip, authzid, "unknown client certificate")
                .await),
        }
    }

    /// Counts and logs a failed login, then pauses the caller.
    async fn failure(&self, ip: IpAddr, account: &str, why: &str) -> LoginError {
        let locked = self
            .guard()
            .failed(ip, account, Instant::now(), &self.limits());
        let account = if account.is_empty() {
            "*"
        } else {
            echo(account)
        };
        if locked {
            tracing::warn!(%ip, %account, "login failed ({why}); too many failures: locked for a while");
        } else {
            tracing::warn!(%ip, %account, "login failed ({why})");
        }
        tokio::time::sleep(FAIL_PAUSE).await;
        LoginError::Invalid
    }

    /// Replaces an account's password.
    pub async fn set_password(&self, account: &str, password: &str) -> Result<(), RegisterError> {
        let min = self.cfg.accounts.min_password_len;
        if password.chars().count() < min {
            return Err(RegisterError::WeakPassword(min));
        }
        let hash = hash(password.to_string())
            .await
            .ok_or(RegisterError::Unavailable)?;
        let name = account.to_string();
        let done = self
            .blocking(move |s| match s.get_account(&name)? {
                Some(mut acct) => {
                    acct.password_hash = hash;
                    s.put_account(&acct)?;
                    Ok(true)
                }
                None => Ok(false),
            })
            .await
            .map_err(|()| RegisterError::Unavailable)?;
        if done {
            tracing::info!(%account, "password changed");
            Ok(())
        } else {
            Err(RegisterError::Unavailable)
        }
    }

    pub async fn info(&self, name: &str) -> Result<Option<AccountInfo>, ()> {
        let name = name.to_string();
        self.blocking(move |s| {
            let Some(acct) = s.get_account(&name)? else {
                return Ok(None);
            };
            let certs = s.certs(&acct.name)?.len();
            Ok(Some(AccountInfo {
                name: acct.name,
                created: acct.created,
                certs,
            }))
        })
        .await
    }

    pub async fn cert_add(&self, account: &str, fp: &str) -> Result<bool, ()> {
        let (a, f) = (account.to_string(), fp.to_string());
        self.blocking(move |s| s.add_cert(&a, &f)).await
    }

    pub async fn cert_del(&self, account: &str, fp: &str) -> Result<bool, ()> {
        let (a, f) = (account.to_string(), fp.to_string());
        self.blocking(move |s| s.del_cert(&a, &f)).await
    }

    pub async fn certs(&self, account: &str) -> Result<Vec<String>, ()> {
        let a = account.to_string();
        self.blocking(move |s| s.certs(&a)).await
    }

    /// Messages held for `account`, oldest first, still in the store.
    pub async fn held(&self, account: &str) -> Result<Vec<(i64, Record)>, ()> {
        let a = account.to_string();
        self.blocking(move |s| s.peek_offline(&a)).await
    }

    /// Removes held messages up to `upto`, once they were handed over.
    pub async fn delivered(&self, account: &str, upto: i64) -> Result<(), ()> {
        let a = account.to_string();
        self.blocking(move |s| s.ack_offline(&a, upto)).await
    }

    /// From the hub task, which must not wait: keeps a private message for
    /// `account` and then tells the sender (`from`) it is held (or why not).
    pub fn hold(self: &Arc<Self>, from: ConnId, account: String, rec: Record) {
        let me = self.clone();
        tokio::spawn(async move {
            let max = me.cfg.accounts.max_offline_per_account;
            let name = account.clone();
            let outcome = me
                .blocking(move |s| {
                    if s.peek_offline(&name)?.len() >= max {
                        return Ok(false);
                    }
                    s.hold_offline(&name, &rec)?;
                    Ok(true)
                })
                .await;
            let text = match outcome {
                Ok(true) => format!(
                    "{account} is not connected; your message is held for {account} and will be delivered at their next login"
                ),
                Ok(false) => format!(
                    "{account} is not connected and has too many messages waiting; your message was not kept"
                ),
                Err(()) => format!(
                    "{account} is not connected and your message could not be kept (storage error)"
                ),
            };
            me.tell(from, service_notice(&text)).await;
        });
    }

    /// From the hub task: `conn` now holds `nick`, logged in to `account`.
    /// When `nick` is someone else's registered account, the holder is
    /// warned and, unless they log in within the grace period, renamed.
    pub fn nick_taken(self: &Arc<Self>, conn: ConnId, nick: &str, account: Option<&str>) {
        let generation = {
            let mut timers = self.timers.lock().unwrap_or_else(PoisonError::into_inner);
            let g = timers.entry(conn).or_insert(0);
            *g += 1;
            *g
        };
        let Some(grace) = self.cfg.accounts.nick_grace() else {
            return;
        };
        let owned = account.is_some_and(|a| chatroom_core::names::same(a, nick));
        if owned || !self.is_registered(nick) {
            return;
        }
        let me = self.clone();
        let nick = nick.to_string();
        tokio::spawn(async move {
            let secs = grace.as_secs();
            me.tell(
                conn,
                service_notice(&format!(
                    "{nick} is a registered nickname. Log in to it (SASL, or /msg NickServ IDENTIFY <password>) within {secs} seconds or you will be renamed"
                )),
            )
            .await;
            tokio::time::sleep(grace).await;
            let current = me
                .timers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&conn)
                .copied();
            if current != Some(generation) {
                return;
            }
            let guest = guest_nick();
            if let Some(hub) = me.hub.get() {
                let _ = hub
                    .send(HubMsg::Cmd {
                        id: conn,
                        cmd: Command::Reclaim {
                            nick: nick.clone(),
                            guest,
                        },
                        ack: None,
                    })
                    .await;
            }
        });
    }

    /// The connection is gone: its timers do nothing any more.
    pub fn forget(&self, conn: ConnId) {
        self.timers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&conn);
    }

    async fn tell(&self, conn: ConnId, event: Event) {
        if let Some(hub) = self.hub.get() {
            let _ = hub
                .send(HubMsg::Local {
                    id: conn,
                    body: event.into(),
                })
                .await;
        }
    }
}

/// A notice on behalf of NickServ. The runtime knows no protocol, so it is
/// a server notice (on IRC `:server NOTICE nick :NickServ: ...`), which
/// every protocol shows.
pub fn service_notice(text: &str) -> Event {
    Event::ServerNotice {
        text: format!("NickServ: {text}").into(),
    }
}

/// `Guest` and five digits, from the clock (no need for a real random
/// source: a clash only means the rename is refused and retried later).
fn guest_nick() -> String {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    format!("Guest{:05}", n % 100_000)
}

/// Client input echoed in a log line, cut short.
fn echo(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Password checks (and hashings) running at once, server-wide: accounts,
/// OPER and the connection password all queue here. Each argon2 run takes
/// tens of milliseconds and about 19 MiB, so many connections guessing at
/// once must wait instead of exhausting memory or the blocking pool.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Checks a password against an argon2id hash on a blocking thread.
pub async fn verify(password: String, hash: String) -> bool {
    let Ok(_permit) = HASHING.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || chatroom_core::password::verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

async fn hash(password: String) -> Option<String> {
    let _permit = HASHING.acquire().await.ok()?;
    tokio::task::spawn_blocking(move || chatroom_core::password::hash_password(&password).ok())
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> GuardLimits {
        GuardLimits {
            per_account: 3,
            per_ip: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(10),
            max_lockout: Duration::from_secs(25),
        }
    }

    #[test]
    fn failures_lock_the_account_then_expire_and_grow() {
        let mut g = Guard::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!(!g.failed(ip, "Alice", t0, &limits()));
        assert!(!g.failed(ip, "alice", t0, &limits()));
        assert!(g.locked(ip, "alice", t0).is_none());
        assert!(g.failed(ip, "ALICE", t0, &limits()));
        assert_eq!(g.locked(ip, "alice", t0), Some(10));
        // Another account from another address is not affected.
        let other: IpAddr = [10, 0, 0, 2].into();
        assert!(g.locked(other, "bob", t0).is_none());
        let t1 = t0 + Duration::from_secs(11);
        assert!(g.locked(ip, "alice", t1).is_none());
        for _ in 0..2 {
            g.failed(other, "alice", t1, &limits());
        }
        assert!(g.failed(other, "alice", t1, &limits()));
        // The second lock is twice as long.
        assert_eq!(g.locked(other, "alice", t1), Some(20));
        g.succeeded("alice");
        assert!(g.locked(other, "alice", t1).is_none());
    }

    #[test]
    fn an_address_trying_many_accounts_is_locked() {
        let mut g = Guard::default();
        let ip: IpAddr = [10, 0, 0, 9].into();
        let t0 = Instant::now();
        for i in 0..4 {
            assert!(!g.failed(ip, &format!("user{i}"), t0, &limits()));
        }
        assert!(g.failed(ip, "user4", t0, &limits()));
        assert!(g.locked(ip, "someone-else", t0).is_some());
        assert!(g.locked([10, 0, 0, 8].into(), "someone-else", t0).is_none());
    }
}
