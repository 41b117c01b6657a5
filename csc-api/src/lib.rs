//! qsign's front end: the CSC API (v1 and v2 field names on both paths) over HTTP, and the
//! `qsign` operator command. It holds no key and decides no signature: it asks the SAM.
#![forbid(unsafe_code)]

pub mod auth;
pub mod body;
pub mod cli;
pub mod error;
pub mod routes;
pub mod server;
