//! The accounts service: carries out what needs the store, argon2 or a
//! timer, under the rules of `chatroom_core::services` (account names,
//! password length, brute-force limits, credentials only over TLS).
//! Registering, checking a password or a client certificate, changing a
//! password, certificate fingerprints, keeping the messages the hub held
//! for offline accounts, and nickname protection's grace timers.
//!
//! The hub only ever learns the outcome (`Command::Login`,
//! `AccountRegistered`, `Reclaim`); the protocols word the replies. Argon2
//! runs on the blocking pool behind the same semaphore as OPER (`logins`), store calls
//! on the blocking pool too. The store is an `Arc<dyn AccountStore>`: this
//! service needs accounts, certificates and held messages and nothing else
//! of it, and a trait object keeps `Accounts` (shared by every connection)
//! free of a type parameter; a virtual call is nothing beside the blocking
//! call it makes. This module must not parse a protocol, decide a rule, or
//! touch the hub's state directly.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chatroom_config::Config;
use chatroom_core::names::Name;
use chatroom_core::services::accounts::{AccountRules, Held, held_notice};
pub use chatroom_core::services::accounts::{LoginError, RegisterError};
use chatroom_core::services::guard::Target;
use chatroom_core::{Command, ConnId, Event};
use chatroom_store::{Account, AccountStore, Record};

use super::inbox::{HubHandle, HubMsg};
use super::logins::{Logins, Slot};

/// What `INFO` shows about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub name: String,
    pub created: SystemTime,
    pub certs: usize,
}

fn account_rules(cfg: &Config) -> AccountRules {
    AccountRules {
        registration: cfg.accounts.registration,
        nick_len: cfg.hub.nick_len,
        reserved: cfg.hub.reserved_nicks.clone(),
        min_password_len: cfg.accounts.min_password_len,
    }
}

/// The service. One per server, shared by every connection and the hub task.
pub struct Accounts {
    cfg: Arc<Config>,
    store: Arc<dyn AccountStore>,
    /// The login throttle (shared with operator logins).
    logins: Arc<Logins>,
    /// The hub's inbox (new accounts, nickname protection and held-message
    /// notices talk to it).
    hub: HubHandle,
}

/// How long a failed login holds the session back (as OPER).
pub const FAIL_PAUSE: Duration = Duration::from_secs(1);

impl Accounts {
    pub fn new(
        cfg: Arc<Config>,
        store: Arc<dyn AccountStore>,
        logins: Arc<Logins>,
        hub: HubHandle,
    ) -> Accounts {
        Accounts {
            cfg,
            store,
            logins,
            hub,
        }
    }

    /// A slot under the login limits, or `Locked` with the wait (logged).
    fn slot(&self, ip: IpAddr, account: &str) -> Result<Slot<'_>, LoginError> {
        self.logins
            .begin(ip, Target::Account(account))
            .map_err(|secs| {
                let shown = if account.is_empty() { "*" } else { echo(account) };
                tracing::warn!(%ip, account = %shown, "login refused unchecked: too many failures; try again in {secs} s");
                LoginError::Locked { secs }
            })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn AccountStore) -> Result<T, chatroom_store::StoreError> + Send + 'static,
    ) -> Result<T, ()> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&*store)).await {
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
        conn: ConnId,
        ip: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<String, RegisterError> {
        account_rules(&self.cfg).check_new(name, password)?;
        if let Err(secs) = self.logins.may_register(ip) {
            tracing::warn!(%ip, account = %name, "registration refused: too many registrations or failed logins from this address; try again in {secs} s");
            return Err(RegisterError::TooMany { secs });
        }
        let hash = self
            .logins
            .hash(password.to_string())
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
        let _ = self
            .hub
            .send(HubMsg::Cmd {
                id: conn,
                cmd: Command::AccountRegistered(name.to_string()),
                ack: None,
            })
            .await;
        tracing::info!(account = %name, "account registered");
        Ok(name.to_string())
    }

    /// Checks a password login; the account's name as registered on success.
    /// Failures count towards the brute-force limits and are logged.
    pub async fn login_password(
        &self,
        ip: IpAddr,
        account: &str,
        password: &str,
    ) -> Result<String, LoginError> {
        let slot = self.slot(ip, account)?;
        let name = account.to_string();
        let Ok(found) = self.blocking(move |s| s.get_account(&name)).await else {
            slot.release();
            return Err(LoginError::Unavailable);
        };
        let ok = match &found {
            Some(acct) => {
                self.logins
                    .verify(password.to_string(), acct.password_hash.clone())
                    .await
            }
            None => false,
        };
        match found {
            Some(acct) if ok => {
                slot.finish(true);
                tracing::info!(%ip, account = %acct.name, "login");
                Ok(acct.name)
            }
            _ => Err(self
                .failure(slot, ip, account, "wrong password or unknown account")
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
        let slot = self.slot(ip, authzid)?;
        let Some(fp) = fingerprint.map(str::to_string) else {
            return Err(self
                .failure(slot, ip, shown, "EXTERNAL without a client certificate")
                .await);
        };
        let Ok(found) = self.blocking(move |s| s.account_by_cert(&fp)).await else {
            slot.release();
            return Err(LoginError::Unavailable);
        };
        match found {
            Some(acct) if authzid.is_empty() || chatroom_core::names::same(&acct.name, authzid) => {
                slot.finish(true);
                tracing::info!(%ip, account = %acct.name, "login by certificate");
                Ok(acct.name)
            }
            _ => Err(self
                .failure(slot, ip, shown, "unknown client certificate")
                .await),
        }
    }

    /// Counts and logs a failed login, then pauses the caller.
    async fn failure(&self, slot: Slot<'_>, ip: IpAddr, account: &str, why: &str) -> LoginError {
        let locked = slot.finish(false);
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
        account_rules(&self.cfg).check_password(password)?;
        let hash = self
            .logins
            .hash(password.to_string())
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

    /// From the hub task, which must not wait: keeps a private message the
    /// hub held for `account` (`Effect::Hold`) and then tells the sender
    /// (`from`) how that went.
    pub fn hold(self: &Arc<Self>, from: ConnId, account: Name, message: Event) {
        let Some(rec) = Record::from_message(&message) else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let max = me.cfg.accounts.max_offline_per_account;
            let name = account.to_string();
            let outcome = me
                .blocking(move |s| {
                    if s.peek_offline(&name)?.len() >= max {
                        return Ok(false);
                    }
                    s.hold_offline(&name, &rec)?;
                    Ok(true)
                })
                .await;
            let held = match outcome {
                Ok(true) => Held::Kept,
                Ok(false) => Held::Full,
                Err(()) => Held::Failed,
            };
            me.tell(from, held_notice(&account, held)).await;
        });
    }

    /// From the hub task: nickname protection's grace period
    /// (`Effect::Protect`). When it is over, the hub is asked to reclaim the
    /// nickname; it does nothing if a later warning or a login came first.
    pub fn protect(&self, conn: ConnId, nick: Name, after: Duration, generation: u64) {
        let hub = self.hub.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = hub
                .send(HubMsg::Cmd {
                    id: conn,
                    cmd: Command::Reclaim {
                        nick: nick.to_string(),
                        generation,
                    },
                    ack: None,
                })
                .await;
        });
    }

    async fn tell(&self, conn: ConnId, event: Event) {
        let _ = self
            .hub
            .send(HubMsg::Local {
                id: conn,
                body: event.into(),
            })
            .await;
    }
}

/// Client input echoed in a log line, cut short.
pub(crate) fn echo(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
