//! Signature verification against a certificate's public key (system OpenSSL): used to check a
//! signature handed to `finish` before it is released, and to check TSA tokens, OCSP responses
//! and CRLs signed by others.

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Verifier};
use spki::AlgorithmIdentifierOwned;

use crate::alg::{DigestAlgorithm, KeyKind, PssParams, SignatureAlgorithm, oid};

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the certificate is not a DER X.509 certificate")]
    BadCertificate,
    #[error("the public key is of an unsupported kind")]
    UnsupportedKey,
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    #[error("the signature algorithm does not match the key")]
    KeyMismatch,
    #[error("the signature does not verify")]
    BadSignature,
}

/// The public key in a DER certificate.
pub fn public_key(cert_der: &[u8]) -> Result<PKey<Public>, VerifyError> {
    openssl::x509::X509::from_der(cert_der)
        .and_then(|c| c.public_key())
        .map_err(|_| VerifyError::BadCertificate)
}

/// The kind of key a DER certificate certifies.
pub fn key_kind(cert_der: &[u8]) -> Result<KeyKind, VerifyError> {
    let key = public_key(cert_der)?;
    key_kind_of(&key)
}

fn key_kind_of(key: &PKey<Public>) -> Result<KeyKind, VerifyError> {
    use openssl::nid::Nid;
    use openssl::pkey::Id;
    match key.id() {
        Id::RSA => Ok(KeyKind::Rsa { bits: key.bits() }),
        Id::ED25519 => Ok(KeyKind::Ed25519),
        Id::EC => {
            let ec = key.ec_key().map_err(|_| VerifyError::UnsupportedKey)?;
            match ec.group().curve_name() {
                Some(Nid::X9_62_PRIME256V1) => Ok(KeyKind::EcP256),
                Some(Nid::SECP384R1) => Ok(KeyKind::EcP384),
                _ => Err(VerifyError::UnsupportedKey),
            }
        }
        _ => Err(VerifyError::UnsupportedKey),
    }
}

/// Checks `signature` over `message` (the bytes signed, not a digest) with the key of `cert_der`.
pub fn verify_signature(
    cert_der: &[u8],
    alg: SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    verify_with_key(&public_key(cert_der)?, alg, message, signature)
}

/// Checks `signature` over `message` with `key`.
pub fn verify_with_key(
    key: &PKey<Public>,
    alg: SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    alg.check_key(key_kind_of(key)?)
        .map_err(|_| VerifyError::KeyMismatch)?;
    let bad = |_| VerifyError::BadSignature;
    let ok = match alg {
        SignatureAlgorithm::Ed25519 => {
            let mut v = Verifier::new_without_digest(key).map_err(bad)?;
            v.verify_oneshot(signature, message).map_err(bad)?
        }
        SignatureAlgorithm::RsaPkcs1(d) | SignatureAlgorithm::Ecdsa(d) => {
            let mut v = Verifier::new(md(d), key).map_err(bad)?;
            v.update(message).map_err(bad)?;
            v.verify(signature).map_err(bad)?
        }
        SignatureAlgorithm::RsaPss {
            digest,
            mgf_digest,
            salt_len,
        } => {
            let mut v = Verifier::new(md(digest), key).map_err(bad)?;
            v.set_rsa_padding(Padding::PKCS1_PSS).map_err(bad)?;
            v.set_rsa_mgf1_md(md(mgf_digest)).map_err(bad)?;
            let salt = i32::try_from(salt_len).map_err(|_| VerifyError::BadSignature)?;
            v.set_rsa_pss_saltlen(RsaPssSaltlen::custom(salt))
                .map_err(bad)?;
            v.update(message).map_err(bad)?;
            v.verify(signature).map_err(bad)?
        }
    };
    if ok {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

fn md(d: DigestAlgorithm) -> MessageDigest {
    match d {
        DigestAlgorithm::Sha256 => MessageDigest::sha256(),
        DigestAlgorithm::Sha384 => MessageDigest::sha384(),
        DigestAlgorithm::Sha512 => MessageDigest::sha512(),
    }
}

/// Resolves an X.509/CMS signature AlgorithmIdentifier. `digest` is the CMS SignerInfo's digest
/// algorithm, needed when the identifier is the bare `rsaEncryption` or `id-ecPublicKey`.
pub fn signature_algorithm_from_identifier(
    id: &AlgorithmIdentifierOwned,
    digest: Option<DigestAlgorithm>,
) -> Result<SignatureAlgorithm, VerifyError> {
    let unsupported = |o: &ObjectIdentifier| VerifyError::UnsupportedAlgorithm(o.to_string());
    let o = id.oid;
    Ok(match o {
        x if x == oid::SHA256_WITH_RSA => SignatureAlgorithm::RsaPkcs1(DigestAlgorithm::Sha256),
        x if x == oid::SHA384_WITH_RSA => SignatureAlgorithm::RsaPkcs1(DigestAlgorithm::Sha384),
        x if x == oid::SHA512_WITH_RSA => SignatureAlgorithm::RsaPkcs1(DigestAlgorithm::Sha512),
        x if x == oid::ECDSA_WITH_SHA256 => SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
        x if x == oid::ECDSA_WITH_SHA384 => SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha384),
        x if x == oid::ECDSA_WITH_SHA512 => SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha512),
        x if x == oid::ED25519 => SignatureAlgorithm::Ed25519,
        x if x == oid::RSA_ENCRYPTION => {
            SignatureAlgorithm::RsaPkcs1(digest.ok_or_else(|| unsupported(&o))?)
        }
        x if x == oid::EC_PUBLIC_KEY => {
            SignatureAlgorithm::Ecdsa(digest.ok_or_else(|| unsupported(&o))?)
        }
        x if x == oid::RSASSA_PSS => {
            let params = id
                .parameters
                .as_ref()
                .ok_or_else(|| unsupported(&o))?
                .to_der()
                .map_err(|_| unsupported(&o))?;
            PssParams::from_der(&params).map_err(|_| unsupported(&o))?;
            SignatureAlgorithm::resolve(
                &o.to_string(),
                None,
                Some(&params),
                KeyKind::Rsa { bits: 16384 },
            )
            .map_err(|_| unsupported(&o))?
        }
        _ => return Err(unsupported(&o)),
    })
}
