//! Opaque bearer secrets (access and refresh tokens, SADs): random, prefixed so secret scanners
//! find them, and stored only as a SHA-256 hash. Also the keyed MACs and sealing the SAM derives
//! from its KEK.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::hash::{MessageDigest, hash};
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::SamError;

pub const ACCESS_TOKEN_PREFIX: &str = "qs_at_";
pub const REFRESH_TOKEN_PREFIX: &str = "qs_rt_";
pub const SAD_PREFIX: &str = "qs_sad_";

/// Makes a new random secret with the given prefix: 256 bits, base64url.
pub fn new_secret(prefix: &str) -> SecretString {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(bytes.as_mut());
    SecretString::from(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(bytes.as_ref())
    ))
}

/// The stored form of a secret: its SHA-256.
pub fn secret_hash(secret: &SecretString) -> Vec<u8> {
    sha256(secret.expose_secret().as_bytes())
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    match hash(MessageDigest::sha256(), data) {
        Ok(d) => d.to_vec(),
        // SHA-256 in OpenSSL does not fail short of memory exhaustion; an empty hash never matches.
        Err(_) => Vec::new(),
    }
}

/// A random identifier (not a secret), hex.
pub fn new_id(prefix: &str, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    format!("{prefix}{}", hex::encode(buf))
}

/// Keys the SAM derives from its KEK, each for one purpose.
pub(crate) struct DerivedKeys {
    binding: Zeroizing<Vec<u8>>,
    seal: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivedKeys").finish_non_exhaustive()
    }
}

impl DerivedKeys {
    pub(crate) fn derive(kek: &[u8]) -> Result<Self, SamError> {
        Ok(Self {
            binding: Zeroizing::new(hmac(kek, b"qsign binding-mac v1")?),
            seal: Zeroizing::new(hmac(kek, b"qsign seal v1")?),
        })
    }

    /// MAC over a record's binding fields: the front end cannot mint or alter what it covers.
    pub(crate) fn binding_mac(&self, fields: &[&[u8]]) -> Result<Vec<u8>, SamError> {
        let mut buf = Vec::new();
        for f in fields {
            buf.extend_from_slice(&(f.len() as u64).to_be_bytes());
            buf.extend_from_slice(f);
        }
        hmac(&self.binding, &buf)
    }

    #[cfg(test)]
    pub(crate) fn check_binding_mac(&self, fields: &[&[u8]], mac: &[u8]) -> Result<bool, SamError> {
        let expected = self.binding_mac(fields)?;
        Ok(expected.len() == mac.len() && openssl::memcmp::eq(&expected, mac))
    }

    /// AES-256-GCM seal with associated data: `nonce || ciphertext || tag`.
    pub(crate) fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, SamError> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let mut tag = [0u8; 16];
        let ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.seal,
            Some(&nonce),
            aad,
            plain,
            &mut tag,
        )
        .map_err(|_| SamError::Backend("seal failed".into()))?;
        let mut out = Vec::with_capacity(12 + ct.len() + 16);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SamError> {
        if sealed.len() < 28 {
            return Err(SamError::Backend("sealed value too short".into()));
        }
        let (nonce, rest) = sealed.split_at(12);
        let (ct, tag) = rest.split_at(rest.len() - 16);
        decrypt_aead(Cipher::aes_256_gcm(), &self.seal, Some(nonce), aad, ct, tag)
            .map(Zeroizing::new)
            .map_err(|_| SamError::Backend("sealed value does not open".into()))
    }
}

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> Result<Vec<u8>, SamError> {
    let k = PKey::hmac(key).map_err(|e| SamError::Backend(e.to_string()))?;
    let mut s =
        Signer::new(MessageDigest::sha256(), &k).map_err(|e| SamError::Backend(e.to_string()))?;
    s.update(data)
        .map_err(|e| SamError::Backend(e.to_string()))?;
    s.sign_to_vec()
        .map_err(|e| SamError::Backend(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_and_distinct() {
        let a = new_secret(SAD_PREFIX);
        let b = new_secret(SAD_PREFIX);
        assert!(a.expose_secret().starts_with(SAD_PREFIX));
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(secret_hash(&a).len(), 32);
    }

    #[test]
    fn seal_binds_associated_data() {
        let k = DerivedKeys::derive(&[7u8; 32]).unwrap();
        let sealed = k.seal(b"totp secret", b"cred-1").unwrap();
        assert_eq!(
            k.open(&sealed, b"cred-1").unwrap().as_slice(),
            b"totp secret"
        );
        assert!(k.open(&sealed, b"cred-2").is_err());
        let mut flipped = sealed.clone();
        flipped[14] ^= 1;
        assert!(k.open(&flipped, b"cred-1").is_err());
    }

    #[test]
    fn binding_mac_detects_any_change() {
        let k = DerivedKeys::derive(&[1u8; 32]).unwrap();
        let mac = k.binding_mac(&[b"a", b"bc"]).unwrap();
        assert!(k.check_binding_mac(&[b"a", b"bc"], &mac).unwrap());
        assert!(!k.check_binding_mac(&[b"ab", b"c"], &mac).unwrap());
    }
}
