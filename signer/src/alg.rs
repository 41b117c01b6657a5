//! Algorithm and OID tables: which digest and signature algorithms qsign speaks, how a CSC request's
//! `signAlgo` / `hashAlgorithmOID` / `signAlgoParams` resolve to one of them for a given key, and the
//! DER structures that travel with them (RSASSA-PSS parameters, DigestInfo, ECDSA signatures).

use der::asn1::{Null, ObjectIdentifier, OctetStringRef, UintRef};
use der::{Decode, Encode, Sequence};

/// Object identifiers used across qsign.
pub mod oid {
    use der::asn1::ObjectIdentifier as Oid;

    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    pub const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
    pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");

    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
    pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");

    pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");

    // CMS content types and attributes (RFC 5652, RFC 5035, RFC 3161, RFC 5940).
    pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
    pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
    pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
    pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
    pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
    pub const SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
    pub const SIGNATURE_TIME_STAMP_TOKEN: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.14");
    pub const TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
    pub const RI_OCSP_RESPONSE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.16.2");

    // PKIX extensions and OCSP (RFC 5280, RFC 6960).
    pub const KP_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
    pub const KP_OCSP_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.9");
    pub const PKIX_OCSP_BASIC: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.1");
    pub const PKIX_OCSP_NONCE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.2");
    pub const AD_OCSP: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1");
    pub const AD_CA_ISSUERS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.2");
    pub const SIGNING_CERTIFICATE_V1: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
    pub const CE_CRL_NUMBER: Oid = Oid::new_unwrap("2.5.29.20");
    pub const CE_ISSUING_DISTRIBUTION_POINT: Oid = Oid::new_unwrap("2.5.29.28");
    pub const CE_AUTHORITY_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.35");
    pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
}

/// Why an algorithm request cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlgError {
    #[error("malformed object identifier")]
    MalformedOid,
    #[error("unsupported hash algorithm {0}")]
    UnsupportedDigest(String),
    #[error("unsupported signature algorithm {0}")]
    UnsupportedSignatureAlgorithm(String),
    #[error("signature algorithm does not match the key")]
    KeyMismatch,
    #[error("hash algorithm required with this signature algorithm")]
    MissingDigest,
    #[error("hash algorithm does not match the signature algorithm")]
    DigestMismatch,
    #[error("invalid RSASSA-PSS parameters: {0}")]
    InvalidPssParams(&'static str),
    #[error("digest length {got} does not match {alg} ({expected} bytes)")]
    DigestLength {
        alg: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("invalid ECDSA signature encoding")]
    InvalidEcdsaSignature,
    #[error("DER encoding failed")]
    Encoding,
}

/// A digest algorithm qsign accepts for signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    pub const ALL: [DigestAlgorithm; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha256 => oid::SHA256,
            Self::Sha384 => oid::SHA384,
            Self::Sha512 => oid::SHA512,
        }
    }

    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    pub fn from_oid(oid: &ObjectIdentifier) -> Result<Self, AlgError> {
        Self::ALL
            .into_iter()
            .find(|d| d.oid() == *oid)
            .ok_or_else(|| AlgError::UnsupportedDigest(oid.to_string()))
    }

    /// Hashes `data` in one call.
    pub fn hash(self, data: &[u8]) -> Digest {
        let mut h = self.hasher();
        h.update(data);
        h.finish()
    }

    /// A streaming hasher (PAdES hashes the byte ranges of a large file piece by piece).
    pub fn hasher(self) -> Hasher {
        use sha2::Digest as _;
        Hasher(match self {
            Self::Sha256 => HasherInner::Sha256(sha2::Sha256::new()),
            Self::Sha384 => HasherInner::Sha384(sha2::Sha384::new()),
            Self::Sha512 => HasherInner::Sha512(sha2::Sha512::new()),
        })
    }

    /// Parses a dotted OID string as sent in CSC requests.
    pub fn from_oid_str(s: &str) -> Result<Self, AlgError> {
        Self::from_oid(&parse_oid(s)?)
    }

    /// The DER prefix of a DigestInfo for this algorithm (AlgorithmIdentifier with NULL parameters,
    /// then the OCTET STRING header); the digest follows it.
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Self::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Self::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Self::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// An incremental digest computation; [`Hasher::finish`] yields a length-checked [`Digest`].
#[derive(Clone)]
pub struct Hasher(HasherInner);

#[derive(Clone)]
enum HasherInner {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        use sha2::Digest as _;
        match &mut self.0 {
            HasherInner::Sha256(h) => h.update(data),
            HasherInner::Sha384(h) => h.update(data),
            HasherInner::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Digest {
        use sha2::Digest as _;
        match self.0 {
            HasherInner::Sha256(h) => Digest {
                alg: DigestAlgorithm::Sha256,
                bytes: h.finalize().to_vec(),
            },
            HasherInner::Sha384(h) => Digest {
                alg: DigestAlgorithm::Sha384,
                bytes: h.finalize().to_vec(),
            },
            HasherInner::Sha512(h) => Digest {
                alg: DigestAlgorithm::Sha512,
                bytes: h.finalize().to_vec(),
            },
        }
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").finish_non_exhaustive()
    }
}

/// The kind of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Rsa { bits: u32 },
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyKind {
    /// The names operators use (`qsign credential create --key …`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ecdsa-p256" => Some(Self::EcP256),
            "ecdsa-p384" => Some(Self::EcP384),
            "rsa-2048" => Some(Self::Rsa { bits: 2048 }),
            "rsa-3072" => Some(Self::Rsa { bits: 3072 }),
            "rsa-4096" => Some(Self::Rsa { bits: 4096 }),
            "ed25519" => Some(Self::Ed25519),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::EcP256 => "ecdsa-p256",
            Self::EcP384 => "ecdsa-p384",
            Self::Rsa { bits: 2048 } => "rsa-2048",
            Self::Rsa { bits: 3072 } => "rsa-3072",
            Self::Rsa { bits: 4096 } => "rsa-4096",
            Self::Rsa { .. } => "rsa",
            Self::Ed25519 => "ed25519",
        }
    }

    /// Key length in bits as CSC `key/len` reports it.
    pub fn bits(self) -> u32 {
        match self {
            Self::Rsa { bits } => bits,
            Self::EcP256 | Self::Ed25519 => 256,
            Self::EcP384 => 384,
        }
    }

    /// The key's algorithm OID (SubjectPublicKeyInfo algorithm).
    pub fn key_oid(self) -> ObjectIdentifier {
        match self {
            Self::Rsa { .. } => oid::RSA_ENCRYPTION,
            Self::EcP256 | Self::EcP384 => oid::EC_PUBLIC_KEY,
            Self::Ed25519 => oid::ED25519,
        }
    }

    /// The named curve, for EC keys.
    pub fn curve_oid(self) -> Option<ObjectIdentifier> {
        match self {
            Self::EcP256 => Some(oid::SECP256R1),
            Self::EcP384 => Some(oid::SECP384R1),
            Self::Rsa { .. } | Self::Ed25519 => None,
        }
    }

    /// Every signature algorithm OID that `signHash` accepts with this key, combined OIDs first
    /// (clients such as pyHanko pick from this list).
    pub fn sign_algo_oids(self) -> Vec<ObjectIdentifier> {
        match self {
            Self::Rsa { .. } => vec![
                oid::SHA256_WITH_RSA,
                oid::SHA384_WITH_RSA,
                oid::SHA512_WITH_RSA,
                oid::RSASSA_PSS,
                oid::RSA_ENCRYPTION,
            ],
            Self::EcP256 | Self::EcP384 => vec![
                oid::ECDSA_WITH_SHA256,
                oid::ECDSA_WITH_SHA384,
                oid::ECDSA_WITH_SHA512,
            ],
            Self::Ed25519 => vec![oid::ED25519],
        }
    }
}

/// A fully resolved signature algorithm over a precomputed digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5: the signature covers a DigestInfo.
    RsaPkcs1(DigestAlgorithm),
    /// RSASSA-PSS with MGF1 over `mgf_digest` and the given salt length.
    RsaPss {
        digest: DigestAlgorithm,
        mgf_digest: DigestAlgorithm,
        salt_len: u32,
    },
    /// ECDSA, the signature as a DER Ecdsa-Sig-Value.
    Ecdsa(DigestAlgorithm),
    /// PureEdDSA over a message (not a digest): only for formats that sign bytes.
    Ed25519,
}

impl SignatureAlgorithm {
    /// The digest the signature is computed over, if the algorithm signs a digest.
    pub fn digest(self) -> Option<DigestAlgorithm> {
        match self {
            Self::RsaPkcs1(d) | Self::Ecdsa(d) => Some(d),
            Self::RsaPss { digest, .. } => Some(digest),
            Self::Ed25519 => None,
        }
    }

    /// The algorithm's combined OID (for PKCS#1 v1.5 and ECDSA) or its own OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::RsaPkcs1(DigestAlgorithm::Sha256) => oid::SHA256_WITH_RSA,
            Self::RsaPkcs1(DigestAlgorithm::Sha384) => oid::SHA384_WITH_RSA,
            Self::RsaPkcs1(DigestAlgorithm::Sha512) => oid::SHA512_WITH_RSA,
            Self::RsaPss { .. } => oid::RSASSA_PSS,
            Self::Ecdsa(DigestAlgorithm::Sha256) => oid::ECDSA_WITH_SHA256,
            Self::Ecdsa(DigestAlgorithm::Sha384) => oid::ECDSA_WITH_SHA384,
            Self::Ecdsa(DigestAlgorithm::Sha512) => oid::ECDSA_WITH_SHA512,
            Self::Ed25519 => oid::ED25519,
        }
    }

    /// DER of the RSASSA-PSS parameters for this algorithm, `None` for other algorithms.
    pub fn pss_params_der(self) -> Result<Option<Vec<u8>>, AlgError> {
        match self {
            Self::RsaPss {
                digest,
                mgf_digest,
                salt_len,
            } => PssParams::new(digest, mgf_digest, salt_len)
                .to_der()
                .map(Some)
                .map_err(|_| AlgError::Encoding),
            Self::RsaPkcs1(_) | Self::Ecdsa(_) | Self::Ed25519 => Ok(None),
        }
    }

    /// Resolves a CSC request's `signAlgo`, optional `hashAlgo`/`hashAlgorithmOID` and optional
    /// `signAlgoParams` (DER) for a key of kind `key`.
    ///
    /// Combined OIDs imply the digest; if a hash OID is also given it must agree. The bare
    /// `rsaEncryption` OID means PKCS#1 v1.5 with the given hash OID (the server builds the
    /// DigestInfo). RSASSA-PSS takes its digest, MGF and salt length from the parameters, falling
    /// back to the hash OID with a salt as long as the digest.
    pub fn resolve(
        sign_algo: &str,
        hash_algo: Option<&str>,
        params_der: Option<&[u8]>,
        key: KeyKind,
    ) -> Result<Self, AlgError> {
        let sign_oid = parse_oid(sign_algo)?;
        let hash = hash_algo.map(DigestAlgorithm::from_oid_str).transpose()?;
        let implied = |d: DigestAlgorithm| match hash {
            Some(h) if h != d => Err(AlgError::DigestMismatch),
            _ => Ok(d),
        };
        let alg = match sign_oid {
            o if o == oid::SHA256_WITH_RSA => Self::RsaPkcs1(implied(DigestAlgorithm::Sha256)?),
            o if o == oid::SHA384_WITH_RSA => Self::RsaPkcs1(implied(DigestAlgorithm::Sha384)?),
            o if o == oid::SHA512_WITH_RSA => Self::RsaPkcs1(implied(DigestAlgorithm::Sha512)?),
            o if o == oid::RSA_ENCRYPTION => Self::RsaPkcs1(hash.ok_or(AlgError::MissingDigest)?),
            o if o == oid::RSASSA_PSS => match params_der {
                Some(der) => {
                    let p = PssParams::from_der(der)
                        .map_err(|_| AlgError::InvalidPssParams("not a DER RSASSA-PSS-params"))?;
                    let (digest, mgf_digest, salt_len) = p.resolve()?;
                    Self::RsaPss {
                        digest: implied(digest)?,
                        mgf_digest,
                        salt_len,
                    }
                }
                None => {
                    let digest = hash.ok_or(AlgError::MissingDigest)?;
                    Self::RsaPss {
                        digest,
                        mgf_digest: digest,
                        salt_len: u32::try_from(digest.output_len())
                            .map_err(|_| AlgError::Encoding)?,
                    }
                }
            },
            o if o == oid::ECDSA_WITH_SHA256 => Self::Ecdsa(implied(DigestAlgorithm::Sha256)?),
            o if o == oid::ECDSA_WITH_SHA384 => Self::Ecdsa(implied(DigestAlgorithm::Sha384)?),
            o if o == oid::ECDSA_WITH_SHA512 => Self::Ecdsa(implied(DigestAlgorithm::Sha512)?),
            o if o == oid::EC_PUBLIC_KEY => Self::Ecdsa(hash.ok_or(AlgError::MissingDigest)?),
            o if o == oid::ED25519 => Self::Ed25519,
            o => return Err(AlgError::UnsupportedSignatureAlgorithm(o.to_string())),
        };
        alg.check_key(key)?;
        Ok(alg)
    }

    /// Refuses an algorithm the key cannot perform, and PSS salts too long for the modulus.
    pub fn check_key(self, key: KeyKind) -> Result<(), AlgError> {
        match (self, key) {
            (Self::RsaPkcs1(_), KeyKind::Rsa { .. }) => Ok(()),
            (
                Self::RsaPss {
                    digest, salt_len, ..
                },
                KeyKind::Rsa { bits },
            ) => {
                // emLen = ceil((modBits - 1) / 8) must hold hLen + sLen + 2.
                let em_len = (u64::from(bits) - 1).div_ceil(8);
                let need = digest.output_len() as u64 + u64::from(salt_len) + 2;
                if need > em_len {
                    Err(AlgError::InvalidPssParams("salt too long for the key"))
                } else {
                    Ok(())
                }
            }
            (Self::Ecdsa(_), KeyKind::EcP256 | KeyKind::EcP384) => Ok(()),
            (Self::Ed25519, KeyKind::Ed25519) => Ok(()),
            _ => Err(AlgError::KeyMismatch),
        }
    }
}

/// Parses a dotted-decimal OID.
pub fn parse_oid(s: &str) -> Result<ObjectIdentifier, AlgError> {
    ObjectIdentifier::new(s.trim()).map_err(|_| AlgError::MalformedOid)
}

/// `AlgorithmIdentifier` with optional parameters kept as raw DER.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct AlgorithmIdentifier {
    pub algorithm: ObjectIdentifier,
    pub parameters: Option<der::Any>,
}

/// RSASSA-PSS-params (RFC 8017 A.2.3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifier>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub mask_gen_algorithm: Option<AlgorithmIdentifier>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub trailer_field: Option<u32>,
}

impl PssParams {
    pub fn new(digest: DigestAlgorithm, mgf_digest: DigestAlgorithm, salt_len: u32) -> Self {
        let null = der::Any::from(Null);
        let mgf_inner = AlgorithmIdentifier {
            algorithm: mgf_digest.oid(),
            parameters: Some(null.clone()),
        };
        Self {
            hash_algorithm: Some(AlgorithmIdentifier {
                algorithm: digest.oid(),
                parameters: Some(null),
            }),
            mask_gen_algorithm: mgf_inner.to_der().ok().and_then(|d| {
                der::Any::from_der(&d).ok().map(|any| AlgorithmIdentifier {
                    algorithm: oid::MGF1,
                    parameters: Some(any),
                })
            }),
            salt_length: Some(salt_len),
            trailer_field: None,
        }
    }

    /// The digest, MGF1 digest and salt length, with RFC 8017 defaults (SHA-1 is refused).
    fn resolve(&self) -> Result<(DigestAlgorithm, DigestAlgorithm, u32), AlgError> {
        let digest = match &self.hash_algorithm {
            Some(a) => DigestAlgorithm::from_oid(&a.algorithm)?,
            None => return Err(AlgError::InvalidPssParams("SHA-1 is not accepted")),
        };
        let mgf_digest = match &self.mask_gen_algorithm {
            Some(m) if m.algorithm == oid::MGF1 => {
                let inner = m
                    .parameters
                    .as_ref()
                    .ok_or(AlgError::InvalidPssParams("MGF1 without a hash"))?;
                let inner: AlgorithmIdentifier = inner
                    .decode_as()
                    .map_err(|_| AlgError::InvalidPssParams("MGF1 hash is not an algorithm"))?;
                DigestAlgorithm::from_oid(&inner.algorithm)?
            }
            Some(_) => return Err(AlgError::InvalidPssParams("mask generation is not MGF1")),
            None => return Err(AlgError::InvalidPssParams("SHA-1 MGF is not accepted")),
        };
        if self.trailer_field.is_some_and(|t| t != 1) {
            return Err(AlgError::InvalidPssParams("trailer field must be 1"));
        }
        Ok((digest, mgf_digest, self.salt_length.unwrap_or(20)))
    }
}

/// A length-checked digest: the only way a digest reaches a signing operation.
#[derive(Clone, PartialEq, Eq)]
pub struct Digest {
    alg: DigestAlgorithm,
    bytes: Vec<u8>,
}

impl Digest {
    pub fn new(alg: DigestAlgorithm, bytes: Vec<u8>) -> Result<Self, AlgError> {
        if bytes.len() != alg.output_len() {
            return Err(AlgError::DigestLength {
                alg: alg.name(),
                expected: alg.output_len(),
                got: bytes.len(),
            });
        }
        Ok(Self { alg, bytes })
    }

    pub fn algorithm(&self) -> DigestAlgorithm {
        self.alg
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// DER DigestInfo over this digest, as PKCS#1 v1.5 signs it.
    pub fn digest_info(&self) -> Vec<u8> {
        let prefix = self.alg.digest_info_prefix();
        let mut out = Vec::with_capacity(prefix.len() + self.bytes.len());
        out.extend_from_slice(prefix);
        out.extend_from_slice(&self.bytes);
        out
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({:?}, ", self.alg)?;
        for b in &self.bytes {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// Parses a DER DigestInfo into its digest.
pub fn parse_digest_info(der: &[u8]) -> Result<Digest, AlgError> {
    #[derive(Sequence)]
    struct DigestInfo<'a> {
        algorithm: AlgorithmIdentifier,
        digest: &'a OctetStringRef,
    }
    let di = DigestInfo::from_der(der).map_err(|_| AlgError::Encoding)?;
    let alg = DigestAlgorithm::from_oid(&di.algorithm.algorithm)?;
    Digest::new(alg, di.digest.as_bytes().to_vec())
}

#[derive(Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// Converts a raw `r || s` ECDSA signature (as PKCS#11 `CKM_ECDSA` returns it) into a DER
/// Ecdsa-Sig-Value (as CMS and CSC clients need it).
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, AlgError> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(AlgError::InvalidEcdsaSignature);
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let sig = EcdsaSigValue {
        r: UintRef::new(r).map_err(|_| AlgError::InvalidEcdsaSignature)?,
        s: UintRef::new(s).map_err(|_| AlgError::InvalidEcdsaSignature)?,
    };
    sig.to_der().map_err(|_| AlgError::Encoding)
}

/// Converts a DER Ecdsa-Sig-Value into raw `r || s`, each padded to `field_len` bytes.
pub fn ecdsa_der_to_raw(der: &[u8], field_len: usize) -> Result<Vec<u8>, AlgError> {
    let sig = EcdsaSigValue::from_der(der).map_err(|_| AlgError::InvalidEcdsaSignature)?;
    let mut out = vec![0u8; field_len * 2];
    for (i, v) in [sig.r, sig.s].iter().enumerate() {
        let bytes = v.as_bytes();
        if bytes.len() > field_len {
            return Err(AlgError::InvalidEcdsaSignature);
        }
        let end = field_len * (i + 1);
        let start = end - bytes.len();
        out.get_mut(start..end)
            .ok_or(AlgError::InvalidEcdsaSignature)?
            .copy_from_slice(bytes);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA2048: KeyKind = KeyKind::Rsa { bits: 2048 };

    #[test]
    fn combined_oids_resolve_and_agree_with_hash() {
        let a = SignatureAlgorithm::resolve("1.2.840.113549.1.1.11", None, None, RSA2048).unwrap();
        assert_eq!(a, SignatureAlgorithm::RsaPkcs1(DigestAlgorithm::Sha256));
        let e = SignatureAlgorithm::resolve(
            "1.2.840.113549.1.1.11",
            Some("2.16.840.1.101.3.4.2.2"),
            None,
            RSA2048,
        );
        assert_eq!(e, Err(AlgError::DigestMismatch));
    }

    #[test]
    fn bare_rsa_needs_hash() {
        assert_eq!(
            SignatureAlgorithm::resolve("1.2.840.113549.1.1.1", None, None, RSA2048),
            Err(AlgError::MissingDigest)
        );
        assert_eq!(
            SignatureAlgorithm::resolve(
                "1.2.840.113549.1.1.1",
                Some("2.16.840.1.101.3.4.2.3"),
                None,
                RSA2048
            ),
            Ok(SignatureAlgorithm::RsaPkcs1(DigestAlgorithm::Sha512))
        );
    }

    #[test]
    fn key_mismatch_is_refused() {
        assert_eq!(
            SignatureAlgorithm::resolve("1.2.840.10045.4.3.2", None, None, RSA2048),
            Err(AlgError::KeyMismatch)
        );
        assert_eq!(
            SignatureAlgorithm::resolve("1.2.840.113549.1.1.11", None, None, KeyKind::EcP256),
            Err(AlgError::KeyMismatch)
        );
    }

    #[test]
    fn unknown_and_malformed_oids() {
        assert!(matches!(
            SignatureAlgorithm::resolve("1.2.3.4", None, None, RSA2048),
            Err(AlgError::UnsupportedSignatureAlgorithm(_))
        ));
        assert_eq!(
            SignatureAlgorithm::resolve("not an oid", None, None, RSA2048),
            Err(AlgError::MalformedOid)
        );
        assert!(matches!(
            DigestAlgorithm::from_oid_str("1.3.14.3.2.26"),
            Err(AlgError::UnsupportedDigest(_))
        ));
    }

    #[test]
    fn pss_params_round_trip_with_max_salt() {
        let der = PssParams::new(DigestAlgorithm::Sha256, DigestAlgorithm::Sha256, 222)
            .to_der()
            .unwrap();
        let a = SignatureAlgorithm::resolve("1.2.840.113549.1.1.10", None, Some(&der), RSA2048)
            .unwrap();
        assert_eq!(
            a,
            SignatureAlgorithm::RsaPss {
                digest: DigestAlgorithm::Sha256,
                mgf_digest: DigestAlgorithm::Sha256,
                salt_len: 222
            }
        );
        assert_eq!(a.pss_params_der().unwrap().unwrap(), der);
        let too_long = PssParams::new(DigestAlgorithm::Sha256, DigestAlgorithm::Sha256, 223)
            .to_der()
            .unwrap();
        assert!(matches!(
            SignatureAlgorithm::resolve("1.2.840.113549.1.1.10", None, Some(&too_long), RSA2048),
            Err(AlgError::InvalidPssParams(_))
        ));
        assert!(matches!(
            SignatureAlgorithm::resolve("1.2.840.113549.1.1.10", None, Some(b"junk"), RSA2048),
            Err(AlgError::InvalidPssParams(_))
        ));
    }

    #[test]
    fn digest_length_is_checked_and_digest_info_parses_back() {
        assert!(matches!(
            Digest::new(DigestAlgorithm::Sha256, vec![0; 31]),
            Err(AlgError::DigestLength { .. })
        ));
        for alg in DigestAlgorithm::ALL {
            let d = Digest::new(alg, vec![7; alg.output_len()]).unwrap();
            let di = d.digest_info();
            assert_eq!(di.len(), 19 + alg.output_len());
            assert_eq!(parse_digest_info(&di).unwrap(), d);
        }
    }

    #[test]
    fn ecdsa_der_raw_round_trip() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // high bit: DER needs a leading zero
        raw[63] = 1;
        raw[33] = 5; // s starts with a zero byte
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(ecdsa_der_to_raw(&der, 32).unwrap(), raw);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_err());
        assert!(ecdsa_der_to_raw(b"\x30\x00", 32).is_err());
    }
}
