//! Signature creation for qsign: the algorithm and OID tables the CSC endpoints and the format
//! builders share, and the encodings around a raw signature (DigestInfo, ECDSA DER).
//!
//! This crate never stores or touches a private key: signatures are produced elsewhere (the SAM)
//! and handed in.
#![forbid(unsafe_code)]

pub mod alg;

pub use alg::{AlgError, Digest, DigestAlgorithm, KeyKind, SignatureAlgorithm};
