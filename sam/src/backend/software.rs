//! Software keystore (NOT QUALIFIED): keys generated with OpenSSL in memory and kept only
//! AES-256-GCM-wrapped under a key-encryption key (KEK); a key is unwrapped inside this module,
//! only to sign.
//!
//! A wrapped key is `version (1) || nonce (12) || ciphertext || tag (16)`. The ciphertext is the
//! key's PKCS#8 DER; the additional authenticated data binds the key id and the key kind, so a
//! blob copied to another key id or presented as another kind does not unwrap. Signing goes
//! through OpenSSL (see PERFORMANCE.md: the pure-Rust crates are several times slower), and
//! unwrapped keys stay in a small bounded cache so the signing path does not decrypt and parse a
//! key on every request.

use std::collections::HashMap;
use std::fmt;
use std::sync::{PoisonError, RwLock};

use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::md::{Md, MdRef};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Signer};
use openssl::symm::{Cipher, Crypter, Mode};
use rand::CryptoRng;
use signer::{AlgError, Digest, DigestAlgorithm, KeyKind, SignatureAlgorithm};
use zeroize::Zeroizing;

/// Length of a KEK: an AES-256 key.
pub(crate) const KEK_LEN: usize = 32;
/// The wrapped-key format version; part of the additional authenticated data as well.
const WRAP_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Room a cipher update may need beyond its input (AES block size).
const CIPHER_SLACK: usize = 16;
/// Domain separation for the additional authenticated data of a wrapped key.
const AAD_LABEL: &[u8] = b"qsign software keystore key wrap";
/// Key ids are length-prefixed with one byte in the additional authenticated data.
const MAX_KEY_ID_LEN: usize = 255;
/// How many unwrapped keys the cache holds before it evicts one.
const CACHE_CAPACITY: usize = 1024;
/// RSA moduli shorter than this are refused (R13).
const MIN_RSA_BITS: u32 = 2048;

/// Why a keystore operation failed. No variant carries key material, and unwrapping failures do
/// not say which check failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeystoreError {
    #[error("a key-encryption key is exactly {KEK_LEN} bytes")]
    KekLength,
    #[error("a key id is 1 to {MAX_KEY_ID_LEN} bytes")]
    InvalidKeyId,
    #[error("the software keystore does not generate {0} keys")]
    UnsupportedKey(&'static str),
    #[error("RSA keys shorter than {MIN_RSA_BITS} bits are refused ({bits} bits requested)")]
    WeakKey { bits: u32 },
    #[error("the wrapped key could not be unwrapped")]
    Unwrap,
    #[error("the key is not of the expected kind")]
    KeyKindMismatch,
    #[error("the signature algorithm does not fit the key")]
    AlgorithmMismatch(#[source] AlgError),
    #[error("a digest's hash algorithm differs from the signature algorithm's")]
    DigestMismatch,
    #[error("this signature algorithm signs messages, not digests")]
    MessageOnly,
    #[error("OpenSSL: {0}")]
    OpenSsl(String),
}

impl From<ErrorStack> for KeystoreError {
    fn from(e: ErrorStack) -> Self {
        Self::OpenSsl(e.to_string())
    }
}

/// The key-encryption key: AES-256, zeroized on drop, never printed.
pub(crate) struct Kek(Zeroizing<[u8; KEK_LEN]>);

impl Kek {
    /// A fresh random KEK.
    pub(crate) fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEK_LEN]);
        rng.fill_bytes(bytes.as_mut_slice());
        Self(bytes)
    }

    /// A KEK read back from storage: exactly 32 bytes.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, KeystoreError> {
        if bytes.len() != KEK_LEN {
            return Err(KeystoreError::KekLength);
        }
        let mut kek = Zeroizing::new([0u8; KEK_LEN]);
        kek.copy_from_slice(bytes);
        Ok(Self(kek))
    }

    /// The raw key, to write to the KEK file. Nothing else should need it.
    pub(crate) fn expose_bytes(&self) -> &[u8; KEK_LEN] {
        &self.0
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek").finish_non_exhaustive()
    }
}

/// A freshly generated key: the wrapped private key to store and its SubjectPublicKeyInfo DER.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct GeneratedKey {
    pub(crate) wrapped: Vec<u8>,
    pub(crate) public_key_der: Vec<u8>,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("wrapped_len", &self.wrapped.len())
            .field("public_key_der_len", &self.public_key_der.len())
            .finish()
    }
}

/// What the software keystore can do; tests iterate over it rather than over their own lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub name: &'static str,
    pub qualified: bool,
    /// Whether a key can leave the module in clear: never here (R14), only wrapped.
    pub extractable: bool,
    /// The kinds `generate` accepts.
    pub key_kinds: &'static [KeyKind],
    /// The hash algorithms accepted for digests, MGF1 and messages.
    pub digests: &'static [DigestAlgorithm],
}

const CAPABILITIES: Capabilities = Capabilities {
    name: "software keystore (NOT QUALIFIED)",
    qualified: false,
    extractable: false,
    key_kinds: &[
        KeyKind::EcP256,
        KeyKind::EcP384,
        KeyKind::Rsa { bits: 2048 },
        KeyKind::Rsa { bits: 3072 },
        KeyKind::Rsa { bits: 4096 },
        KeyKind::Ed25519,
    ],
    digests: &DigestAlgorithm::ALL,
};

impl Capabilities {
    /// Whether `sign` (over precomputed digests) performs `alg` with a key of `kind`.
    pub fn signs_digest(&self, kind: KeyKind, alg: SignatureAlgorithm) -> bool {
        !matches!(alg, SignatureAlgorithm::Ed25519) && self.signs_message(kind, alg)
    }

    /// Whether `sign_message` performs `alg` with a key of `kind`.
    pub fn signs_message(&self, kind: KeyKind, alg: SignatureAlgorithm) -> bool {
        let digests_ok = match alg {
            SignatureAlgorithm::RsaPss {
                digest, mgf_digest, ..
            } => self.digests.contains(&digest) && self.digests.contains(&mgf_digest),
            other => other.digest().is_none_or(|d| self.digests.contains(&d)),
        };
        self.key_kinds.contains(&kind) && digests_ok && alg.check_key(kind).is_ok()
    }

    /// The algorithms performed with a key of `kind`: every scheme with every hash; RSASSA-PSS
    /// with every MGF1 hash and both the hash-length and the maximum salt.
    pub fn algorithms(&self, kind: KeyKind) -> Vec<SignatureAlgorithm> {
        let mut out = Vec::new();
        match kind {
            KeyKind::Rsa { bits } => {
                let em_len = u64::from(bits.saturating_sub(1)).div_ceil(8);
                for &digest in self.digests {
                    out.push(SignatureAlgorithm::RsaPkcs1(digest));
                    let h_len = digest.output_len() as u64;
                    let max_salt = em_len.saturating_sub(h_len + 2);
                    for &mgf_digest in self.digests {
                        for salt in [h_len, max_salt] {
                            if let Ok(salt_len) = u32::try_from(salt) {
                                out.push(SignatureAlgorithm::RsaPss {
                                    digest,
                                    mgf_digest,
                                    salt_len,
                                });
                            }
                        }
                    }
                }
            }
            KeyKind::EcP256 | KeyKind::EcP384 => {
                out.extend(self.digests.iter().map(|&d| SignatureAlgorithm::Ecdsa(d)));
            }
            KeyKind::Ed25519 => out.push(SignatureAlgorithm::Ed25519),
        }
        out.retain(|&alg| self.signs_message(kind, alg));
        out
    }
}

/// An unwrapped key kept for the signing path, with the exact blob and kind it came from: a
/// different blob under the same key id (a new key) is not served from the cache.
struct CachedKey {
    kind: KeyKind,
    wrapped: Box<[u8]>,
    pkey: PKey<Private>,
}

/// The software keystore: a KEK and a bounded cache of unwrapped keys.
pub(crate) struct SoftwareKeystore {
    kek: Kek,
    cache: RwLock<HashMap<String, CachedKey>>,
    capacity: usize,
}

impl fmt::Debug for SoftwareKeystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKeystore")
            .field("cached_keys", &self.cached_len())
            .finish_non_exhaustive()
    }
}

impl SoftwareKeystore {
    pub(crate) fn new(kek: Kek) -> Self {
        Self::with_cache_capacity(kek, CACHE_CAPACITY)
    }

    fn with_cache_capacity(kek: Kek, capacity: usize) -> Self {
        Self {
            kek,
            cache: RwLock::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// What this backend can do.
    pub(crate) fn describe() -> Capabilities {
        CAPABILITIES
    }

    /// Generates a key of `kind` inside this module and returns it wrapped under the KEK for
    /// `key_id`, with its public key. RSA below 2048 bits is refused.
    pub(crate) fn generate(
        &self,
        key_id: &str,
        kind: KeyKind,
    ) -> Result<GeneratedKey, KeystoreError> {
        let aad = wrap_aad(key_id, kind)?;
        let pkey = generate_key(kind)?;
        let pkcs8 = Zeroizing::new(pkey.private_key_to_pkcs8()?);
        let public_key_der = pkey.public_key_to_der()?;
        let wrapped = self.seal(&aad, &pkcs8)?;
        Ok(GeneratedKey {
            wrapped,
            public_key_der,
        })
    }

    /// Signs each digest with the key, in order. `alg` must fit the key and each digest's hash
    /// must be the algorithm's; Ed25519 signs messages and is refused here (see `sign_message`).
    pub(crate) fn sign(
        &self,
        key_id: &str,
        kind: KeyKind,
        wrapped: &[u8],
        alg: SignatureAlgorithm,
        digests: &[Digest],
    ) -> Result<Vec<Vec<u8>>, KeystoreError> {
        let hash = alg.digest().ok_or(KeystoreError::MessageOnly)?;
        alg.check_key(kind)
            .map_err(KeystoreError::AlgorithmMismatch)?;
        if digests.iter().any(|d| d.algorithm() != hash) {
            return Err(KeystoreError::DigestMismatch);
        }
        let pkey = self.unwrap_private(key_id, kind, wrapped)?;
        let mut ctx = digest_signing_ctx(&pkey, alg)?;
        let mut signatures = Vec::with_capacity(digests.len());
        for digest in digests {
            let mut sig = Vec::new();
            ctx.sign_to_vec(digest.as_bytes(), &mut sig)?;
            signatures.push(sig);
        }
        Ok(signatures)
    }

    /// Signs a whole message: PureEdDSA for Ed25519; for RSA and ECDSA the message is hashed
    /// with the algorithm's hash and signed as `sign` would.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "for signDoc (Ed25519 signs messages) and key destruction"
        )
    )]
    pub(crate) fn sign_message(
        &self,
        key_id: &str,
        kind: KeyKind,
        wrapped: &[u8],
        alg: SignatureAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, KeystoreError> {
        alg.check_key(kind)
            .map_err(KeystoreError::AlgorithmMismatch)?;
        let pkey = self.unwrap_private(key_id, kind, wrapped)?;
        match alg.digest() {
            None => Ok(Signer::new_without_digest(&pkey)?.sign_oneshot_to_vec(message)?),
            Some(hash) => {
                let digest = openssl::hash::hash(message_digest(hash), message)?;
                let mut sig = Vec::new();
                digest_signing_ctx(&pkey, alg)?.sign_to_vec(&digest, &mut sig)?;
                Ok(sig)
            }
        }
    }

    /// The private key, from the cache or unwrapped and checked against `kind`. For this crate's
    /// own uses (the development CA signs certificates with it); never returned outside the SAM.
    pub(crate) fn unwrap_private(
        &self,
        key_id: &str,
        kind: KeyKind,
        wrapped: &[u8],
    ) -> Result<PKey<Private>, KeystoreError> {
        if let Some(pkey) = self.cached(key_id, kind, wrapped)? {
            return Ok(pkey);
        }
        let aad = wrap_aad(key_id, kind)?;
        let pkcs8 = self.open(&aad, wrapped)?;
        let pkey = PKey::private_key_from_pkcs8(&pkcs8).map_err(|_| KeystoreError::Unwrap)?;
        if !key_is_of_kind(&pkey, kind) {
            return Err(KeystoreError::KeyKindMismatch);
        }
        self.remember(key_id, kind, wrapped, pkey.clone());
        Ok(pkey)
    }

    /// Drops a key from the cache (when it is destroyed or replaced).
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "for signDoc (Ed25519 signs messages) and key destruction"
        )
    )]
    pub(crate) fn forget(&self, key_id: &str) {
        self.cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key_id);
    }

    fn cached_len(&self) -> usize {
        self.cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn cached(
        &self,
        key_id: &str,
        kind: KeyKind,
        wrapped: &[u8],
    ) -> Result<Option<PKey<Private>>, KeystoreError> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        match cache.get(key_id) {
            Some(entry) if *entry.wrapped == *wrapped => {
                if entry.kind == kind {
                    Ok(Some(entry.pkey.clone()))
                } else {
                    Err(KeystoreError::KeyKindMismatch)
                }
            }
            _ => Ok(None),
        }
    }

    fn remember(&self, key_id: &str, kind: KeyKind, wrapped: &[u8], pkey: PKey<Private>) {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= self.capacity && !cache.contains_key(key_id) {
            // Any entry will do: an evicted key costs one unwrap on its next use.
            if let Some(victim) = cache.keys().next().cloned() {
                cache.remove(&victim);
            }
        }
        cache.insert(
            key_id.to_owned(),
            CachedKey {
                kind,
                wrapped: wrapped.into(),
                pkey,
            },
        );
    }

    /// AES-256-GCM under the KEK with a random nonce: `version || nonce || ciphertext || tag`.
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        openssl::rand::rand_bytes(&mut nonce)?;
        let mut crypter = Crypter::new(
            Cipher::aes_256_gcm(),
            Mode::Encrypt,
            self.kek.expose_bytes(),
            Some(&nonce),
        )?;
        crypter.aad_update(aad)?;
        let header = 1 + NONCE_LEN;
        let mut out = Vec::with_capacity(header + plaintext.len() + CIPHER_SLACK + TAG_LEN);
        out.push(WRAP_VERSION);
        out.extend_from_slice(&nonce);
        out.resize(header + plaintext.len() + CIPHER_SLACK, 0);
        let (_, body) = out.split_at_mut(header);
        let n = crypter.update(plaintext, body)?;
        let rest = body
            .get_mut(n..)
            .ok_or_else(|| KeystoreError::OpenSsl("AES-GCM wrote past its buffer".to_owned()))?;
        let m = crypter.finalize(rest)?;
        out.truncate(header + n + m);
        let mut tag = [0u8; TAG_LEN];
        crypter.get_tag(&mut tag)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Reverses `seal`. Every failure is the same `Unwrap` error; the clear text of a blob that
    /// fails authentication is zeroized too.
    fn open(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let fail = |_| KeystoreError::Unwrap;
        let (&version, rest) = wrapped.split_first().ok_or(KeystoreError::Unwrap)?;
        if version != WRAP_VERSION {
            return Err(KeystoreError::Unwrap);
        }
        let (nonce, rest) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(KeystoreError::Unwrap)?;
        let body_len = rest
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(KeystoreError::Unwrap)?;
        let (ciphertext, tag) = rest
            .split_at_checked(body_len)
            .ok_or(KeystoreError::Unwrap)?;
        let mut crypter = Crypter::new(
            Cipher::aes_256_gcm(),
            Mode::Decrypt,
            self.kek.expose_bytes(),
            Some(nonce),
        )
        .map_err(fail)?;
        crypter.aad_update(aad).map_err(fail)?;
        let mut out = Zeroizing::new(vec![0u8; ciphertext.len() + CIPHER_SLACK]);
        let n = crypter.update(ciphertext, &mut out).map_err(fail)?;
        crypter.set_tag(tag).map_err(fail)?;
        let rest = out.get_mut(n..).ok_or(KeystoreError::Unwrap)?;
        let m = crypter.finalize(rest).map_err(fail)?;
        out.truncate(n + m);
        Ok(out)
    }
}

/// Additional authenticated data of a wrapped key: a label, the format version, the key id
/// (length-prefixed), the key size and the kind's name (last, so the encoding is unambiguous).
fn wrap_aad(key_id: &str, kind: KeyKind) -> Result<Vec<u8>, KeystoreError> {
    let id_len = u8::try_from(key_id.len()).map_err(|_| KeystoreError::InvalidKeyId)?;
    if id_len == 0 {
        return Err(KeystoreError::InvalidKeyId);
    }
    let name = kind.name().as_bytes();
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 3 + key_id.len() + 4 + name.len());
    aad.extend_from_slice(AAD_LABEL);
    aad.push(0);
    aad.push(WRAP_VERSION);
    aad.push(id_len);
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(&kind.bits().to_be_bytes());
    aad.extend_from_slice(name);
    Ok(aad)
}

fn generate_key(kind: KeyKind) -> Result<PKey<Private>, KeystoreError> {
    match kind {
        KeyKind::Rsa { bits } if bits < MIN_RSA_BITS => Err(KeystoreError::WeakKey { bits }),
        KeyKind::Rsa {
            bits: bits @ (2048 | 3072 | 4096),
        } => Ok(PKey::from_rsa(Rsa::generate(bits)?)?),
        KeyKind::Rsa { .. } => Err(KeystoreError::UnsupportedKey(kind.name())),
        KeyKind::EcP256 => generate_ec(Nid::X9_62_PRIME256V1),
        KeyKind::EcP384 => generate_ec(Nid::SECP384R1),
        KeyKind::Ed25519 => Ok(PKey::generate_ed25519()?),
    }
}

fn generate_ec(curve: Nid) -> Result<PKey<Private>, KeystoreError> {
    let group = EcGroup::from_curve_name(curve)?;
    Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
}

/// Whether an unwrapped key really is of the kind its record says.
fn key_is_of_kind(pkey: &PKey<Private>, kind: KeyKind) -> bool {
    let curve = || pkey.ec_key().ok().and_then(|ec| ec.group().curve_name());
    match kind {
        KeyKind::Rsa { bits } => pkey.id() == Id::RSA && pkey.bits() == bits,
        KeyKind::EcP256 => pkey.id() == Id::EC && curve() == Some(Nid::X9_62_PRIME256V1),
        KeyKind::EcP384 => pkey.id() == Id::EC && curve() == Some(Nid::SECP384R1),
        KeyKind::Ed25519 => pkey.id() == Id::ED25519,
    }
}

/// A signing context set up for `alg` over a precomputed digest; reused for every digest of a
/// request. OpenSSL builds the DigestInfo (PKCS#1 v1.5) and checks each digest's length.
fn digest_signing_ctx(
    pkey: &PKey<Private>,
    alg: SignatureAlgorithm,
) -> Result<PkeyCtx<Private>, KeystoreError> {
    let mut ctx = PkeyCtx::new(pkey)?;
    ctx.sign_init()?;
    match alg {
        SignatureAlgorithm::RsaPkcs1(digest) => {
            ctx.set_rsa_padding(Padding::PKCS1)?;
            ctx.set_signature_md(md(digest))?;
        }
        SignatureAlgorithm::RsaPss {
            digest,
            mgf_digest,
            salt_len,
        } => {
            let salt_len = i32::try_from(salt_len).map_err(|_| {
                KeystoreError::AlgorithmMismatch(AlgError::InvalidPssParams(
                    "salt too long for the key",
                ))
            })?;
            ctx.set_rsa_padding(Padding::PKCS1_PSS)?;
            ctx.set_signature_md(md(digest))?;
            ctx.set_rsa_mgf1_md(md(mgf_digest))?;
            ctx.set_rsa_pss_saltlen(RsaPssSaltlen::custom(salt_len))?;
        }
        SignatureAlgorithm::Ecdsa(digest) => ctx.set_signature_md(md(digest))?,
        SignatureAlgorithm::Ed25519 => return Err(KeystoreError::MessageOnly),
    }
    Ok(ctx)
}

fn md(alg: DigestAlgorithm) -> &'static MdRef {
    match alg {
        DigestAlgorithm::Sha256 => Md::sha256(),
        DigestAlgorithm::Sha384 => Md::sha384(),
        DigestAlgorithm::Sha512 => Md::sha512(),
    }
}

fn message_digest(alg: DigestAlgorithm) -> MessageDigest {
    match alg {
        DigestAlgorithm::Sha256 => MessageDigest::sha256(),
        DigestAlgorithm::Sha384 => MessageDigest::sha384(),
        DigestAlgorithm::Sha512 => MessageDigest::sha512(),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;
    use std::process::Command;

    use openssl::sign::Verifier;
    use rand::RngCore;

    use super::*;

    const RSA2048: KeyKind = KeyKind::Rsa { bits: 2048 };
    /// The maximum RSASSA-PSS salt for RSA-2048 with SHA-256, as pyHanko sends it.
    const PYHANKO_PSS: SignatureAlgorithm = SignatureAlgorithm::RsaPss {
        digest: DigestAlgorithm::Sha256,
        mgf_digest: DigestAlgorithm::Sha256,
        salt_len: 222,
    };

    fn keystore() -> SoftwareKeystore {
        SoftwareKeystore::new(Kek::generate(&mut rand::rng()))
    }

    fn message() -> Vec<u8> {
        let mut m = vec![0u8; 100];
        rand::rng().fill_bytes(&mut m);
        m
    }

    fn digest_of(alg: DigestAlgorithm, message: &[u8]) -> Digest {
        let h = openssl::hash::hash(message_digest(alg), message).unwrap();
        Digest::new(alg, h.to_vec()).unwrap()
    }

    /// Verifies `sig` over the whole message with the openssl crate's `Verifier`, from the SPKI.
    fn verifies(spki: &[u8], alg: SignatureAlgorithm, message: &[u8], sig: &[u8]) -> bool {
        let public = PKey::public_key_from_der(spki).unwrap();
        let Some(hash) = alg.digest() else {
            let mut v = Verifier::new_without_digest(&public).unwrap();
            return v.verify_oneshot(sig, message).unwrap_or(false);
        };
        let mut v = Verifier::new(message_digest(hash), &public).unwrap();
        match alg {
            SignatureAlgorithm::RsaPkcs1(_) => v.set_rsa_padding(Padding::PKCS1).unwrap(),
            SignatureAlgorithm::RsaPss {
                mgf_digest,
                salt_len,
                ..
            } => {
                v.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
                v.set_rsa_mgf1_md(message_digest(mgf_digest)).unwrap();
                v.set_rsa_pss_saltlen(RsaPssSaltlen::custom(salt_len as i32))
                    .unwrap();
            }
            SignatureAlgorithm::Ecdsa(_) | SignatureAlgorithm::Ed25519 => {}
        }
        v.update(message).unwrap();
        v.verify(sig).unwrap_or(false)
    }

    /// A scratch directory for files handed to the `openssl` command line, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!(
                "qsign-keystore-{}-{:016x}",
                std::process::id(),
                rand::rng().next_u64()
            ));
            fs::create_dir(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, bytes).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// `openssl pkeyutl -verify` of `sig` over `input` with the public key from `spki`.
    fn pkeyutl_verifies(spki: &[u8], input: &[u8], sig: &[u8], opts: &[&str]) -> bool {
        let dir = Scratch::new();
        let pem = PKey::public_key_from_der(spki)
            .unwrap()
            .public_key_to_pem()
            .unwrap();
        let output = Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
            .arg(dir.write("pub.pem", &pem))
            .arg("-in")
            .arg(dir.write("input", input))
            .arg("-sigfile")
            .arg(dir.write("sig", sig))
            .args(opts)
            .output()
            .expect("the openssl command line runs");
        output.status.success()
    }

    #[test]
    fn declaration_is_not_qualified_and_not_extractable() {
        let caps = SoftwareKeystore::describe();
        assert!(!caps.extractable);
        assert!(!caps.qualified);
        assert!(caps.name.contains("NOT QUALIFIED"));
        for name in [
            "ecdsa-p256",
            "ecdsa-p384",
            "rsa-2048",
            "rsa-3072",
            "ed25519",
        ] {
            let kind = KeyKind::from_name(name).unwrap();
            assert!(caps.key_kinds.contains(&kind), "{name}");
        }
        assert_eq!(caps.digests, &DigestAlgorithm::ALL);
        assert!(caps.algorithms(RSA2048).contains(&PYHANKO_PSS));
        assert!(!caps.signs_digest(KeyKind::Ed25519, SignatureAlgorithm::Ed25519));
        assert!(caps.signs_message(KeyKind::Ed25519, SignatureAlgorithm::Ed25519));
        assert!(!caps.signs_digest(
            KeyKind::EcP256,
            SignatureAlgorithm::RsaPkcs1(DigestAlgorithm::Sha256)
        ));
    }

    #[test]
    fn every_declared_kind_signs_every_declared_algorithm_and_openssl_verifies() {
        let caps = SoftwareKeystore::describe();
        let ks = keystore();
        for &kind in caps.key_kinds {
            let key_id = format!("key-{}", kind.name());
            let key = ks.generate(&key_id, kind).unwrap();
            let algorithms = caps.algorithms(kind);
            assert!(!algorithms.is_empty(), "{kind:?}");
            for alg in algorithms {
                let (m1, m2) = (message(), message());
                if let Some(hash) = alg.digest() {
                    assert!(caps.signs_digest(kind, alg), "{kind:?} {alg:?}");
                    let digests = [digest_of(hash, &m1), digest_of(hash, &m2)];
                    let sigs = ks.sign(&key_id, kind, &key.wrapped, alg, &digests).unwrap();
                    assert_eq!(sigs.len(), 2);
                    assert!(verifies(&key.public_key_der, alg, &m1, &sigs[0]), "{alg:?}");
                    assert!(verifies(&key.public_key_der, alg, &m2, &sigs[1]), "{alg:?}");
                    assert!(
                        !verifies(&key.public_key_der, alg, &m2, &sigs[0]),
                        "{alg:?}"
                    );
                    if let SignatureAlgorithm::Ecdsa(_) = alg {
                        assert_eq!(sigs[0][0], 0x30, "ECDSA signatures are DER SEQUENCEs");
                    }
                } else {
                    assert!(!caps.signs_digest(kind, alg));
                    assert!(matches!(
                        ks.sign(&key_id, kind, &key.wrapped, alg, &[]),
                        Err(KeystoreError::MessageOnly)
                    ));
                }
                assert!(caps.signs_message(kind, alg), "{kind:?} {alg:?}");
                let sig = ks
                    .sign_message(&key_id, kind, &key.wrapped, alg, &m1)
                    .unwrap();
                assert!(verifies(&key.public_key_der, alg, &m1, &sig), "{alg:?}");
            }
        }
    }

    #[test]
    fn pkcs1_signature_covers_the_digest_info() {
        let ks = keystore();
        let key = ks.generate("k", RSA2048).unwrap();
        for hash in DigestAlgorithm::ALL {
            let digest = digest_of(hash, &message());
            let sig = ks
                .sign(
                    "k",
                    RSA2048,
                    &key.wrapped,
                    SignatureAlgorithm::RsaPkcs1(hash),
                    std::slice::from_ref(&digest),
                )
                .unwrap();
            let rsa = PKey::public_key_from_der(&key.public_key_der)
                .unwrap()
                .rsa()
                .unwrap();
            let mut recovered = vec![0u8; 256];
            let n = rsa
                .public_decrypt(&sig[0], &mut recovered, Padding::PKCS1)
                .unwrap();
            assert_eq!(recovered[..n], digest.digest_info()[..]);
        }
    }

    #[test]
    fn openssl_command_line_verifies_pkcs1_and_pyhanko_pss() {
        let ks = keystore();
        let key = ks.generate("rsa", RSA2048).unwrap();
        let digest = digest_of(DigestAlgorithm::Sha256, &message());
        let other = digest_of(DigestAlgorithm::Sha256, &message());
        let pkcs1 = SignatureAlgorithm::RsaPkcs1(DigestAlgorithm::Sha256);
        let sigs = ks
            .sign(
                "rsa",
                RSA2048,
                &key.wrapped,
                pkcs1,
                std::slice::from_ref(&digest),
            )
            .unwrap();
        let opts = ["-pkeyopt", "digest:sha256"];
        let spki = &key.public_key_der;
        assert!(pkeyutl_verifies(spki, digest.as_bytes(), &sigs[0], &opts));
        assert!(!pkeyutl_verifies(spki, other.as_bytes(), &sigs[0], &opts));

        let sigs = ks
            .sign(
                "rsa",
                RSA2048,
                &key.wrapped,
                PYHANKO_PSS,
                std::slice::from_ref(&digest),
            )
            .unwrap();
        let pss = |salt: &'static str| {
            [
                "-pkeyopt",
                "digest:sha256",
                "-pkeyopt",
                "rsa_padding_mode:pss",
                "-pkeyopt",
                "rsa_mgf1_md:sha256",
                "-pkeyopt",
                salt,
            ]
        };
        let exact = pss("rsa_pss_saltlen:222");
        assert!(pkeyutl_verifies(spki, digest.as_bytes(), &sigs[0], &exact));
        assert!(!pkeyutl_verifies(spki, other.as_bytes(), &sigs[0], &exact));
        let wrong_salt = pss("rsa_pss_saltlen:32");
        assert!(!pkeyutl_verifies(
            spki,
            digest.as_bytes(),
            &sigs[0],
            &wrong_salt
        ));
    }

    #[test]
    fn openssl_command_line_verifies_pss_with_another_mgf1_hash() {
        let ks = keystore();
        let kind = KeyKind::Rsa { bits: 3072 };
        let key = ks.generate("rsa", kind).unwrap();
        let alg = SignatureAlgorithm::RsaPss {
            digest: DigestAlgorithm::Sha384,
            mgf_digest: DigestAlgorithm::Sha512,
            salt_len: 48,
        };
        let digest = digest_of(DigestAlgorithm::Sha384, &message());
        let sigs = ks
            .sign(
                "rsa",
                kind,
                &key.wrapped,
                alg,
                std::slice::from_ref(&digest),
            )
            .unwrap();
        let opts = |mgf: &'static str| {
            [
                "-pkeyopt",
                "digest:sha384",
                "-pkeyopt",
                "rsa_padding_mode:pss",
                "-pkeyopt",
                mgf,
                "-pkeyopt",
                "rsa_pss_saltlen:48",
            ]
        };
        let spki = &key.public_key_der;
        assert!(pkeyutl_verifies(
            spki,
            digest.as_bytes(),
            &sigs[0],
            &opts("rsa_mgf1_md:sha512")
        ));
        assert!(!pkeyutl_verifies(
            spki,
            digest.as_bytes(),
            &sigs[0],
            &opts("rsa_mgf1_md:sha384")
        ));
    }

    #[test]
    fn openssl_command_line_verifies_ecdsa_and_ed25519() {
        let ks = keystore();
        for (kind, hash, opt) in [
            (KeyKind::EcP256, DigestAlgorithm::Sha256, "digest:sha256"),
            (KeyKind::EcP384, DigestAlgorithm::Sha384, "digest:sha384"),
        ] {
            let key = ks.generate("ec", kind).unwrap();
            let digest = digest_of(hash, &message());
            let other = digest_of(hash, &message());
            let sigs = ks
                .sign(
                    "ec",
                    kind,
                    &key.wrapped,
                    SignatureAlgorithm::Ecdsa(hash),
                    std::slice::from_ref(&digest),
                )
                .unwrap();
            let opts = ["-pkeyopt", opt];
            assert!(pkeyutl_verifies(
                &key.public_key_der,
                digest.as_bytes(),
                &sigs[0],
                &opts
            ));
            assert!(!pkeyutl_verifies(
                &key.public_key_der,
                other.as_bytes(),
                &sigs[0],
                &opts
            ));
        }

        let key = ks.generate("ed", KeyKind::Ed25519).unwrap();
        let m = message();
        let sig = ks
            .sign_message(
                "ed",
                KeyKind::Ed25519,
                &key.wrapped,
                SignatureAlgorithm::Ed25519,
                &m,
            )
            .unwrap();
        assert_eq!(sig.len(), 64);
        assert!(pkeyutl_verifies(&key.public_key_der, &m, &sig, &["-rawin"]));
        assert!(!pkeyutl_verifies(
            &key.public_key_der,
            &message(),
            &sig,
            &["-rawin"]
        ));
    }

    #[test]
    fn ec_public_keys_name_their_curve() {
        let ks = keystore();
        let p256 = ks.generate("a", KeyKind::EcP256).unwrap();
        let p384 = ks.generate("b", KeyKind::EcP384).unwrap();
        let p256_oid = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        let p384_oid = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
        assert!(p256.public_key_der.windows(10).any(|w| w == p256_oid));
        assert!(p384.public_key_der.windows(7).any(|w| w == p384_oid));
    }

    #[test]
    fn weak_and_unsupported_keys_are_refused() {
        let ks = keystore();
        assert!(matches!(
            ks.generate("k", KeyKind::Rsa { bits: 1024 }),
            Err(KeystoreError::WeakKey { bits: 1024 })
        ));
        assert!(matches!(
            ks.generate("k", KeyKind::Rsa { bits: 2560 }),
            Err(KeystoreError::UnsupportedKey(_))
        ));
        assert!(matches!(
            ks.generate("", KeyKind::EcP256),
            Err(KeystoreError::InvalidKeyId)
        ));
        assert!(matches!(
            ks.generate(&"k".repeat(256), KeyKind::EcP256),
            Err(KeystoreError::InvalidKeyId)
        ));
    }

    #[test]
    fn tampered_blob_fails_to_unwrap_in_every_part() {
        let ks = keystore();
        let key = ks.generate("k", KeyKind::EcP256).unwrap();
        let alg = SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256);
        let digest = [digest_of(DigestAlgorithm::Sha256, b"x")];
        // Version byte, nonce, ciphertext, tag.
        let last = key.wrapped.len() - 1;
        for at in [0, 1, 1 + NONCE_LEN, 40, last - TAG_LEN, last] {
            let mut blob = key.wrapped.clone();
            blob[at] ^= 0x01;
            assert!(
                matches!(
                    ks.sign("k", KeyKind::EcP256, &blob, alg, &digest),
                    Err(KeystoreError::Unwrap)
                ),
                "bit flipped at {at}"
            );
        }
        for len in [0, 1, 1 + NONCE_LEN, 1 + NONCE_LEN + TAG_LEN, last] {
            assert!(matches!(
                ks.sign("k", KeyKind::EcP256, &key.wrapped[..len], alg, &digest),
                Err(KeystoreError::Unwrap)
            ));
        }
        // The genuine blob still works, and its being cached does not let a tampered one through.
        ks.sign("k", KeyKind::EcP256, &key.wrapped, alg, &digest)
            .unwrap();
        let mut blob = key.wrapped.clone();
        blob[40] ^= 0x80;
        assert!(matches!(
            ks.sign("k", KeyKind::EcP256, &blob, alg, &digest),
            Err(KeystoreError::Unwrap)
        ));
    }

    #[test]
    fn blob_is_bound_to_its_key_id_and_kind() {
        let ks = keystore();
        let key = ks.generate("alice", KeyKind::EcP256).unwrap();
        let digest = [digest_of(DigestAlgorithm::Sha256, b"x")];
        let alg = SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256);
        assert!(matches!(
            ks.sign("bob", KeyKind::EcP256, &key.wrapped, alg, &digest),
            Err(KeystoreError::Unwrap)
        ));
        assert!(matches!(
            ks.sign("alice", KeyKind::EcP384, &key.wrapped, alg, &digest),
            Err(KeystoreError::Unwrap)
        ));
        let rsa = ks.generate("carol", RSA2048).unwrap();
        let pkcs1 = SignatureAlgorithm::RsaPkcs1(DigestAlgorithm::Sha256);
        assert!(matches!(
            ks.sign(
                "carol",
                KeyKind::Rsa { bits: 3072 },
                &rsa.wrapped,
                pkcs1,
                &digest
            ),
            Err(KeystoreError::Unwrap)
        ));
    }

    #[test]
    fn wrong_kek_fails_and_the_same_kek_read_back_works() {
        let kek = Kek::generate(&mut rand::rng());
        let stored = kek.expose_bytes().to_vec();
        let ks = SoftwareKeystore::new(kek);
        let key = ks.generate("k", KeyKind::Ed25519).unwrap();
        let alg = SignatureAlgorithm::Ed25519;

        let other = keystore();
        assert!(matches!(
            other.sign_message("k", KeyKind::Ed25519, &key.wrapped, alg, b"m"),
            Err(KeystoreError::Unwrap)
        ));
        let reopened = SoftwareKeystore::new(Kek::from_bytes(&stored).unwrap());
        let sig = reopened
            .sign_message("k", KeyKind::Ed25519, &key.wrapped, alg, b"m")
            .unwrap();
        assert!(verifies(&key.public_key_der, alg, b"m", &sig));
    }

    #[test]
    fn unwrapped_key_of_another_kind_is_refused() {
        let ks = keystore();
        let pkey = generate_key(KeyKind::EcP256).unwrap();
        let pkcs8 = pkey.private_key_to_pkcs8().unwrap();
        let blob = ks
            .seal(&wrap_aad("k", KeyKind::EcP384).unwrap(), &pkcs8)
            .unwrap();
        assert!(matches!(
            ks.unwrap_private("k", KeyKind::EcP384, &blob),
            Err(KeystoreError::KeyKindMismatch)
        ));
        let fine = ks
            .seal(&wrap_aad("k", KeyKind::EcP256).unwrap(), &pkcs8)
            .unwrap();
        let back = ks.unwrap_private("k", KeyKind::EcP256, &fine).unwrap();
        assert!(back.public_eq(&pkey));
    }

    #[test]
    fn algorithm_and_digest_checks() {
        let ks = keystore();
        let ec = ks.generate("ec", KeyKind::EcP256).unwrap();
        let rsa = ks.generate("rsa", RSA2048).unwrap();
        let ed = ks.generate("ed", KeyKind::Ed25519).unwrap();
        let sha256 = [digest_of(DigestAlgorithm::Sha256, b"x")];
        let sha384 = [digest_of(DigestAlgorithm::Sha384, b"x")];

        assert!(matches!(
            ks.sign(
                "ed",
                KeyKind::Ed25519,
                &ed.wrapped,
                SignatureAlgorithm::Ed25519,
                &sha256
            ),
            Err(KeystoreError::MessageOnly)
        ));
        assert!(matches!(
            ks.sign(
                "rsa",
                RSA2048,
                &rsa.wrapped,
                SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
                &sha256
            ),
            Err(KeystoreError::AlgorithmMismatch(AlgError::KeyMismatch))
        ));
        assert!(matches!(
            ks.sign(
                "ec",
                KeyKind::EcP256,
                &ec.wrapped,
                SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
                &[sha256[0].clone(), sha384[0].clone()]
            ),
            Err(KeystoreError::DigestMismatch)
        ));
        let too_salty = SignatureAlgorithm::RsaPss {
            digest: DigestAlgorithm::Sha256,
            mgf_digest: DigestAlgorithm::Sha256,
            salt_len: 223,
        };
        assert!(matches!(
            ks.sign("rsa", RSA2048, &rsa.wrapped, too_salty, &sha256),
            Err(KeystoreError::AlgorithmMismatch(
                AlgError::InvalidPssParams(_)
            ))
        ));
        assert!(matches!(
            ks.sign_message(
                "ec",
                KeyKind::EcP256,
                &ec.wrapped,
                SignatureAlgorithm::Ed25519,
                b"m"
            ),
            Err(KeystoreError::AlgorithmMismatch(AlgError::KeyMismatch))
        ));
        // An empty batch signs nothing.
        let none = ks
            .sign(
                "ec",
                KeyKind::EcP256,
                &ec.wrapped,
                SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
                &[],
            )
            .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn cache_hit_still_checks_the_kind() {
        let ks = keystore();
        let key = ks.generate("k", KeyKind::EcP256).unwrap();
        let alg = SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256);
        let digest = [digest_of(DigestAlgorithm::Sha256, b"x")];
        ks.sign("k", KeyKind::EcP256, &key.wrapped, alg, &digest)
            .unwrap();
        assert_eq!(ks.cached_len(), 1);
        assert!(matches!(
            ks.sign("k", KeyKind::EcP384, &key.wrapped, alg, &digest),
            Err(KeystoreError::KeyKindMismatch)
        ));
    }

    #[test]
    fn new_key_under_a_cached_key_id_is_not_served_from_the_cache() {
        let ks = keystore();
        let alg = SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256);
        let m = message();
        let digest = [digest_of(DigestAlgorithm::Sha256, &m)];
        let old = ks.generate("k", KeyKind::EcP256).unwrap();
        ks.sign("k", KeyKind::EcP256, &old.wrapped, alg, &digest)
            .unwrap();
        let new = ks.generate("k", KeyKind::EcP256).unwrap();
        let sigs = ks
            .sign("k", KeyKind::EcP256, &new.wrapped, alg, &digest)
            .unwrap();
        assert!(verifies(&new.public_key_der, alg, &m, &sigs[0]));
        assert!(!verifies(&old.public_key_der, alg, &m, &sigs[0]));
    }

    #[test]
    fn cache_is_bounded_and_forgets() {
        let ks = SoftwareKeystore::with_cache_capacity(Kek::generate(&mut rand::rng()), 2);
        let alg = SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256);
        let m = message();
        let digest = [digest_of(DigestAlgorithm::Sha256, &m)];
        let keys: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|id| (*id, ks.generate(id, KeyKind::EcP256).unwrap()))
            .collect();
        for _ in 0..2 {
            for (id, key) in &keys {
                let sigs = ks
                    .sign(id, KeyKind::EcP256, &key.wrapped, alg, &digest)
                    .unwrap();
                assert!(verifies(&key.public_key_der, alg, &m, &sigs[0]));
                assert!(ks.cached_len() <= 2);
            }
        }
        assert_eq!(ks.cached_len(), 2);
        for (id, _) in &keys {
            ks.forget(id);
        }
        assert_eq!(ks.cached_len(), 0);
    }

    #[test]
    fn keystore_is_shared_across_threads() {
        fn shareable<T: Send + Sync>(_: &T) {}
        let ks = keystore();
        shareable(&ks);
        let key = ks.generate("k", KeyKind::EcP256).unwrap();
        let alg = SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..50 {
                        let m = message();
                        let digest = [digest_of(DigestAlgorithm::Sha256, &m)];
                        let sigs = ks
                            .sign("k", KeyKind::EcP256, &key.wrapped, alg, &digest)
                            .unwrap();
                        assert!(verifies(&key.public_key_der, alg, &m, &sigs[0]));
                    }
                });
            }
        });
        assert_eq!(ks.cached_len(), 1);
    }

    #[test]
    fn kek_length_is_checked_and_nothing_secret_is_printed() {
        assert!(matches!(
            Kek::from_bytes(&[7; 31]),
            Err(KeystoreError::KekLength)
        ));
        assert!(matches!(
            Kek::from_bytes(&[7; 33]),
            Err(KeystoreError::KekLength)
        ));
        let kek = Kek::from_bytes(&[0xab; KEK_LEN]).unwrap();
        assert_eq!(kek.expose_bytes(), &[0xab; KEK_LEN]);
        assert_eq!(format!("{kek:?}"), "Kek { .. }");
        assert_eq!(format!("{kek:#?}"), "Kek { .. }");
        let ks = SoftwareKeystore::new(kek);
        let shown = format!("{ks:?}");
        assert_eq!(shown, "SoftwareKeystore { cached_keys: 0, .. }");
        assert!(!shown.contains("171") && !shown.contains("ab"));
        assert_eq!(
            KeystoreError::Unwrap.to_string(),
            "the wrapped key could not be unwrapped"
        );
        let key = ks.generate("k", KeyKind::EcP256).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.starts_with("GeneratedKey { wrapped_len: ") && !shown.contains('['));
    }
}
