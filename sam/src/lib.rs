//! The Signature Activation Module: the only path from a signer's approval to a key.
//!
//! It checks the signer's evidence itself (PIN, TOTP; WebAuthn later), issues Signature
//! Activation Data (SAD) bound to one credential, caller, algorithm and hash set, spends it
//! atomically in the database together with the audit record, and only then lets a key backend
//! sign. Key backends are private to this crate.
#![forbid(unsafe_code)]

mod backend;
pub mod dev_ca;
