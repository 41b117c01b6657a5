//! qsign's integration tests: one binary. Every test boots the real server on 127.0.0.1 with a
//! fresh database and runs once on SQLite and once on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a failed test"
)]

mod harness;

mod audit;
mod cli;
mod flows;
mod refusals;
mod sam_properties;
