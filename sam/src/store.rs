//! Read-side helpers of the SAM: key material by id (cached: a key row never changes while the
//! key lives) and the binding MAC of a SAD row.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use migrations::DbConnection;
use migrations::models::{Credential, Sad};
use migrations::queries;
use signer::KeyKind;

use crate::credentials::parse_key_kind;
use crate::secrets::sha256;
use crate::{Sam, SamError};

/// A SAD that passed every static check (MAC, bindings, hash set, credential, key): what a
/// `signHash` needs before it spends.
pub(crate) struct LiveSad {
    pub(crate) sad: Sad,
    /// The authorized hashes, when the SAD is bound to a hash set.
    pub(crate) hash_set: Option<HashSet<Vec<u8>>>,
    pub(crate) hash_set_digest: Vec<u8>,
    pub(crate) key: Arc<KeyMaterial>,
}

/// A key as the backend needs it: its kind and its wrapped form.
pub(crate) struct KeyMaterial {
    pub(crate) id: String,
    pub(crate) kind: KeyKind,
    pub(crate) wrapped: Vec<u8>,
}

#[derive(Default)]
pub(crate) struct Cache {
    keys: RwLock<HashMap<String, Arc<KeyMaterial>>>,
    /// Certificate validity (not before, not after; Unix seconds) by credential. Safe to cache:
    /// the chain is under the credential's MAC, checked on every load.
    validity: RwLock<HashMap<String, (i64, i64)>>,
    /// SADs that passed their static checks, by token hash. A SAD's bindings never change; its
    /// budget, revocation, token (extendTransaction) and the credential's state are checked in
    /// the spending transaction, so a cached entry never lets a dead SAD sign.
    sads: RwLock<HashMap<Vec<u8>, Arc<LiveSad>>>,
}

/// The cache never grows beyond this many keys; past it, entries are dropped wholesale.
const MAX_CACHED_KEYS: usize = 4096;

impl Sam {
    pub(crate) fn key_material(
        &self,
        conn: &mut DbConnection,
        key_id: &str,
    ) -> Result<Arc<KeyMaterial>, SamError> {
        if let Ok(keys) = self.inner.store.keys.read()
            && let Some(k) = keys.get(key_id)
        {
            return Ok(k.clone());
        }
        let row = queries::keys::by_id(conn, key_id)?
            .filter(|k| k.destroyed_at.is_none())
            .ok_or(SamError::CredentialIntegrity)?;
        let material = Arc::new(KeyMaterial {
            id: row.id,
            kind: parse_key_kind(&row.kind)?,
            wrapped: row.wrapped,
        });
        if let Ok(mut keys) = self.inner.store.keys.write() {
            if keys.len() >= MAX_CACHED_KEYS {
                keys.clear();
            }
            keys.insert(key_id.to_owned(), material.clone());
        }
        Ok(material)
    }

    pub(crate) fn cached_sad(&self, token_hash: &[u8]) -> Option<Arc<LiveSad>> {
        self.inner.store.sads.read().ok()?.get(token_hash).cloned()
    }

    pub(crate) fn cache_sad(&self, token_hash: Vec<u8>, live: Arc<LiveSad>) {
        if let Ok(mut sads) = self.inner.store.sads.write() {
            if sads.len() >= MAX_CACHED_KEYS {
                sads.clear();
            }
            sads.insert(token_hash, live);
        }
    }

    pub(crate) fn forget_sad(&self, token_hash: &[u8]) {
        if let Ok(mut sads) = self.inner.store.sads.write() {
            sads.remove(token_hash);
        }
    }

    /// The certificate check of a credential checked before (R17), from the cache; a credential
    /// not in the cache was checked on its way into it.
    pub(crate) fn check_certificate_validity(
        &self,
        credential_id: &str,
        now_s: i64,
    ) -> Result<(), SamError> {
        let cached = self
            .inner
            .store
            .validity
            .read()
            .ok()
            .and_then(|v| v.get(credential_id).copied());
        match cached {
            Some((not_before, not_after)) if now_s < not_before || now_s >= not_after => {
                Err(SamError::CertificateNotValid)
            }
            _ => Ok(()),
        }
    }

    /// Refuses a credential whose signer certificate is expired or not yet valid (R17).
    pub(crate) fn check_certificate(&self, cred: &Credential, now_s: i64) -> Result<(), SamError> {
        let cached = self
            .inner
            .store
            .validity
            .read()
            .ok()
            .and_then(|v| v.get(&cred.id).copied());
        let (not_before, not_after) = match cached {
            Some(v) => v,
            None => {
                let v = certificate_validity(&cred.cert_chain_pem)?;
                if let Ok(mut map) = self.inner.store.validity.write() {
                    if map.len() >= MAX_CACHED_KEYS {
                        map.clear();
                    }
                    map.insert(cred.id.clone(), v);
                }
                v
            }
        };
        if now_s < not_before || now_s >= not_after {
            return Err(SamError::CertificateNotValid);
        }
        Ok(())
    }

    /// MAC over every binding of a SAD: the front end's database rows alone cannot mint one or
    /// change what it authorizes.
    pub(crate) fn sad_mac(&self, s: &Sad, hash_set: &[u8]) -> Result<Vec<u8>, SamError> {
        self.inner.keys.binding_mac(&[
            b"sad",
            s.id.as_bytes(),
            &s.hash,
            s.user_id.as_bytes(),
            s.credential_id.as_bytes(),
            s.session_id.as_bytes(),
            s.hash_alg.as_deref().unwrap_or("").as_bytes(),
            &s.num_signatures.to_be_bytes(),
            &[u8::from(s.pinned)],
            &s.expires_at.to_be_bytes(),
            hash_set,
        ])
    }

    pub(crate) fn check_sad_mac(&self, s: &Sad, hash_set: &[u8]) -> Result<bool, SamError> {
        let expected = self.sad_mac(s, hash_set)?;
        Ok(expected.len() == s.mac.len() && openssl::memcmp::eq(&expected, &s.mac))
    }
}

fn certificate_validity(chain_pem: &str) -> Result<(i64, i64), SamError> {
    let leaf = openssl::x509::X509::from_pem(chain_pem.as_bytes())
        .map_err(|_| SamError::CredentialIntegrity)?;
    Ok((
        crate::credentials::unix_seconds(leaf.not_before()),
        crate::credentials::unix_seconds(leaf.not_after()),
    ))
}

/// A digest of an authorized hash set, independent of order.
pub(crate) fn hash_set_digest(hashes: &[Vec<u8>]) -> Vec<u8> {
    if hashes.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<&Vec<u8>> = hashes.iter().collect();
    sorted.sort();
    let mut buf = Vec::new();
    for h in sorted {
        buf.extend_from_slice(&(h.len() as u32).to_be_bytes());
        buf.extend_from_slice(h);
    }
    sha256(&buf)
}
