//! Accounts: the [`AccountStore`] trait (users with their password hashes and superuser flag,
//! and each user's ACL entries), its records, and its implementation for [`SqlStore`]. A trait
//! of its own beside [`crate::Storage`], because only the import and, later, login and access
//! checks use it. Hashes are stored and returned as given; this module never looks inside them.

use std::fmt;

use async_trait::async_trait;
use pista_core::UserName;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, QueryResult};

use crate::error::StoreError;
use crate::read::{get, name, parse};
use crate::schema::{HASH_LEN, TOPIC_LEN};
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

    /// Removes a user and the user's ACL entries; returns whether the user existed.
    async fn remove_user(&self, name: &UserName) -> Result<bool, StoreError>;

    /// Adds an ACL entry unless the user has one for that topic filter; returns whether it was
    /// added (an existing entry keeps its access).
    async fn add_acl(&self, acl: &Acl) -> Result<bool, StoreError>;

    /// ACL entries, of one user or everyone, sorted by user and topic.
    async fn acls(&self, user: Option<&UserName>) -> Result<Vec<Acl>, StoreError>;

    /// Removes one ACL entry; returns whether it existed.
    async fn remove_acl(&self, user: &UserName, topic: &str) -> Result<bool, StoreError>;
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
