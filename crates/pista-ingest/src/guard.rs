//! The guard: who is asking, and the rules that say what they may do. It holds the
//! [`RuleBook`] loaded from the accounts (users, ACL entries, groups, shares), reloaded every
//! few seconds so that changes made by the CLI or another worker apply without a restart, and
//! at once after a change made through this process, and when a user logs in whom the rules do
//! not know yet (made by the CLI a moment ago). It answers three questions for every door: a
//! user name and password ([`Guard::login`], through [`Logins`], with successful checks kept for
//! a minute, while the user's stored hash stays the same, so that an app sending Basic
//! credentials with every point costs one Argon2 check a minute, not one per point), a token
//! ([`Guard::token`]: API tokens and browser sessions, kept in the store as SHA-256 digests
//! only) and the rules themselves ([`Guard::book`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pista_broker::{Client, Gatekeeper};
use pista_core::UserName;
use pista_core::access::{AclRule, RuleBook, Viewer};
use pista_store::{Access, AccountStore, StoreError, Token, TokenKind};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::login::{Login, LoginError, LoginLimits, Logins};

/// How often the rules are read again from the store.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// Reloads between two removals of expired tokens (an hour).
const PRUNE_EVERY_TICKS: u64 = 720;

/// How long a successful password check is remembered.
const REMEMBER: Duration = Duration::from_secs(60);

/// What every token starts with, so that a token given as a Basic password is told apart from
/// a password (and a leaked one is easy to search for).
pub const TOKEN_PREFIX: &str = "pista_";

/// Logins, tokens and the rule book of this process.
pub struct Guard {
    accounts: Arc<dyn AccountStore>,
    logins: Logins,
    book: RwLock<Arc<RuleBook>>,
    /// Each user's stored password hash as last loaded: a remembered login holds while it stays.
    hashes: RwLock<Arc<HashMap<UserName, String>>>,
    /// SHA-256 of "user NUL password" of recent successful logins, with the hash they matched.
    remembered: Mutex<HashMap<[u8; 32], Remembered>>,
    /// Password checks under way, by the same key: a second login with the same credentials
    /// waits for the first check instead of running its own (50 connections of one fleet
    /// logging in at once cost one Argon2 check, not 50).
    checking: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
    /// Password checks run (Argon2 and the original's hashes), for tests and statistics.
    checks: AtomicU64,
}

#[derive(Clone)]
struct Remembered {
    login: Login,
    hash: Option<String>,
    at: Instant,
}

/// Most remembered logins; beyond it the stale ones are dropped.
const REMEMBER_MOST: usize = 10_000;

impl Guard {
    /// Loads the rules from `accounts`.
    pub async fn load(
        accounts: Arc<dyn AccountStore>,
        limits: LoginLimits,
    ) -> Result<Arc<Self>, StoreError> {
        let (book, hashes) = read_book(accounts.as_ref()).await?;
        Ok(Arc::new(Self {
            logins: Logins::new(accounts.clone(), limits),
            accounts,
            book: RwLock::new(Arc::new(book)),
            hashes: RwLock::new(Arc::new(hashes)),
            remembered: Mutex::default(),
            checking: Mutex::default(),
            checks: AtomicU64::new(0),
        }))
    }

    /// The rules as last loaded.
    pub fn book(&self) -> Arc<RuleBook> {
        self.book.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The accounts the rules come from.
    pub fn accounts(&self) -> &Arc<dyn AccountStore> {
        &self.accounts
    }

    /// Reads the rules again (a remembered login whose user's hash changed no longer counts).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let (book, hashes) = read_book(self.accounts.as_ref()).await?;
        *self.book.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(book);
        *self.hashes.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(hashes);
        Ok(())
    }

    fn stored_hash(&self, user: &UserName) -> Option<String> {
        self.hashes.read().unwrap_or_else(|e| e.into_inner()).get(user).cloned()
    }

    /// Reloads every [`RELOAD_EVERY`] until `stop` turns true.
    pub fn spawn_reloads(self: &Arc<Self>, mut stop: watch::Receiver<bool>) {
        let guard = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ticks = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|stop| *stop) => return,
                }
                if let Err(error) = guard.reload().await {
                    tracing::warn!(%error, "access rules not reloaded; the last ones still apply");
                }
                // Expired sessions and tokens go about once an hour.
                ticks += 1;
                if ticks % PRUNE_EVERY_TICKS == 1 {
                    match guard.accounts.prune_tokens(crate::now()).await {
                        Ok(0) => {}
                        Ok(pruned) => tracing::info!(pruned, "expired tokens removed"),
                        Err(error) => tracing::warn!(%error, "expired tokens not removed"),
                    }
                }
            }
        });
    }

    /// Checks a user name and password (or a token given as the password).
    pub async fn login(
        &self,
        name: &str,
        password: &str,
        from: IpAddr,
    ) -> Result<Login, LoginError> {
        if password.starts_with(TOKEN_PREFIX) {
            return match self.token(password, &[TokenKind::Api]).await? {
                Some(login) if login.user.as_str() == name.to_lowercase() => Ok(login),
                _ => Err(LoginError::Refused),
            };
        }
        self.logins.check_throttle(name, from)?;
        let key = remember_key(name, password);
        if let Some(login) = self.remembered_login(&key) {
            return Ok(login);
        }
        let check =
            self.checking.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default().clone();
        let _turn = check.lock().await;
        // Another login with the same credentials may have been checked while this one waited.
        if let Some(login) = self.remembered_login(&key) {
            return Ok(login);
        }
        let checked = self.check_password(key, name, password, from).await;
        self.checking.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        checked
    }

    /// A successful login with these credentials from the last minute, while the user's stored
    /// hash is the one it matched.
    fn remembered_login(&self, key: &[u8; 32]) -> Option<Login> {
        let entry = self.remembered.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()?;
        (entry.at.elapsed() < REMEMBER
            && entry.hash.is_some()
            && self.stored_hash(&entry.login.user) == entry.hash)
            .then_some(entry.login)
    }

    /// Checks the password against the store and remembers a success under `key`.
    async fn check_password(
        &self,
        key: [u8; 32],
        name: &str,
        password: &str,
        from: IpAddr,
    ) -> Result<Login, LoginError> {
        self.checks.fetch_add(1, Ordering::Relaxed);
        let login = self.logins.login(name, password, from).await?;
        if self.book().viewer(&login.user, None).is_none() {
            // A user made a moment ago elsewhere (the CLI, another worker): the rules learn of
            // them now, or their first points would be refused until the next reload.
            self.reload().await?;
        }
        let entry = Remembered {
            login: login.clone(),
            hash: self.stored_hash(&login.user),
            at: Instant::now(),
        };
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        if remembered.len() >= REMEMBER_MOST {
            remembered.retain(|_, entry| entry.at.elapsed() < REMEMBER);
        }
        remembered.insert(key, entry);
        Ok(login)
    }

    /// How many password checks this guard ran (remembered and coalesced logins not counted).
    pub fn password_checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// The user a token belongs to, if it is one of `kinds`, not expired, and its user exists.
    pub async fn token(&self, raw: &str, kinds: &[TokenKind]) -> Result<Option<Login>, StoreError> {
        let Some(token) = self.accounts.token(&digest(raw)).await? else { return Ok(None) };
        if !kinds.contains(&token.kind) || token.expires_at.is_some_and(|at| at <= crate::now()) {
            return Ok(None);
        }
        let known = self.book().viewer(&token.user, None).map(|viewer| viewer.superuser());
        let superuser = match known {
            Some(superuser) => superuser,
            // The user may have been made by another process since the last reload.
            None => match self.accounts.user(&token.user).await? {
                Some(account) => {
                    self.reload().await?;
                    account.superuser
                }
                None => return Ok(None),
            },
        };
        Ok(Some(Login { user: token.user, superuser }))
    }

    /// Makes and stores a token for `user`; returns it (shown once, never stored) with its
    /// stored record.
    pub async fn new_token(
        &self,
        user: &UserName,
        kind: TokenKind,
        label: &str,
        lifetime: Option<Duration>,
    ) -> Result<(String, Token), NewTokenError> {
        let (raw, mut token) = make_token(user, kind, label, lifetime, crate::now())?;
        token.id = self.accounts.add_token(&token).await?;
        Ok((raw, token))
    }
}

/// A new token for `user` made at `now`, and the record to store (its digest, not the token).
pub fn make_token(
    user: &UserName,
    kind: TokenKind,
    label: &str,
    lifetime: Option<Duration>,
    now: i64,
) -> Result<(String, Token), NewTokenError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| NewTokenError::Random(e.to_string()))?;
    let raw = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let seconds = lifetime.map(|l| i64::try_from(l.as_secs()).unwrap_or(i64::MAX / 2));
    let token = Token {
        id: 0,
        user: user.clone(),
        kind,
        label: label.to_owned(),
        digest: digest(&raw),
        created_at: now,
        expires_at: seconds.map(|s| now.saturating_add(s)),
    };
    token.check()?;
    Ok((raw, token))
}

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NewTokenError {
    #[error("no random bytes for a token: {0}")]
    Random(String),
    #[error(transparent)]
    Invalid(#[from] pista_store::AccountError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// SHA-256 of a token, lower-case hex, as the store keeps it.
pub fn digest(raw: &str) -> String {
    Sha256::digest(raw.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn remember_key(name: &str, password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(name.to_lowercase().as_bytes());
    hasher.update([0]);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

/// The rules, and each user's stored password hash.
async fn read_book(
    accounts: &dyn AccountStore,
) -> Result<(RuleBook, HashMap<UserName, String>), StoreError> {
    let mut book = RuleBook::new();
    let mut hashes = HashMap::new();
    for account in accounts.accounts().await? {
        hashes.insert(account.name.clone(), account.password.as_str().to_owned());
        book.add_user(account.name, account.superuser);
    }
    for acl in accounts.acls(None).await? {
        let rule = AclRule { filter: acl.topic, write: acl.access == Access::ReadWrite };
        book.add_acl(&acl.user, rule);
    }
    for (group, user) in accounts.members().await? {
        book.add_member(group, &user);
    }
    for share in accounts.shares(None).await? {
        book.add_share(share);
    }
    Ok((book, hashes))
}

/// The user name Pista's own clients (outputs, commands, the monitor) use at the embedded
/// broker. `#` is never part of a user name, so no account can take it.
pub const INTERNAL_USER: &str = "#pista";

/// The embedded broker's gatekeeper: accounts log in with their password (or an API token), as
/// throttled as on HTTP; Pista's own clients with a random secret made at start. Topics follow
/// the one rule set, with the client id standing for `%c`.
pub struct BrokerAccess {
    guard: Arc<Guard>,
    internal: String,
    /// Which user each client id was last used by: another user may not take it over (that
    /// would end the first one's connection and throw away its queued messages).
    owners: Mutex<HashMap<String, String>>,
}

impl BrokerAccess {
    /// A gatekeeper with a new secret for Pista's own clients.
    pub fn new(guard: Arc<Guard>) -> Result<Self, NewTokenError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| NewTokenError::Random(e.to_string()))?;
        Ok(Self { guard, internal: URL_SAFE_NO_PAD.encode(bytes), owners: Mutex::default() })
    }

    /// The password of [`INTERNAL_USER`].
    pub fn internal_password(&self) -> &str {
        &self.internal
    }

    fn internal(client: Client<'_>) -> bool {
        client.username == Some(INTERNAL_USER)
    }

    fn allowed(&self, client: Client<'_>, rule: impl FnOnce(&Viewer<'_>) -> bool) -> bool {
        if Self::internal(client) {
            return true;
        }
        let Some(user) = client.username.and_then(|name| UserName::parse(name).ok()) else {
            return false;
        };
        let book = self.guard.book();
        book.viewer(&user, Some(client.client_id)).is_some_and(|viewer| rule(&viewer))
    }
}

#[async_trait::async_trait]
impl Gatekeeper for BrokerAccess {
    async fn connect(
        &self,
        client: Client<'_>,
        password: Option<&[u8]>,
        from: Option<SocketAddr>,
    ) -> bool {
        let (Some(name), Some(password)) = (client.username, password) else {
            let missing = if client.username.is_none() { "user name" } else { "password" };
            tracing::info!(client = client.client_id, missing, "mqtt connect refused");
            return false;
        };
        let Ok(password) = std::str::from_utf8(password) else { return false };
        if name == INTERNAL_USER {
            let same = password.len() == self.internal.len()
                && password.bytes().zip(self.internal.bytes()).fold(0, |d, (a, b)| d | (a ^ b))
                    == 0;
            return same;
        }
        let from = from.map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
        match self.guard.login(name, password, from).await {
            Ok(login) => {
                let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
                let owner = owners
                    .entry(client.client_id.to_owned())
                    .or_insert_with(|| login.user.to_string());
                if *owner != login.user.as_str() {
                    tracing::warn!(
                        client = client.client_id,
                        user = %login.user,
                        owner = %owner,
                        "mqtt connect refused: the client id is another user's"
                    );
                    return false;
                }
                true
            }
            Err(error) => {
                tracing::info!(client = client.client_id, user = name, %error, "mqtt login refused");
                false
            }
        }
    }

    fn may_publish(&self, client: Client<'_>, topic: &str) -> bool {
        self.allowed(client, |viewer| viewer.writes_topic(topic))
    }

    fn may_subscribe(&self, client: Client<'_>, _filter: &str) -> bool {
        // Any filter: what it brings is checked message by message on delivery.
        self.allowed(client, |_| true)
    }

    fn may_receive(&self, client: Client<'_>, topic: &str) -> bool {
        self.allowed(client, |viewer| viewer.reads_topic(topic, crate::now()))
    }
}

#[cfg(test)]
mod tests {
    use pista_core::access::{Grantee, Share};
    use pista_core::{DeviceKey, GroupName};
    use pista_store::{Account, Acl, PasswordHash, SqlStore};

    use super::*;

    async fn guard() -> (Arc<Guard>, Arc<SqlStore>) {
        let store = Arc::new(SqlStore::open("sqlite::memory:").await.unwrap());
        for (name, superuser) in [("jane", false), ("bob", false), ("root", true)] {
            let account = Account {
                name: UserName::parse(name).unwrap(),
                password: PasswordHash::new(&format!("{name}-pw")).unwrap(),
                superuser,
                created_at: 0,
            };
            store.add_user(&account).await.unwrap();
        }
        (Guard::load(store.clone(), LoginLimits::default()).await.unwrap(), store)
    }

    fn user(name: &str) -> UserName {
        UserName::parse(name).unwrap()
    }

    #[tokio::test]
    async fn the_book_follows_the_store_after_a_reload() {
        let (guard, store) = guard().await;
        let phone = DeviceKey::parse("jane", "phone").unwrap();
        let bob = user("bob");
        assert!(!guard.book().viewer(&bob, None).unwrap().reads_device(&phone, 10));
        let family = GroupName::parse("family").unwrap();
        store.add_member(&family, &bob).await.unwrap();
        let share = Share {
            id: 0,
            owner: user("jane"),
            device: None,
            to: Grantee::Group(family),
            until: Some(100),
            created_at: 0,
        };
        store.add_share(&share).await.unwrap();
        store.add_acl(&Acl::new(bob.clone(), "fleet/#", Access::ReadWrite).unwrap()).await.unwrap();
        guard.reload().await.unwrap();
        let book = guard.book();
        let viewer = book.viewer(&bob, None).unwrap();
        assert!(viewer.reads_device(&phone, 99));
        assert!(!viewer.reads_device(&phone, 100));
        assert!(viewer.writes_topic("fleet/x"));
    }

    #[tokio::test]
    async fn tokens_log_in_until_revoked_or_expired_and_only_their_kinds() {
        let (guard, store) = guard().await;
        let (raw, token) =
            guard.new_token(&user("jane"), TokenKind::Api, "script", None).await.unwrap();
        assert!(raw.starts_with("pista_") && raw.len() == 49, "{raw}");
        let jane = Login { user: user("jane"), superuser: false };
        assert_eq!(guard.token(&raw, &[TokenKind::Api]).await.unwrap(), Some(jane.clone()));
        assert_eq!(guard.token(&raw, &[TokenKind::Session]).await.unwrap(), None);
        // As a Basic password, for the token's own user only.
        let from = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(guard.login("Jane", &raw, from).await.unwrap(), jane);
        assert!(matches!(guard.login("bob", &raw, from).await, Err(LoginError::Refused)));
        assert!(store.remove_token(token.id).await.unwrap());
        assert_eq!(guard.token(&raw, &[TokenKind::Api]).await.unwrap(), None);
        let (expired, _) = guard
            .new_token(&user("bob"), TokenKind::Session, "", Some(Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(guard.token(&expired, &[TokenKind::Session]).await.unwrap(), None);
        assert_eq!(guard.token("pista_nothing", &[TokenKind::Api]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_user_made_after_the_last_reload_is_known_at_their_first_login() {
        let (guard, store) = guard().await;
        let account = Account {
            name: user("new"),
            password: PasswordHash::new("new-pw").unwrap(),
            superuser: false,
            created_at: 0,
        };
        store.add_user(&account).await.unwrap();
        assert!(guard.book().viewer(&user("new"), None).is_none());
        guard.login("new", "new-pw", IpAddr::from([127, 0, 0, 1])).await.unwrap();
        let book = guard.book();
        assert!(book.viewer(&user("new"), None).unwrap().writes_topic("owntracks/new/phone"));
    }

    #[tokio::test]
    async fn a_remembered_login_is_forgotten_when_the_rules_reload() {
        let (guard, store) = guard().await;
        let from = IpAddr::from([127, 0, 0, 1]);
        assert!(guard.login("bob", "bob-pw", from).await.is_ok());
        store.set_password(&user("bob"), &PasswordHash::new("changed").unwrap()).await.unwrap();
        assert!(guard.login("bob", "bob-pw", from).await.is_ok(), "remembered for a minute");
        guard.reload().await.unwrap();
        assert!(matches!(guard.login("bob", "bob-pw", from).await, Err(LoginError::Refused)));
        assert!(guard.login("bob", "changed", from).await.is_ok());
    }

    #[tokio::test]
    async fn logins_with_the_same_credentials_at_once_share_one_password_check() {
        let (guard, _store) = guard().await;
        let from = IpAddr::from([127, 0, 0, 1]);
        let at_once = |name: &'static str, password: &'static str, n: usize| {
            let mut logins = tokio::task::JoinSet::new();
            for _ in 0..n {
                let guard = guard.clone();
                logins.spawn(async move { guard.login(name, password, from).await });
            }
            logins.join_all()
        };
        let results = at_once("bob", "bob-pw", 20).await;
        let bob = Login { user: user("bob"), superuser: false };
        assert!(results.iter().all(|r| r.as_ref().ok() == Some(&bob)), "{results:?}");
        assert_eq!(guard.password_checks(), 1);
        // Other credentials are checked on their own, and a wrong password each time.
        let results = at_once("jane", "wrong", 3).await;
        assert!(results.iter().all(|r| matches!(r, Err(LoginError::Refused))), "{results:?}");
        assert_eq!(guard.password_checks(), 4);
    }
}
