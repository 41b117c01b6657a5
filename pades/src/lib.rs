//! PAdES signing: parse a PDF, append an incremental update with a signature field, and hand out
//! the byte ranges to be signed. The original bytes of the document are never rewritten.
#![forbid(unsafe_code)]
