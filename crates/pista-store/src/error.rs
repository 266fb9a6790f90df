//! Storage errors. Each names the operation that failed; the database's own message is kept as
//! the source for the log, never shown to API clients.

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {url}")]
    Open { url: String, source: sea_orm::DbErr },
    #[error("database {url} is not supported: {reason}")]
    Unsupported { url: String, reason: String },
    #[error("cannot create directory {path} for the database")]
    CreateDir { path: String, source: std::io::Error },
    #[error("cannot create the database file {path}")]
    CreateFile { path: String, source: std::io::Error },
    #[error("database migration failed")]
    Migrate { source: sea_orm::DbErr },
    #[error("database {operation} failed")]
    Query { operation: &'static str, source: sea_orm::DbErr },
    #[error("database {operation} failed on {path}")]
    Sqlite { operation: &'static str, path: String, source: rusqlite::Error },
    /// The store was closed ([`crate::SqlStore::close`]); history reads and batches of
    /// locations into a SQLite file say so by name.
    #[error("database {path} is closed")]
    Closed { path: String },
    /// The SQLite URL opens the file read-only (`mode=ro`), and this writes.
    #[error("database {path} is opened read-only ({parameter} in its URL); this writes to it")]
    ReadOnly { path: String, parameter: String },
    /// A SQLite file opened read-only lacks migrations, which would write to it.
    #[error(
        "database {path} is opened read-only ({parameter} in its URL) but lacks {pending} \
         migration(s), the first {first}; open it once without {parameter} to migrate it"
    )]
    ReadOnlyOutdated { path: String, parameter: String, pending: usize, first: String },
    #[error("unknown user {user:?}")]
    UnknownUser { user: String },
    #[error("unknown device {device:?} of user {user:?}")]
    UnknownDevice { user: String, device: String },
    /// Every heavy-read permit stayed taken for the whole wait: too many exports run at once.
    #[error("too many history reads are running (at most {permits} at once); retry later")]
    Busy { permits: usize },
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// A [`crate::MessageWriter`] failed while a history was written through it.
    #[error("writing the history failed")]
    Write { source: std::io::Error },
}

impl StoreError {
    pub(crate) fn query(operation: &'static str) -> impl FnOnce(sea_orm::DbErr) -> Self {
        move |source| StoreError::Query { operation, source }
    }
}
