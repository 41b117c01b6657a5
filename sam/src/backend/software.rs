//! Software keystore: keys generated with OpenSSL, stored AES-256-GCM-wrapped under a KEK.
