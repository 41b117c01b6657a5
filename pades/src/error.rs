//! The one error type of the crate: one variant per check that can fail.

/// Why a PDF could not be prepared, signed or extended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PadesError {
    /// The bytes do not start with a `%PDF-` header.
    #[error("not a PDF: the file does not start with a %PDF- header")]
    NotPdf,
    /// The document is encrypted; signing it would need its password and re-encryption.
    #[error("the PDF is encrypted; encrypted documents are not supported")]
    Encrypted,
    /// The cross-reference data or an object could not be read as written.
    #[error("the PDF is damaged: {0}")]
    Damaged(String),
    /// A structure needed for signing is missing or has the wrong type.
    #[error("the PDF structure is invalid: {0}")]
    Structure(&'static str),
    /// A tree (pages, form fields) is deeper than allowed or loops back on itself.
    #[error("the PDF {0} tree is too deep or loops")]
    TreeTooDeep(&'static str),
    /// The requested page does not exist.
    #[error("page {index} does not exist (the document has {count} pages)")]
    NoSuchPage {
        /// Zero-based page index asked for.
        index: usize,
        /// Pages found in the page tree.
        count: usize,
    },
    /// A field with that name already exists.
    #[error("a form field named {0:?} already exists")]
    FieldNameTaken(String),
    /// A field name is empty or holds a period (the separator of qualified names).
    #[error("invalid field name {0:?}: it must be non-empty and hold no period")]
    InvalidFieldName(String),
    /// A certification (DocMDP) signature must be the first signature of a document.
    #[error(
        "a certification signature must be the first signature; the document is already signed"
    )]
    CertificationNotFirst,
    /// The document's certification signature forbids any further change.
    #[error("the document is certified with no changes allowed")]
    ChangesNotPermitted,
    /// The signature container does not fit in the space reserved for `/Contents`.
    #[error("the signature ({needed} bytes) does not fit in the {capacity} bytes reserved for it")]
    ContentsTooLarge {
        /// Bytes of the DER signature container.
        needed: usize,
        /// Bytes reserved.
        capacity: usize,
    },
    /// The reserved `/Contents` size is outside the accepted range.
    #[error("the reserved signature size {0} is outside 1..=1048576 bytes")]
    InvalidCapacity(usize),
    /// The document has no signature to which validation data could be attached.
    #[error("the document holds no signature")]
    NoSignature,
    /// An offset or object number does not fit the PDF's limits.
    #[error("the PDF is too large for an incremental update: {0}")]
    TooLarge(&'static str),
    /// The signing time cannot be written as a PDF date.
    #[error("the signing time cannot be written as a PDF date")]
    InvalidTime,
    /// A digest algorithm or digest value was rejected.
    #[error(transparent)]
    Algorithm(#[from] signer::AlgError),
    /// Writing the increment to its destination failed.
    #[error("writing the signed PDF failed: {0}")]
    Io(#[from] std::io::Error),
}
