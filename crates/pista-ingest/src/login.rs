//! Logins: the one password check behind every door that takes a user name and password (HTTP
//! Basic, the browser's login form, ctrld, the embedded broker's CONNECT). Hashes are checked on
//! a blocking thread (Argon2id is made to be slow); an unknown user costs the same check, so the
//! answer's time does not tell whether a user exists, and both get the same refusal. A password
//! stored in an old form (the original back end's PBKDF2 string, or plain text) is replaced by
//! an Argon2id hash at its first successful login.
//!
//! Failed attempts are throttled three ways, each over the last [`LoginLimits::window`]: one
//! user from one address, one address for any user (someone trying many names), and one user
//! from anywhere (many addresses trying one name, with a higher bound so that they cannot lock
//! the user out easily). A throttled attempt is refused before its password is checked, and
//! says when to try again. No password or hash is ever logged or put in an error.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use pista_core::UserName;
use pista_core::password::{self, Verified};
use pista_store::{AccountStore, PasswordHash, StoreError};

/// How many failed logins are allowed before the next attempt waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures of one user from one address.
    pub per_user_and_address: usize,
    /// Failures from one address, whatever the user.
    pub per_address: usize,
    /// Failures of one user, from any address.
    pub per_user: usize,
    /// How long a failure counts.
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self { per_user_and_address: 5, per_address: 20, per_user: 100, window: WINDOW }
    }
}

const WINDOW: Duration = Duration::from_secs(60);

/// A successful login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: UserName,
    pub superuser: bool,
}

/// Why a login did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password, or a stored value that cannot be read: the same answer.
    #[error("the user name or password is wrong")]
    Refused,
    #[error("too many failed logins; try again in {retry_after} s")]
    Throttled { retry_after: u64 },
    #[error("the accounts cannot be read")]
    Store(#[from] StoreError),
}

/// What is throttled: a user from an address, an address, or a user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    UserAt(String, IpAddr),
    Address(IpAddr),
    User(String),
}

/// Checks logins against the accounts and keeps the recent failures.
pub struct Logins {
    accounts: Arc<dyn AccountStore>,
    limits: LoginLimits,
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
    /// The time (a test's own clock in tests).
    clock: Clock,
}

type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The hash an unknown user's password is checked against, so that it takes as long.
static DECOY: LazyLock<Option<String>> =
    LazyLock::new(|| password::hash("no such user has this password").ok());

impl Logins {
    pub fn new(accounts: Arc<dyn AccountStore>, limits: LoginLimits) -> Self {
        Self { accounts, limits, failures: Mutex::default(), clock: Arc::new(Instant::now) }
    }

    /// Checks `password` for the user named `name`, asked from `from`.
    pub async fn login(
        &self,
        name: &str,
        password: &str,
        from: IpAddr,
    ) -> Result<Login, LoginError> {
        let keys = self.keys(name, from);
        if let Some(retry_after) = self.throttled(&keys) {
            tracing::info!(user = name, %from, retry_after, "login throttled");
            return Err(LoginError::Throttled { retry_after });
        }
        let account = match UserName::parse(name) {
            Ok(user) => self.accounts.user(&user).await?,
            Err(_) => None,
        };
        let stored = account.as_ref().map(|a| a.password.as_str().to_owned());
        let checked = check(stored.or_else(|| DECOY.clone()), password.to_owned()).await;
        let account = match (account, checked) {
            (Some(account), Ok(Verified::Yes { rehash })) => {
                if rehash {
                    self.rehash(&account.name, password).await;
                }
                account
            }
            (account, checked) => {
                if let Err(error) = checked {
                    tracing::error!(user = name, %error, "stored password unreadable");
                }
                let known = account.is_some();
                tracing::info!(user = name, %from, known, "login refused");
                self.failed(&keys);
                return Err(LoginError::Refused);
            }
        };
        self.forget(&keys[0].0);
        tracing::debug!(user = %account.name, %from, "login");
        Ok(Login { user: account.name, superuser: account.superuser })
    }

    /// Refuses at once when `name` from `from` is throttled (also used before a remembered
    /// login is taken, so that a guess is never answered sooner than by the check).
    pub fn check_throttle(&self, name: &str, from: IpAddr) -> Result<(), LoginError> {
        match self.throttled(&self.keys(name, from)) {
            Some(retry_after) => Err(LoginError::Throttled { retry_after }),
            None => Ok(()),
        }
    }

    /// The throttling keys of an attempt with their limits. The name as typed decides them, so
    /// an unknown or invalid name is throttled like any other.
    fn keys(&self, name: &str, from: IpAddr) -> [(Key, usize); 3] {
        let folded = name.to_lowercase();
        [
            (Key::UserAt(folded.clone(), from), self.limits.per_user_and_address),
            (Key::Address(from), self.limits.per_address),
            (Key::User(folded), self.limits.per_user),
        ]
    }

    /// Seconds until the first key over its limit lets an attempt through again.
    fn throttled(&self, keys: &[(Key, usize)]) -> Option<u64> {
        let now = (self.clock)();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|(key, limit)| {
                let times = failures.get_mut(key)?;
                while times.front().is_some_and(|at| now.duration_since(*at) >= self.limits.window)
                {
                    times.pop_front();
                }
                let oldest = *times.front()?;
                (times.len() >= *limit).then(|| {
                    let wait = self.limits.window.saturating_sub(now.duration_since(oldest));
                    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
                })
            })
            .max()
    }

    fn failed(&self, keys: &[(Key, usize)]) {
        let now = (self.clock)();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Keys that no longer count go, so the map holds only recent failures.
        failures.retain(|_, times| {
            times.back().is_some_and(|at| now.duration_since(*at) < self.limits.window)
        });
        for (key, _) in keys {
            failures.entry(key.clone()).or_default().push_back(now);
        }
    }

    /// A success from an address clears that user's failures from it.
    fn forget(&self, key: &Key) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }

    /// Replaces an old-form password by an Argon2id hash; a failure only costs the upgrade.
    async fn rehash(&self, user: &UserName, password: &str) {
        let password = password.to_owned();
        let hashed = tokio::task::spawn_blocking(move || password::hash(&password)).await;
        let hash = match hashed {
            Ok(Ok(hash)) => PasswordHash::new(&hash).ok(),
            _ => None,
        };
        let Some(hash) = hash else {
            tracing::warn!(%user, "password not rehashed: hashing failed");
            return;
        };
        match self.accounts.set_password(user, &hash).await {
            Ok(_) => tracing::info!(%user, "old password form replaced by an argon2id hash"),
            Err(error) => tracing::warn!(%user, %error, "password not rehashed"),
        }
    }
}

/// Verifies on a blocking thread; no stored value (no decoy either) verifies nothing.
async fn check(
    stored: Option<String>,
    password: String,
) -> Result<Verified, password::PasswordError> {
    let Some(stored) = stored else { return Ok(Verified::No) };
    tokio::task::spawn_blocking(move || password::verify(&stored, &password))
        .await
        .unwrap_or(Ok(Verified::No))
}

#[cfg(test)]
mod tests {
    use pista_store::{Account, SqlStore};

    use super::*;

    const ORIGINAL: &str = "PBKDF2$sha256$10000$c2FsdHNhbHRzYWx0$nOH9hDiBEAIOcpfyWKR8cpV1WbvXvMJ0";

    async fn logins(limits: LoginLimits) -> (Logins, Arc<SqlStore>) {
        let store = Arc::new(SqlStore::open("sqlite::memory:").await.unwrap());
        for (name, stored, superuser) in
            [("jane", ORIGINAL, true), ("bob", &password::hash("bob's pw").unwrap()[..], false)]
        {
            let account = Account {
                name: UserName::parse(name).unwrap(),
                password: PasswordHash::new(stored).unwrap(),
                superuser,
                created_at: 1_700_000_000,
            };
            store.add_user(&account).await.unwrap();
        }
        (Logins::new(store.clone(), limits), store)
    }

    fn address(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[tokio::test]
    async fn the_originals_hash_logs_in_once_and_is_replaced_by_argon2id() {
        let (logins, store) = logins(LoginLimits::default()).await;
        let login = logins.login("Jane", "secret", address(1)).await.unwrap();
        assert_eq!(login, Login { user: UserName::parse("jane").unwrap(), superuser: true });
        let stored = store.user(&login.user).await.unwrap().unwrap().password;
        assert!(stored.as_str().starts_with("$argon2id$"), "rehashed");
        assert!(logins.login("jane", "secret", address(1)).await.is_ok(), "the new hash works");
        let bob = logins.login("bob", "bob's pw", address(1)).await.unwrap();
        assert!(!bob.superuser);
    }

    #[tokio::test]
    async fn wrong_passwords_and_unknown_users_get_the_same_answer() {
        let (logins, _) = logins(LoginLimits::default()).await;
        for (name, password) in [("jane", "Secret"), ("nobody", "secret"), ("a/b", "x"), ("", "")] {
            let error = logins.login(name, password, address(2)).await.unwrap_err();
            assert_eq!(error.to_string(), "the user name or password is wrong", "{name}");
        }
    }

    #[tokio::test]
    async fn failures_are_throttled_per_user_and_address_then_per_address_then_per_user() {
        let limits = LoginLimits {
            per_user_and_address: 3,
            per_address: 5,
            per_user: 7,
            ..LoginLimits::default()
        };
        let (mut logins, _) = logins(limits).await;
        // A clock of the test's own, moved on by `advance`.
        let start = Instant::now();
        let seconds = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let clock = seconds.clone();
        logins.clock = Arc::new(move || {
            start + Duration::from_secs(clock.load(std::sync::atomic::Ordering::SeqCst))
        });
        let advance = |by: u64| {
            seconds.fetch_add(by, std::sync::atomic::Ordering::SeqCst);
        };
        let refused = |r: Result<Login, LoginError>| match r {
            Err(LoginError::Refused) => "refused".to_owned(),
            Err(LoginError::Throttled { retry_after }) => format!("wait {retry_after}"),
            other => format!("{other:?}"),
        };
        // One user from one address: three failures, then the right password waits too.
        for _ in 0..3 {
            assert_eq!(refused(logins.login("bob", "guess", address(3)).await), "refused");
        }
        advance(20);
        assert_eq!(refused(logins.login("bob", "bob's pw", address(3)).await), "wait 40");
        // Another address is not held up by that, and its success leaves the other's count.
        assert!(logins.login("bob", "bob's pw", address(4)).await.is_ok());
        // One address trying names: two more failures reach its limit of five.
        assert_eq!(refused(logins.login("carl", "x", address(3)).await), "refused");
        assert_eq!(refused(logins.login("dora", "x", address(3)).await), "refused");
        assert_eq!(refused(logins.login("jane", "secret", address(3)).await), "wait 40");
        // A minute after the first failures they no longer count.
        advance(41);
        assert!(logins.login("bob", "bob's pw", address(3)).await.is_ok());
        // One user from many addresses: seven failures, then every address waits.
        for last in 10..17 {
            assert_eq!(refused(logins.login("jane", "no", address(last)).await), "refused");
        }
        assert_eq!(refused(logins.login("jane", "secret", address(30)).await), "wait 60");
    }
}
