//! qsign's database: the diesel schema, one connection type over SQLite and PostgreSQL, the
//! embedded migrations for both, and the query functions. Business rules live elsewhere: these
//! functions read and write rows and report how many rows a conditional write touched.
#![forbid(unsafe_code)]

mod connection;
pub mod models;
pub mod queries;
pub mod schema;

pub use connection::{Database, DbConnection, DbError, Pool, PooledConnection};
