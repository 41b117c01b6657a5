//! A software key for tools and tests (not qualified): loads a PEM private key and signs what a
//! `signer` builder asks for. The library itself never holds a key.

use anyhow::{Context, Result, bail};
use openssl::md::{Md, MdRef};
use openssl::pkey::{Id, PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer};
use signer::cades::ToBeSigned;
use signer::{DigestAlgorithm, KeyKind, SignatureAlgorithm};

pub fn load_key(pem: &[u8]) -> Result<PKey<Private>> {
    PKey::private_key_from_pem(pem).context("reading the PEM private key")
}

pub fn key_kind(key: &PKey<Private>) -> Result<KeyKind> {
    Ok(match key.id() {
        Id::RSA => KeyKind::Rsa { bits: key.bits() },
        Id::ED25519 => KeyKind::Ed25519,
        Id::EC => match key.bits() {
            256 => KeyKind::EcP256,
            384 => KeyKind::EcP384,
            b => bail!("unsupported EC key size {b}"),
        },
        _ => bail!("unsupported key type"),
    })
}

/// The usual algorithm for a key: PKCS#1 v1.5 SHA-256 for RSA, ECDSA with the curve's hash.
pub fn default_algorithm(kind: KeyKind) -> SignatureAlgorithm {
    match kind {
        KeyKind::Rsa { .. } => SignatureAlgorithm::RsaPkcs1(DigestAlgorithm::Sha256),
        KeyKind::EcP256 => SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
        KeyKind::EcP384 => SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha384),
        KeyKind::Ed25519 => SignatureAlgorithm::Ed25519,
    }
}

fn md(d: DigestAlgorithm) -> &'static MdRef {
    match d {
        DigestAlgorithm::Sha256 => Md::sha256(),
        DigestAlgorithm::Sha384 => Md::sha384(),
        DigestAlgorithm::Sha512 => Md::sha512(),
    }
}

/// Signs a builder's to-be-signed value the way a CSC `signHash` backend would.
pub fn sign(key: &PKey<Private>, alg: SignatureAlgorithm, tbs: &ToBeSigned) -> Result<Vec<u8>> {
    let mut sig = Vec::new();
    match (alg, tbs) {
        (SignatureAlgorithm::Ed25519, ToBeSigned::Message(m)) => {
            let mut s = Signer::new_without_digest(key)?;
            sig = s.sign_oneshot_to_vec(m)?;
        }
        (SignatureAlgorithm::RsaPkcs1(d) | SignatureAlgorithm::Ecdsa(d), ToBeSigned::Digest(h)) => {
            let mut ctx = PkeyCtx::new(key)?;
            ctx.sign_init()?;
            ctx.set_signature_md(md(d))?;
            if matches!(alg, SignatureAlgorithm::RsaPkcs1(_)) {
                ctx.set_rsa_padding(Padding::PKCS1)?;
            }
            ctx.sign_to_vec(h.as_bytes(), &mut sig)?;
        }
        (
            SignatureAlgorithm::RsaPss {
                digest,
                mgf_digest,
                salt_len,
            },
            ToBeSigned::Digest(h),
        ) => {
            let mut ctx = PkeyCtx::new(key)?;
            ctx.sign_init()?;
            ctx.set_rsa_padding(Padding::PKCS1_PSS)?;
            ctx.set_signature_md(md(digest))?;
            ctx.set_rsa_mgf1_md(md(mgf_digest))?;
            ctx.set_rsa_pss_saltlen(RsaPssSaltlen::custom(i32::try_from(salt_len)?))?;
            ctx.sign_to_vec(h.as_bytes(), &mut sig)?;
        }
        _ => bail!("the algorithm and the value to sign do not agree"),
    }
    Ok(sig)
}
