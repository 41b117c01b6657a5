//! The HTTP routes, one module per CSC area.

pub mod credentials;
pub mod info;
pub mod ops;
pub mod signatures;

/// Which CSC version a route was called as; the wire differs only in `info` and field names in
/// answers, requests take both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}
