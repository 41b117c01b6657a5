//! Signature creation for qsign: the algorithm and OID tables the CSC endpoints and the format
//! builders share, the encodings around a raw signature (DigestInfo, ECDSA DER), CMS/CAdES
//! signatures (B-B, B-T, B-LT), RFC 3161 time-stamps (client and token encoder), and OCSP/CRL
//! revocation data (fetch, check, encode).
//!
//! This crate never stores or touches a private key: signatures are produced elsewhere (the SAM)
//! and handed in, between a `prepare` and a `finish` step.
#![forbid(unsafe_code)]

pub mod alg;
pub mod cades;
pub mod crl;
pub mod ocsp;
pub mod revocation;
pub mod tsp;
pub mod verify;

pub use alg::{AlgError, Digest, DigestAlgorithm, Hasher, KeyKind, SignatureAlgorithm, oid};
