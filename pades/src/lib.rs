//! PAdES signing: parse a PDF, append an incremental update with a signature field, and hand out
//! the digest of the byte ranges to be signed. The original bytes of the document are never
//! rewritten: every output starts with the exact input.
//!
//! Two phases, so the key operation happens elsewhere:
//! 1. [`prepare`] (or [`prepare_timestamp`]) appends the field, widget and signature dictionary
//!    with a reserved `/Contents`, and returns a [`Prepared`] whose [`Prepared::digest`] is the
//!    digest of the byte ranges (the CAdES `message-digest`, or the document timestamp's
//!    imprint).
//! 2. [`Prepared::finish`] places the DER container in `/Contents`; append
//!    [`Signed::increment`] to the original bytes.
//!
//! Validation data for B-LT and B-LTA goes into a Document Security Store with [`add_dss`].
#![forbid(unsafe_code)]

mod appearance;
mod doc;
mod dss;
mod error;
mod sign;
mod update;

pub use appearance::Visible;
pub use dss::{ValidationData, add_dss, signature_contents};
pub use error::PadesError;
pub use sign::{
    MdpPermission, Prepared, SignatureOptions, Signed, TimestampOptions, prepare, prepare_timestamp,
};

/// Checks that `bytes` is a PDF this crate can extend: readable as written, not encrypted,
/// with a catalog and a page tree. Returns the number of pages.
pub fn inspect(bytes: &[u8]) -> Result<usize, PadesError> {
    doc::load(bytes)?.page_count()
}
