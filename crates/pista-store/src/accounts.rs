//! Accounts: the [`AccountStore`] trait (users with their password hashes and superuser flag,
//! each user's ACL entries, groups, shares, and API tokens and browser sessions), its records,
//! and its implementation for [`SqlStore`]. A trait of its own beside [`crate::Storage`],
//! because only the CLI, the import, logins and the access rules use it. Hashes are stored and
//! returned as given; this module never looks inside them. Tokens are stored only as digests.

use std::fmt;

use async_trait::async_trait;
use pista_core::access::{Grantee, Share};
use pista_core::{DeviceName, GroupName, UserName};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, QueryResult};

use crate::error::StoreError;
use crate::read::{get, name, parse};
use crate::schema::{DIGEST_LEN, HASH_LEN, TOPIC_LEN};
use crate::sql::SqlStore;

/// What an ACL topic outside the column's size is told (the size is the schema's).
const TOPIC_SIZE: &str = "is empty or longer than 255 bytes";
const _: () = assert!(TOPIC_LEN == 255, "TOPIC_SIZE names the column's size");

/// A stored password: a `PBKDF2$<hash>$<iterations>$<salt>$<key>` string or a plain-text
/// password, exactly as it was given. Its `Debug` form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Takes a hash (or plain-text password) as it is; refuses an empty one or one longer than
    /// the column holds.
    pub fn new(text: &str) -> Result<Self, AccountError> {
        if text.is_empty() {
            return Err(AccountError::EmptyPassword);
        }
        if text.len() > HASH_LEN as usize {
            return Err(AccountError::PasswordTooLong { len: text.len() });
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is a PBKDF2 string rather than a plain-text password.
    pub fn is_pbkdf2(&self) -> bool {
        self.0.starts_with("PBKDF2$")
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = if self.is_pbkdf2() { "PBKDF2" } else { "plain" };
        write!(f, "PasswordHash({form}, ***)")
    }
}

/// What an ACL entry allows on its topic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Read,
    ReadWrite,
}

impl Access {
    /// The number stored, as mosquitto-auth-plug and the original back end wrote it.
    pub fn code(self) -> i16 {
        match self {
            Self::Read => 1,
            Self::ReadWrite => 2,
        }
    }

    /// Reads the original's `rw` value: 1 read, 2 read and write; 3 (read and write as a bit
    /// mask, as auth-plug also reads it) counts as read and write.
    pub fn from_code(code: i64) -> Result<Self, AccountError> {
        match code {
            1 => Ok(Self::Read),
            2 | 3 => Ok(Self::ReadWrite),
            other => Err(AccountError::Access { code: other }),
        }
    }
}

/// Why an account value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("the password hash is empty")]
    EmptyPassword,
    #[error("the password hash is {len} bytes long, more than {HASH_LEN}")]
    PasswordTooLong { len: usize },
    #[error("acl rw {code} is neither 1 (read) nor 2 (read and write)")]
    Access { code: i64 },
    #[error("acl topic {topic:?} {problem}")]
    Topic { topic: String, problem: &'static str },
    #[error("a token digest must be {DIGEST_LEN} hex digits, not {len} characters")]
    Digest { len: usize },
    #[error("token label {label:?} is longer than 100 bytes")]
    Label { label: String },
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Made by a user for scripts and apps; lives until revoked or its expiry.
    Api,
    /// A browser's login; ends at its expiry or logout.
    Session,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Session => "session",
        }
    }
}

/// A token as stored: its SHA-256 digest, never the token. `Debug` leaves the digest out.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The store's id (0 before it is stored).
    pub id: i64,
    pub user: UserName,
    pub kind: TokenKind,
    /// The user's name for it ("phone script"); empty for sessions.
    pub label: String,
    /// SHA-256 of the token, lower-case hex.
    pub digest: String,
    pub created_at: i64,
    /// The token stops working at this time (UNIX seconds); `None` never.
    pub expires_at: Option<i64>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("kind", &self.kind)
            .field("label", &self.label)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Checks the digest's form and the label's size.
    pub fn check(&self) -> Result<(), AccountError> {
        if self.digest.len() != DIGEST_LEN as usize
            || !self.digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(AccountError::Digest { len: self.digest.len() });
        }
        if self.label.len() > 100 {
            return Err(AccountError::Label { label: self.label.clone() });
        }
        Ok(())
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: UserName,
    pub password: PasswordHash,
    /// Sees every device.
    pub superuser: bool,
    /// When the account was made (UNIX seconds).
    pub created_at: i64,
}

/// One ACL entry: `user` may use topics matching `topic` as `access` says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Acl {
    pub user: UserName,
    /// An MQTT topic filter, possibly with `%u` (the user) and `%c` (the client id).
    pub topic: String,
    pub access: Access,
}

impl Acl {
    /// An entry with a checked topic filter.
    pub fn new(user: UserName, topic: &str, access: Access) -> Result<Self, AccountError> {
        let problem = if topic.is_empty() || topic.len() > TOPIC_LEN as usize {
            Some(TOPIC_SIZE)
        } else {
            pista_core::filter_problem(topic)
        };
        if let Some(problem) = problem {
            return Err(AccountError::Topic { topic: topic.to_owned(), problem });
        }
        Ok(Self { user, topic: topic.to_owned(), access })
    }
}

/// Users and their ACLs.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Adds `account` unless a user of that name exists; returns whether it was added (an
    /// existing user is left as it is).
    async fn add_user(&self, account: &Account) -> Result<bool, StoreError>;

    /// One user, if there is one of that name.
    async fn user(&self, name: &UserName) -> Result<Option<Account>, StoreError>;

    /// Every user, sorted by name.
    async fn accounts(&self) -> Result<Vec<Account>, StoreError>;

    /// Replaces a user's password hash; returns whether the user exists.
    async fn set_password(
        &self,
        name: &UserName,
        password: &PasswordHash,
    ) -> Result<bool, StoreError>;

    /// Removes a user with the user's ACL entries, group memberships, tokens, and shares made
    /// by or to the user; returns whether the user existed.
    async fn remove_user(&self, name: &UserName) -> Result<bool, StoreError>;

    /// Adds an ACL entry unless the user has one for that topic filter; returns whether it was
    /// added (an existing entry keeps its access).
    async fn add_acl(&self, acl: &Acl) -> Result<bool, StoreError>;

    /// ACL entries, of one user or everyone, sorted by user and topic.
    async fn acls(&self, user: Option<&UserName>) -> Result<Vec<Acl>, StoreError>;

    /// Removes one ACL entry; returns whether it existed.
    async fn remove_acl(&self, user: &UserName, topic: &str) -> Result<bool, StoreError>;

    /// Makes a user the superuser or not; returns whether the user exists.
    async fn set_superuser(&self, name: &UserName, superuser: bool) -> Result<bool, StoreError>;

    /// Puts `user` into `group`; returns whether it was not in it before.
    async fn add_member(&self, group: &GroupName, user: &UserName) -> Result<bool, StoreError>;

    /// Takes `user` out of `group`, or everyone when `user` is `None`; returns how many left.
    async fn remove_members(
        &self,
        group: &GroupName,
        user: Option<&UserName>,
    ) -> Result<u64, StoreError>;

    /// Every group membership, sorted by group and user.
    async fn members(&self) -> Result<Vec<(GroupName, UserName)>, StoreError>;

    /// Stores a share and returns its id.
    async fn add_share(&self, share: &Share) -> Result<i64, StoreError>;

    /// Shares, of one owner or everyone's, oldest first.
    async fn shares(&self, owner: Option<&UserName>) -> Result<Vec<Share>, StoreError>;

    /// Removes one share; returns whether it existed.
    async fn remove_share(&self, id: i64) -> Result<bool, StoreError>;

    /// Stores a token and returns its id.
    async fn add_token(&self, token: &Token) -> Result<i64, StoreError>;

    /// The token with this digest, if there is one (expired or not).
    async fn token(&self, digest: &str) -> Result<Option<Token>, StoreError>;

    /// One user's tokens of a kind, oldest first.
    async fn tokens(&self, user: &UserName, kind: TokenKind) -> Result<Vec<Token>, StoreError>;

    /// Removes one token; returns whether it existed.
    async fn remove_token(&self, id: i64) -> Result<bool, StoreError>;

    /// Removes every token that expired before `now`; returns how many.
    async fn prune_tokens(&self, now: i64) -> Result<u64, StoreError>;

    /// Ends `user`'s browser sessions, all but the one whose digest is `keep` (the session that
    /// changed the password); returns how many ended. API tokens stay: they are credentials of
    /// their own, listed and revoked by name.
    async fn end_sessions(&self, user: &UserName, keep: Option<&str>) -> Result<u64, StoreError> {
        let mut ended = 0;
        for token in self.tokens(user, TokenKind::Session).await? {
            if Some(token.digest.as_str()) != keep && self.remove_token(token.id).await? {
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// What ctrld tells OwnTracksCTRL, for everyone (`user` `None`) and per user.
    async fn ctrl_settings(&self) -> Result<Vec<CtrlSettings>, StoreError>;

    /// Replaces the ctrld settings of `settings.user` (or everyone's).
    async fn set_ctrl_settings(&self, settings: &CtrlSettings) -> Result<(), StoreError>;

    /// Removes a user's (or everyone's) ctrld settings; returns whether there were any.
    async fn remove_ctrl_settings(&self, user: Option<&UserName>) -> Result<bool, StoreError>;
}

/// What ctrld answers OwnTracksCTRL, for everyone or one user; each value unset falls back to
/// everyone's, then to what the server knows of itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CtrlSettings {
    /// `None` for everyone.
    pub user: Option<UserName>,
    /// The MQTT broker's host name as the phones reach it.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<bool>,
    /// Whether the app sends the user name and password to the broker.
    pub auth: Option<bool>,
    /// Where the app offers to fetch the CA certificate.
    pub certurl: Option<String>,
    /// Where the app asks for tracks; `%u` stands for the user.
    pub trackurl: Option<String>,
}

const USER_COLUMNS: [&str; 4] = ["name", "password_hash", "superuser", "created_at"];

#[async_trait]
impl AccountStore for SqlStore {
    async fn add_user(&self, account: &Account) -> Result<bool, StoreError> {
        let insert = Query::insert()
            .into_table("users")
            .columns(USER_COLUMNS)
            .values_panic([
                Expr::val(account.name.as_str().to_owned()),
                Expr::val(account.password.as_str().to_owned()),
                Expr::val(i16::from(account.superuser)),
                Expr::val(account.created_at),
            ])
            .to_owned();
        let _write = self.writes.lock().await;
        let id = crate::dialect::insert_new(&self.db, insert, &["name"])
            .await
            .map_err(StoreError::query("add user"))?;
        Ok(id.is_some())
    }

    async fn user(&self, name: &UserName) -> Result<Option<Account>, StoreError> {
        let select = users().and_where(Expr::col("name").eq(name.as_str())).to_owned();
        let row = self.db.query_one(&select).await.map_err(StoreError::query("read user"))?;
        row.as_ref().map(account).transpose()
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows = self.db.query_all(&users()).await.map_err(StoreError::query("read users"))?;
        rows.iter().map(account).collect()
    }

    async fn set_password(
        &self,
        name: &UserName,
        password: &PasswordHash,
    ) -> Result<bool, StoreError> {
        let update = Query::update()
            .table("users")
            .value("password_hash", password.as_str())
            .and_where(Expr::col("name").eq(name.as_str()))
            .to_owned();
        let _write = self.writes.lock().await;
        let result = self.db.execute(&update).await.map_err(StoreError::query("set password"))?;
        Ok(result.rows_affected() > 0)
    }

    async fn remove_user(&self, name: &UserName) -> Result<bool, StoreError> {
        let _write = self.writes.lock().await;
        let txn = self.begin_write().await?;
        let acls = Query::delete()
            .from_table("acls")
            .and_where(Expr::col("user_name").eq(name.as_str()))
            .to_owned();
        txn.execute(&acls).await.map_err(StoreError::query("remove acls"))?;
        for (table, column) in [
            ("group_members", "user_name"),
            ("shares", "owner"),
            ("shares", "to_user"),
            ("tokens", "user_name"),
        ] {
            let delete = Query::delete()
                .from_table(table)
                .and_where(Expr::col(column).eq(name.as_str()))
                .to_owned();
            txn.execute(&delete).await.map_err(StoreError::query("remove user's entries"))?;
        }
        let user = Query::delete()
            .from_table("users")
            .and_where(Expr::col("name").eq(name.as_str()))
            .to_owned();
        let result = txn.execute(&user).await.map_err(StoreError::query("remove user"))?;
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(result.rows_affected() > 0)
    }

    async fn add_acl(&self, acl: &Acl) -> Result<bool, StoreError> {
        let insert = Query::insert()
            .into_table("acls")
            .columns(["user_name", "topic", "rw"])
            .values_panic([
                Expr::val(acl.user.as_str().to_owned()),
                Expr::val(acl.topic.clone()),
                Expr::val(acl.access.code()),
            ])
            .to_owned();
        let _write = self.writes.lock().await;
        let id = crate::dialect::insert_new(&self.db, insert, &["user_name", "topic"])
            .await
            .map_err(StoreError::query("add acl"))?;
        Ok(id.is_some())
    }

    async fn acls(&self, user: Option<&UserName>) -> Result<Vec<Acl>, StoreError> {
        let mut select = Query::select()
            .columns(["user_name", "topic", "rw"])
            .from("acls")
            .order_by("user_name", Order::Asc)
            .order_by("topic", Order::Asc)
            .to_owned();
        if let Some(user) = user {
            select.and_where(Expr::col("user_name").eq(user.as_str()));
        }
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read acls"))?;
        rows.iter().map(acl).collect()
    }

    async fn remove_acl(&self, user: &UserName, topic: &str) -> Result<bool, StoreError> {
        let delete = Query::delete()
            .from_table("acls")
            .and_where(Expr::col("user_name").eq(user.as_str()))
            .and_where(Expr::col("topic").eq(topic))
            .to_owned();
        let _write = self.writes.lock().await;
        let result = self.db.execute(&delete).await.map_err(StoreError::query("remove acl"))?;
        Ok(result.rows_affected() > 0)
    }

    async fn set_superuser(&self, name: &UserName, superuser: bool) -> Result<bool, StoreError> {
        let update = Query::update()
            .table("users")
            .value("superuser", i16::from(superuser))
            .and_where(Expr::col("name").eq(name.as_str()))
            .to_owned();
        self.change(&update, "set superuser").await.map(|n| n > 0)
    }

    async fn add_member(&self, group: &GroupName, user: &UserName) -> Result<bool, StoreError> {
        let insert = Query::insert()
            .into_table("group_members")
            .columns(["group_name", "user_name"])
            .values_panic([
                Expr::val(group.as_str().to_owned()),
                Expr::val(user.as_str().to_owned()),
            ])
            .to_owned();
        let _write = self.writes.lock().await;
        let id = crate::dialect::insert_new(&self.db, insert, &["group_name", "user_name"])
            .await
            .map_err(StoreError::query("add group member"))?;
        Ok(id.is_some())
    }

    async fn remove_members(
        &self,
        group: &GroupName,
        user: Option<&UserName>,
    ) -> Result<u64, StoreError> {
        let mut delete = Query::delete()
            .from_table("group_members")
            .and_where(Expr::col("group_name").eq(group.as_str()))
            .to_owned();
        if let Some(user) = user {
            delete.and_where(Expr::col("user_name").eq(user.as_str()));
        }
        self.change(&delete, "remove group members").await
    }

    async fn members(&self) -> Result<Vec<(GroupName, UserName)>, StoreError> {
        let select = Query::select()
            .columns(["group_name", "user_name"])
            .from("group_members")
            .order_by("group_name", Order::Asc)
            .order_by("user_name", Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read groups"))?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse(GroupName::parse(&name(row, 0)?))?,
                    parse(UserName::parse(&name(row, 1)?))?,
                ))
            })
            .collect()
    }

    async fn add_share(&self, share: &Share) -> Result<i64, StoreError> {
        let (to_user, to_group) = match &share.to {
            Grantee::User(user) => (Some(user.as_str().to_owned()), None),
            Grantee::Group(group) => (None, Some(group.as_str().to_owned())),
        };
        let insert = Query::insert()
            .into_table("shares")
            .columns(["owner", "device_name", "to_user", "to_group", "until", "created_at"])
            .values_panic([
                Expr::val(share.owner.as_str().to_owned()),
                Expr::val(share.device.as_ref().map(|d| d.as_str().to_owned())),
                Expr::val(to_user),
                Expr::val(to_group),
                Expr::val(share.until),
                Expr::val(share.created_at),
            ])
            .to_owned();
        let _write = self.writes.lock().await;
        crate::dialect::insert_id(&self.db, insert).await.map_err(StoreError::query("add share"))
    }

    async fn shares(&self, owner: Option<&UserName>) -> Result<Vec<Share>, StoreError> {
        let mut select = Query::select()
            .columns(["id", "owner", "device_name", "to_user", "to_group", "until", "created_at"])
            .from("shares")
            .order_by("id", Order::Asc)
            .to_owned();
        if let Some(owner) = owner {
            select.and_where(Expr::col("owner").eq(owner.as_str()));
        }
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read shares"))?;
        rows.iter().map(share).collect()
    }

    async fn remove_share(&self, id: i64) -> Result<bool, StoreError> {
        let delete =
            Query::delete().from_table("shares").and_where(Expr::col("id").eq(id)).to_owned();
        self.change(&delete, "remove share").await.map(|n| n > 0)
    }

    async fn add_token(&self, token: &Token) -> Result<i64, StoreError> {
        token.check().map_err(|e| StoreError::Corrupt { what: "token", detail: e.to_string() })?;
        let insert = Query::insert()
            .into_table("tokens")
            .columns(["user_name", "kind", "label", "digest", "created_at", "expires_at"])
            .values_panic([
                Expr::val(token.user.as_str().to_owned()),
                Expr::val(token.kind.as_str()),
                Expr::val(token.label.clone()),
                Expr::val(token.digest.clone()),
                Expr::val(token.created_at),
                Expr::val(token.expires_at),
            ])
            .to_owned();
        let _write = self.writes.lock().await;
        crate::dialect::insert_id(&self.db, insert).await.map_err(StoreError::query("add token"))
    }

    async fn token(&self, digest: &str) -> Result<Option<Token>, StoreError> {
        let select = tokens().and_where(Expr::col("digest").eq(digest)).to_owned();
        let row = self.db.query_one(&select).await.map_err(StoreError::query("read token"))?;
        row.as_ref().map(token).transpose()
    }

    async fn tokens(&self, user: &UserName, kind: TokenKind) -> Result<Vec<Token>, StoreError> {
        let select = tokens()
            .and_where(Expr::col("user_name").eq(user.as_str()))
            .and_where(Expr::col("kind").eq(kind.as_str()))
            .to_owned();
        let rows = self.db.query_all(&select).await.map_err(StoreError::query("read tokens"))?;
        rows.iter().map(token).collect()
    }

    async fn remove_token(&self, id: i64) -> Result<bool, StoreError> {
        let delete =
            Query::delete().from_table("tokens").and_where(Expr::col("id").eq(id)).to_owned();
        self.change(&delete, "remove token").await.map(|n| n > 0)
    }

    async fn prune_tokens(&self, now: i64) -> Result<u64, StoreError> {
        let delete = Query::delete()
            .from_table("tokens")
            .and_where(Expr::col("expires_at").lt(now))
            .to_owned();
        self.change(&delete, "prune tokens").await
    }

    async fn ctrl_settings(&self) -> Result<Vec<CtrlSettings>, StoreError> {
        let select = Query::select()
            .columns(["user_name", "host", "port", "tls", "auth", "certurl", "trackurl"])
            .from("ctrl_settings")
            .order_by("user_name", Order::Asc)
            .to_owned();
        let rows =
            self.db.query_all(&select).await.map_err(StoreError::query("read ctrld settings"))?;
        rows.iter()
            .map(|row| {
                let user: String = get(row, 0)?;
                let port: Option<i32> = get(row, 2)?;
                let tls: Option<i16> = get(row, 3)?;
                let auth: Option<i16> = get(row, 4)?;
                Ok(CtrlSettings {
                    user: match user.as_str() {
                        "" => None,
                        name => Some(parse(UserName::parse(name))?),
                    },
                    host: get(row, 1)?,
                    port: port.and_then(|p| u16::try_from(p).ok()),
                    tls: tls.map(|v| v != 0),
                    auth: auth.map(|v| v != 0),
                    certurl: get(row, 5)?,
                    trackurl: get(row, 6)?,
                })
            })
            .collect()
    }

    async fn set_ctrl_settings(&self, settings: &CtrlSettings) -> Result<(), StoreError> {
        let user = settings.user.as_ref().map_or("", UserName::as_str).to_owned();
        let _write = self.writes.lock().await;
        let txn = self.begin_write().await?;
        let delete = Query::delete()
            .from_table("ctrl_settings")
            .and_where(Expr::col("user_name").eq(user.clone()))
            .to_owned();
        txn.execute(&delete).await.map_err(StoreError::query("replace ctrld settings"))?;
        let insert = Query::insert()
            .into_table("ctrl_settings")
            .columns(["user_name", "host", "port", "tls", "auth", "certurl", "trackurl"])
            .values_panic([
                Expr::val(user),
                Expr::val(settings.host.clone()),
                Expr::val(settings.port.map(i32::from)),
                Expr::val(settings.tls.map(i16::from)),
                Expr::val(settings.auth.map(i16::from)),
                Expr::val(settings.certurl.clone()),
                Expr::val(settings.trackurl.clone()),
            ])
            .to_owned();
        txn.execute(&insert).await.map_err(StoreError::query("set ctrld settings"))?;
        txn.commit().await.map_err(StoreError::query("commit"))?;
        Ok(())
    }

    async fn remove_ctrl_settings(&self, user: Option<&UserName>) -> Result<bool, StoreError> {
        let user = user.map_or("", UserName::as_str).to_owned();
        let delete = Query::delete()
            .from_table("ctrl_settings")
            .and_where(Expr::col("user_name").eq(user))
            .to_owned();
        self.change(&delete, "remove ctrld settings").await.map(|n| n > 0)
    }
}

impl SqlStore {
    /// Runs one changing statement under the write lock; returns the rows it touched.
    async fn change<S: sea_orm::StatementBuilder + Sync>(
        &self,
        statement: &S,
        what: &'static str,
    ) -> Result<u64, StoreError> {
        let _write = self.writes.lock().await;
        let result = self.db.execute(statement).await.map_err(StoreError::query(what))?;
        Ok(result.rows_affected())
    }
}

fn tokens() -> SelectStatement {
    Query::select()
        .columns(["id", "user_name", "kind", "label", "digest", "created_at", "expires_at"])
        .from("tokens")
        .order_by("id", Order::Asc)
        .to_owned()
}

fn token(row: &QueryResult) -> Result<Token, StoreError> {
    let kind: String = get(row, 2)?;
    let kind = match kind.as_str() {
        "api" => TokenKind::Api,
        "session" => TokenKind::Session,
        other => {
            return Err(StoreError::Corrupt { what: "token", detail: format!("kind {other:?}") });
        }
    };
    Ok(Token {
        id: get(row, 0)?,
        user: parse(UserName::parse(&name(row, 1)?))?,
        kind,
        label: get(row, 3)?,
        digest: get(row, 4)?,
        created_at: get(row, 5)?,
        expires_at: get(row, 6)?,
    })
}

fn share(row: &QueryResult) -> Result<Share, StoreError> {
    let device: Option<String> = get(row, 2)?;
    let to_user: Option<String> = get(row, 3)?;
    let to_group: Option<String> = get(row, 4)?;
    let to = match (to_user, to_group) {
        (Some(user), None) => Grantee::User(parse(UserName::parse(&user))?),
        (None, Some(group)) => Grantee::Group(parse(GroupName::parse(&group))?),
        _ => {
            let detail = "neither or both of to_user and to_group".to_owned();
            return Err(StoreError::Corrupt { what: "share", detail });
        }
    };
    Ok(Share {
        id: get(row, 0)?,
        owner: parse(UserName::parse(&name(row, 1)?))?,
        device: device.map(|d| parse(DeviceName::parse(&d))).transpose()?,
        to,
        until: get(row, 5)?,
        created_at: get(row, 6)?,
    })
}

fn users() -> SelectStatement {
    Query::select().columns(USER_COLUMNS).from("users").order_by("name", Order::Asc).to_owned()
}

fn account(row: &QueryResult) -> Result<Account, StoreError> {
    let password: String = get(row, 1)?;
    let superuser: i16 = get(row, 2)?;
    Ok(Account {
        name: parse(UserName::parse(&name(row, 0)?))?,
        password: PasswordHash::new(&password)
            .map_err(|e| StoreError::Corrupt { what: "user", detail: e.to_string() })?,
        superuser: superuser != 0,
        created_at: get(row, 3)?,
    })
}

fn acl(row: &QueryResult) -> Result<Acl, StoreError> {
    let rw: i16 = get(row, 2)?;
    Ok(Acl {
        user: parse(UserName::parse(&name(row, 0)?))?,
        topic: get(row, 1)?,
        access: Access::from_code(i64::from(rw))
            .map_err(|e| StoreError::Corrupt { what: "acl", detail: e.to_string() })?,
    })
}
