//! The connection type (SQLite or PostgreSQL behind one enum), the pool, and migrations.

use std::path::PathBuf;
use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("postgres");

/// One connection, to either database. Queries are written once against this type.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

pub type Pool = diesel::r2d2::Pool<ConnectionManager<DbConnection>>;
pub type PooledConnection = diesel::r2d2::PooledConnection<ConnectionManager<DbConnection>>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database pool: {0}")]
    Pool(String),
    #[error("migrations failed: {0}")]
    Migrations(String),
}

/// Where the data lives.
#[derive(Clone)]
pub enum Database {
    /// A SQLite file (WAL, synchronous=FULL).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://…`).
    Postgres(String),
}

impl std::fmt::Debug for Database {
    // A PostgreSQL URL may carry a password: show only the kind.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            Self::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

impl Database {
    fn url(&self) -> String {
        match self {
            Self::Sqlite(p) => p.display().to_string(),
            Self::Postgres(u) => u.clone(),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, Self::Sqlite(_))
    }

    /// Opens one connection, set up for qsign's use.
    pub fn connect(&self) -> Result<DbConnection, DbError> {
        let mut conn = match self {
            Self::Sqlite(_) => SqliteConnection::establish(&self.url()).map(DbConnection::Sqlite),
            Self::Postgres(_) => PgConnection::establish(&self.url()).map(DbConnection::Pg),
        }
        .map_err(|e| DbError::Connect(redact(&e.to_string())))?;
        prepare(&mut conn)?;
        Ok(conn)
    }

    /// Runs pending migrations.
    pub fn migrate(&self) -> Result<(), DbError> {
        let mut conn = self.connect()?;
        let result = match &mut conn {
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
            DbConnection::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
        };
        result.map_err(|e| DbError::Migrations(e.to_string()))
    }

    /// A connection pool of at most `size` connections.
    pub fn pool(&self, size: u32) -> Result<Pool, DbError> {
        let manager = ConnectionManager::<DbConnection>::new(self.url());
        diesel::r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .connection_customizer(Box::new(Prepare))
            .build(manager)
            .map_err(|e| DbError::Pool(redact(&e.to_string())))
    }
}

/// Connection set-up: WAL and full fsync for SQLite, a busy timeout so that operator commands and
/// the server can share one file, foreign keys on.
fn prepare(conn: &mut DbConnection) -> Result<(), DbError> {
    match conn {
        DbConnection::Sqlite(c) => c
            .batch_execute(
                "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
            )
            .map_err(DbError::Query),
        DbConnection::Pg(_) => Ok(()),
    }
}

#[derive(Debug)]
struct Prepare;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for Prepare {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        prepare(conn).map_err(|e| match e {
            DbError::Query(q) => diesel::r2d2::Error::QueryError(q),
            other => diesel::r2d2::Error::QueryError(diesel::result::Error::QueryBuilderError(
                other.to_string().into(),
            )),
        })
    }
}

/// Connection errors may echo the URL: drop anything that looks like a password.
fn redact(msg: &str) -> String {
    msg.split_whitespace()
        .map(|w| {
            if w.contains("password") || w.contains("://") {
                "[redacted]"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
