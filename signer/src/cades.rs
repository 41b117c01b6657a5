//! CAdES (ETSI EN 319 122-1) signatures as CMS SignedData, built in two phases so the private key
//! never enters this crate:
//!
//! 1. [`prepare`] builds the signed attributes (content-type, message-digest,
//!    signing-certificate-v2, and signing-time only when asked: PAdES B-B must omit it) and returns
//!    a [`Prepared`] whose [`Prepared::to_be_signed`] is what the key must sign.
//! 2. [`Prepared::finish`] takes the signature made elsewhere, checks it against the signer's
//!    certificate and returns a [`CadesSignature`] (level B-B).
//!
//! Higher levels are added to a finished signature: [`CadesSignature::signature_timestamp_imprint`]
//! gives what a TSA must stamp and [`CadesSignature::add_signature_timestamp`] embeds the token
//! (B-T); [`CadesSignature::add_validation_data`] embeds certificates, CRLs and OCSP responses so
//! the signature validates offline (B-LT).

use std::time::{SystemTime, UNIX_EPOCH};

use cms::content_info::CmsVersion;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier, SignerInfo};
use der::asn1::{
    Any, GeneralizedTime, ObjectIdentifier, OctetString, OctetStringRef, SetOfVec, UtcTime,
};
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

use crate::alg::{Digest, DigestAlgorithm, SignatureAlgorithm};
use crate::oid;
use crate::verify;

/// Why a CAdES signature cannot be built or extended.
#[derive(Debug, thiserror::Error)]
pub enum CadesError {
    #[error("the signer certificate is not a DER X.509 certificate")]
    BadSignerCertificate,
    #[error("a chain certificate is not a DER X.509 certificate")]
    BadChainCertificate,
    #[error("the content digest uses {got}, the signature algorithm needs {expected}")]
    ContentDigestMismatch {
        expected: &'static str,
        got: &'static str,
    },
    #[error("the signing time cannot be encoded")]
    BadSigningTime,
    #[error("the signature does not verify with the signer certificate")]
    SignatureInvalid,
    #[error("the signature is not in the expected encoding")]
    SignatureEncoding,
    #[error("not a CMS SignedData structure")]
    NotSignedData,
    #[error("expected exactly one SignerInfo, found {0}")]
    SignerCount(usize),
    #[error("the time-stamp token is not an RFC 3161 token")]
    BadTimestampToken,
    #[error("the time-stamp token does not cover this signature value")]
    TimestampImprintMismatch,
    #[error("a CRL is not a DER CertificateList")]
    BadCrl,
    #[error("an OCSP response is not a DER OCSPResponse")]
    BadOcspResponse,
    #[error("DER encoding failed: {0}")]
    Encoding(der::Error),
}

impl From<der::Error> for CadesError {
    fn from(e: der::Error) -> Self {
        Self::Encoding(e)
    }
}

/// The content being signed.
#[derive(Debug, Clone)]
pub enum Content<'a> {
    /// The content travels inside the signature (`eContent` present).
    Attached(&'a [u8]),
    /// Detached: only the content's digest is known (PAdES hashes its byte ranges itself). Its
    /// algorithm must be the signature algorithm's digest (SHA-512 for Ed25519, RFC 8419).
    Detached(Digest),
}

/// What [`prepare`] needs. Certificates are DER.
#[derive(Debug, Clone)]
pub struct SignParams<'a> {
    /// The signer's certificate.
    pub signer_cert: &'a [u8],
    /// Issuing CA certificates (and optionally the root), embedded in `SignedData.certificates`.
    pub chain: &'a [Vec<u8>],
    /// The signature algorithm the key will use.
    pub algorithm: SignatureAlgorithm,
    pub content: Content<'a>,
    /// The claimed signing time; `None` omits the signing-time attribute (PAdES B-B).
    pub signing_time: Option<SystemTime>,
}

/// What the key must sign, according to the algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToBeSigned {
    /// Sign this digest (RSA PKCS#1 v1.5 over its DigestInfo, RSA-PSS, ECDSA). This is what a
    /// CSC `signHash` call carries.
    Digest(Digest),
    /// Sign these bytes (PureEdDSA: the DER of the signed attributes).
    Message(Vec<u8>),
}

/// The digest a CMS signature with `alg` uses for its message digest.
pub fn content_digest_algorithm(alg: SignatureAlgorithm) -> DigestAlgorithm {
    alg.digest().unwrap_or(DigestAlgorithm::Sha512)
}

/// A signature waiting for its signature value: the output of [`prepare`].
#[derive(Debug, Clone)]
pub struct Prepared {
    algorithm: SignatureAlgorithm,
    digest_alg: DigestAlgorithm,
    signer_cert_der: Vec<u8>,
    signer: Certificate,
    chain: Vec<Certificate>,
    econtent: Option<Vec<u8>>,
    signed_attrs: SetOfVec<Attribute>,
    signed_attrs_der: Vec<u8>,
}

/// Phase one: builds the signed attributes for `params`.
pub fn prepare(params: &SignParams<'_>) -> Result<Prepared, CadesError> {
    let signer =
        Certificate::from_der(params.signer_cert).map_err(|_| CadesError::BadSignerCertificate)?;
    let chain = params
        .chain
        .iter()
        .map(|c| Certificate::from_der(c).map_err(|_| CadesError::BadChainCertificate))
        .collect::<Result<Vec<_>, _>>()?;
    let digest_alg = content_digest_algorithm(params.algorithm);
    let (message_digest, econtent) = match &params.content {
        Content::Attached(data) => (digest_alg.hash(data), Some(data.to_vec())),
        Content::Detached(d) => {
            if d.algorithm() != digest_alg {
                return Err(CadesError::ContentDigestMismatch {
                    expected: digest_alg.name(),
                    got: d.algorithm().name(),
                });
            }
            (d.clone(), None)
        }
    };

    let mut attrs = SetOfVec::new();
    attrs.insert(attribute(oid::CONTENT_TYPE, Any::encode_from(&oid::DATA)?)?)?;
    if let Some(t) = params.signing_time {
        attrs.insert(attribute(oid::SIGNING_TIME, signing_time(t)?)?)?;
    }
    attrs.insert(attribute(
        oid::MESSAGE_DIGEST,
        Any::encode_from(&OctetStringRef::new(message_digest.as_bytes())?)?,
    )?)?;
    attrs.insert(attribute(
        oid::SIGNING_CERTIFICATE_V2,
        Any::encode_from(&SigningCertificateV2::for_cert(
            params.signer_cert,
            &signer,
            DigestAlgorithm::Sha256,
        )?)?,
    )?)?;
    let signed_attrs_der = attrs.to_der()?;
    Ok(Prepared {
        algorithm: params.algorithm,
        digest_alg,
        signer_cert_der: params.signer_cert.to_vec(),
        signer,
        chain,
        econtent,
        signed_attrs: attrs,
        signed_attrs_der,
    })
}

impl Prepared {
    /// What the key must sign.
    pub fn to_be_signed(&self) -> ToBeSigned {
        match self.algorithm.digest() {
            Some(d) => ToBeSigned::Digest(d.hash(&self.signed_attrs_der)),
            None => ToBeSigned::Message(self.signed_attrs_der.clone()),
        }
    }

    /// The DER `SET OF Attribute` the signature covers.
    pub fn signed_attributes_der(&self) -> &[u8] {
        &self.signed_attrs_der
    }

    /// Phase two: embeds `signature` (PKCS#1 / PSS bytes, a DER ECDSA-Sig-Value, or a raw
    /// Ed25519 signature) after checking it verifies with the signer certificate.
    pub fn finish(self, signature: &[u8]) -> Result<CadesSignature, CadesError> {
        if matches!(self.algorithm, SignatureAlgorithm::Ecdsa(_))
            && crate::alg::ecdsa_der_to_raw(signature, 66).is_err()
        {
            return Err(CadesError::SignatureEncoding);
        }
        verify::verify_signature(
            &self.signer_cert_der,
            self.algorithm,
            &self.signed_attrs_der,
            signature,
        )
        .map_err(|_| CadesError::SignatureInvalid)?;

        let sid = SignerIdentifier::IssuerAndSerialNumber(cms::cert::IssuerAndSerialNumber {
            issuer: self.signer.tbs_certificate().issuer().clone(),
            serial_number: self.signer.tbs_certificate().serial_number().clone(),
        });
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid,
            digest_alg: digest_algorithm_identifier(self.digest_alg),
            signed_attrs: Some(self.signed_attrs),
            signature_algorithm: signature_algorithm_identifier(self.algorithm)?,
            signature: OctetString::new(signature)?,
            unsigned_attrs: None,
        };
        let mut digest_algorithms = SetOfVec::new();
        digest_algorithms.insert(digest_algorithm_identifier(self.digest_alg))?;
        let mut certificates = SetOfVec::new();
        insert_unique(&mut certificates, Any::encode_from(&self.signer)?)?;
        for c in &self.chain {
            insert_unique(&mut certificates, Any::encode_from(c)?)?;
        }
        let mut signer_infos = SetOfVec::new();
        signer_infos.insert(signer_info)?;
        Ok(CadesSignature {
            signed_data: SignedData {
                version: CmsVersion::V1,
                digest_algorithms,
                encap_content_info: EncapsulatedContentInfo {
                    econtent_type: oid::DATA,
                    econtent: self
                        .econtent
                        .map(|c| Any::encode_from(&OctetString::new(c)?))
                        .transpose()?,
                },
                certificates: Some(certificates),
                crls: None,
                signer_infos,
            },
        })
    }
}

/// Certificates and revocation data (all DER) that let a signature validate offline (B-LT).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationData {
    pub certificates: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
    /// Complete `OCSPResponse` structures.
    pub ocsp_responses: Vec<Vec<u8>>,
}

impl ValidationData {
    /// Adds `other`'s items not already present.
    pub fn merge(&mut self, other: ValidationData) {
        for (mine, theirs) in [
            (&mut self.certificates, other.certificates),
            (&mut self.crls, other.crls),
            (&mut self.ocsp_responses, other.ocsp_responses),
        ] {
            for item in theirs {
                if !mine.contains(&item) {
                    mine.push(item);
                }
            }
        }
    }
}

/// A finished CMS SignedData with exactly one signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CadesSignature {
    signed_data: SignedData,
}

impl CadesSignature {
    /// Parses a DER `ContentInfo` holding a SignedData with one signer (outside input: no trust is
    /// implied by a successful parse).
    pub fn from_der(der: &[u8]) -> Result<Self, CadesError> {
        let ci =
            cms::content_info::ContentInfo::from_der(der).map_err(|_| CadesError::NotSignedData)?;
        if ci.content_type != oid::SIGNED_DATA {
            return Err(CadesError::NotSignedData);
        }
        let signed_data: SignedData = ci
            .content
            .decode_as()
            .map_err(|_| CadesError::NotSignedData)?;
        let n = signed_data.signer_infos.len();
        if n != 1 {
            return Err(CadesError::SignerCount(n));
        }
        Ok(Self { signed_data })
    }

    /// DER `ContentInfo` (the `.p7s` file, or PAdES `/Contents`).
    pub fn to_der(&self) -> Result<Vec<u8>, CadesError> {
        let ci = cms::content_info::ContentInfo {
            content_type: oid::SIGNED_DATA,
            content: Any::encode_from(&self.signed_data)?,
        };
        Ok(ci.to_der()?)
    }

    fn signer_info(&self) -> Result<&SignerInfo, CadesError> {
        self.signed_data
            .signer_infos
            .as_slice()
            .first()
            .ok_or(CadesError::SignerCount(0))
    }

    /// The signature value (what a signature-time-stamp covers).
    pub fn signature_value(&self) -> Result<&[u8], CadesError> {
        Ok(self.signer_info()?.signature.as_bytes())
    }

    /// The digest a TSA must stamp for a signature-time-stamp (B-T).
    pub fn signature_timestamp_imprint(&self, alg: DigestAlgorithm) -> Result<Digest, CadesError> {
        Ok(alg.hash(self.signature_value()?))
    }

    /// Embeds an RFC 3161 time-stamp token (DER `ContentInfo`) as the signature-time-stamp
    /// unsigned attribute, after checking its imprint covers this signature value.
    pub fn add_signature_timestamp(&mut self, token_der: &[u8]) -> Result<(), CadesError> {
        let token = crate::tsp::TimeStampToken::from_der(token_der)
            .map_err(|_| CadesError::BadTimestampToken)?;
        let info = token
            .tst_info()
            .map_err(|_| CadesError::BadTimestampToken)?;
        let alg = DigestAlgorithm::from_oid(&info.message_imprint.hash_algorithm.oid)
            .map_err(|_| CadesError::BadTimestampToken)?;
        if self.signature_timestamp_imprint(alg)?.as_bytes()
            != info.message_imprint.hashed_message.as_bytes()
        {
            return Err(CadesError::TimestampImprintMismatch);
        }
        let value = Any::from_der(token_der).map_err(|_| CadesError::BadTimestampToken)?;
        let attr = attribute(oid::SIGNATURE_TIME_STAMP_TOKEN, value)?;
        let si = self
            .signed_data
            .signer_infos
            .as_slice()
            .first()
            .cloned()
            .ok_or(CadesError::SignerCount(0))?;
        let mut si = si;
        let mut unsigned = si.unsigned_attrs.take().unwrap_or_default();
        unsigned.insert(attr)?;
        si.unsigned_attrs = Some(unsigned);
        let mut infos = SetOfVec::new();
        infos.insert(si)?;
        self.signed_data.signer_infos = infos;
        Ok(())
    }

    /// The embedded signature-time-stamp tokens (DER), in order.
    pub fn signature_timestamps(&self) -> Result<Vec<Vec<u8>>, CadesError> {
        let mut out = Vec::new();
        if let Some(attrs) = &self.signer_info()?.unsigned_attrs {
            for a in attrs.iter() {
                if a.oid == oid::SIGNATURE_TIME_STAMP_TOKEN {
                    for v in a.values.iter() {
                        out.push(v.to_der()?);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Embeds certificates in `SignedData.certificates`, CRLs in `SignedData.crls`, and OCSP
    /// responses in `SignedData.crls` as `other` revocation info (RFC 5940), skipping
    /// duplicates (B-LT).
    pub fn add_validation_data(&mut self, data: &ValidationData) -> Result<(), CadesError> {
        let certs = self
            .signed_data
            .certificates
            .get_or_insert_with(SetOfVec::new);
        for c in &data.certificates {
            let cert = Certificate::from_der(c).map_err(|_| CadesError::BadChainCertificate)?;
            insert_unique(certs, Any::encode_from(&cert)?)?;
        }
        let crls = self.signed_data.crls.get_or_insert_with(SetOfVec::new);
        for c in &data.crls {
            x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(c)
                .map_err(|_| CadesError::BadCrl)?;
            insert_unique(crls, Any::from_der(c).map_err(|_| CadesError::BadCrl)?)?;
        }
        let mut has_other = false;
        for r in &data.ocsp_responses {
            crate::ocsp::OcspResponse::from_der(r).map_err(|_| CadesError::BadOcspResponse)?;
            let other = OtherRevocationInfoFormat {
                other_rev_info_format: oid::RI_OCSP_RESPONSE,
                other_rev_info: Any::from_der(r).map_err(|_| CadesError::BadOcspResponse)?,
            };
            // [1] IMPLICIT OtherRevocationInfoFormat
            let body = other.to_der()?;
            let mut tagged = body;
            if let Some(first) = tagged.first_mut() {
                *first = 0xa1;
            }
            insert_unique(crls, Any::from_der(&tagged)?)?;
            has_other = true;
        }
        if crls.is_empty() {
            self.signed_data.crls = None;
        }
        let other_present = has_other
            || self.signed_data.crls.as_ref().is_some_and(|s| {
                s.iter().any(|a| {
                    der::Tagged::tag(a)
                        == der::Tag::ContextSpecific {
                            constructed: true,
                            number: der::TagNumber(1),
                        }
                })
            });
        if other_present {
            // RFC 5652 5.1: `other` revocation info requires version 5.
            self.signed_data.version = CmsVersion::V5;
        }
        Ok(())
    }

    /// The certificates, CRLs and OCSP responses embedded in `SignedData` (DER).
    pub fn validation_data(&self) -> Result<ValidationData, CadesError> {
        let mut out = ValidationData {
            certificates: self.certificates()?,
            ..ValidationData::default()
        };
        for a in self.signed_data.crls.iter().flat_map(|s| s.iter()) {
            let der = a.to_der()?;
            if der::Tagged::tag(a) == der::Tag::Sequence {
                out.crls.push(der);
            } else {
                // [1] IMPLICIT OtherRevocationInfoFormat: read it back as a SEQUENCE.
                let mut seq = der;
                if let Some(first) = seq.first_mut() {
                    *first = 0x30;
                }
                let other = OtherRevocationInfoFormat::from_der(&seq)?;
                if other.other_rev_info_format == oid::RI_OCSP_RESPONSE {
                    out.ocsp_responses.push(other.other_rev_info.to_der()?);
                }
            }
        }
        Ok(out)
    }

    /// The certificates embedded in the signature (DER).
    pub fn certificates(&self) -> Result<Vec<Vec<u8>>, CadesError> {
        let mut out = Vec::new();
        if let Some(c) = &self.signed_data.certificates {
            for a in c.iter() {
                out.push(a.to_der()?);
            }
        }
        Ok(out)
    }

    /// The attached content, if any.
    pub fn econtent(&self) -> Result<Option<Vec<u8>>, CadesError> {
        self.signed_data
            .encap_content_info
            .econtent
            .as_ref()
            .map(|a| {
                a.decode_as::<OctetString>()
                    .map(|o| o.into_bytes().to_vec())
                    .map_err(CadesError::Encoding)
            })
            .transpose()
    }
}

/// `SignedData` with certificates and revocation entries kept as raw DER, so `other` choices
/// (OCSP responses, RFC 5940) round-trip exactly.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct SignedData {
    pub version: CmsVersion,
    pub digest_algorithms: SetOfVec<AlgorithmIdentifierOwned>,
    pub encap_content_info: EncapsulatedContentInfo,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub certificates: Option<SetOfVec<Any>>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub crls: Option<SetOfVec<Any>>,
    pub signer_infos: SetOfVec<SignerInfo>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct OtherRevocationInfoFormat {
    other_rev_info_format: ObjectIdentifier,
    other_rev_info: Any,
}

/// SigningCertificateV2 (RFC 5035).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
    pub policies: Option<Any>,
}

/// ESSCertIDv2; `hash_algorithm` is `None` for the DEFAULT SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub cert_hash: OctetString,
    pub issuer_serial: Option<IssuerSerial>,
}

/// IssuerSerial (RFC 5035).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    pub issuer: Vec<GeneralName>,
    pub serial_number: SerialNumber,
}

impl SigningCertificateV2 {
    /// The attribute value naming `cert` (whose DER is `cert_der`).
    pub fn for_cert(
        cert_der: &[u8],
        cert: &Certificate,
        alg: DigestAlgorithm,
    ) -> Result<Self, CadesError> {
        Ok(Self {
            certs: vec![EssCertIdV2 {
                hash_algorithm: match alg {
                    DigestAlgorithm::Sha256 => None,
                    other => Some(digest_algorithm_identifier(other)),
                },
                cert_hash: OctetString::new(alg.hash(cert_der).as_bytes())?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(
                        cert.tbs_certificate().issuer().clone(),
                    )],
                    serial_number: cert.tbs_certificate().serial_number().clone(),
                }),
            }],
            policies: None,
        })
    }
}

fn insert_unique(set: &mut SetOfVec<Any>, item: Any) -> Result<(), CadesError> {
    if !set.iter().any(|a| *a == item) {
        set.insert(item)?;
    }
    Ok(())
}

pub(crate) fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, CadesError> {
    let mut values = SetOfVec::new();
    values.insert(value)?;
    Ok(Attribute { oid, values })
}

/// SigningTime: UTCTime until 2049, GeneralizedTime after (RFC 5652 11.3).
fn signing_time(t: SystemTime) -> Result<Any, CadesError> {
    let since = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| CadesError::BadSigningTime)?;
    let dt = der::DateTime::from_unix_duration(std::time::Duration::from_secs(since.as_secs()))
        .map_err(|_| CadesError::BadSigningTime)?;
    if dt.year() < 2050 {
        Ok(Any::encode_from(
            &UtcTime::from_date_time(dt).map_err(|_| CadesError::BadSigningTime)?,
        )?)
    } else {
        Ok(Any::encode_from(&GeneralizedTime::from_date_time(dt))?)
    }
}

/// The DigestAlgorithmIdentifier for `alg` (parameters absent, RFC 5754).
pub fn digest_algorithm_identifier(alg: DigestAlgorithm) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: alg.oid(),
        parameters: None,
    }
}

/// The SignatureAlgorithmIdentifier CMS carries for `alg`.
pub fn signature_algorithm_identifier(
    alg: SignatureAlgorithm,
) -> Result<AlgorithmIdentifierOwned, CadesError> {
    Ok(match alg {
        SignatureAlgorithm::RsaPkcs1(_) => AlgorithmIdentifierOwned {
            oid: alg.oid(),
            parameters: Some(Any::from(der::asn1::Null)),
        },
        SignatureAlgorithm::RsaPss { .. } => {
            let params = alg
                .pss_params_der()
                .map_err(|_| CadesError::SignatureEncoding)?
                .ok_or(CadesError::SignatureEncoding)?;
            AlgorithmIdentifierOwned {
                oid: alg.oid(),
                parameters: Some(Any::from_der(&params)?),
            }
        }
        SignatureAlgorithm::Ecdsa(_) | SignatureAlgorithm::Ed25519 => AlgorithmIdentifierOwned {
            oid: alg.oid(),
            parameters: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_data_merge_skips_duplicates() {
        let mut a = ValidationData {
            certificates: vec![vec![1], vec![2]],
            crls: vec![vec![3]],
            ocsp_responses: vec![],
        };
        a.merge(ValidationData {
            certificates: vec![vec![2], vec![4]],
            crls: vec![vec![3]],
            ocsp_responses: vec![vec![5]],
        });
        assert_eq!(a.certificates, vec![vec![1], vec![2], vec![4]]);
        assert_eq!(a.crls, vec![vec![3]]);
        assert_eq!(a.ocsp_responses, vec![vec![5]]);
    }

    #[test]
    fn signing_time_switches_to_generalized_time_in_2050() {
        let t2049 = UNIX_EPOCH + std::time::Duration::from_secs(2_524_607_999); // 2049-12-31T23:59:59Z
        let t2050 = UNIX_EPOCH + std::time::Duration::from_secs(2_524_608_000);
        assert_eq!(
            der::Tagged::tag(&signing_time(t2049).unwrap()),
            der::Tag::UtcTime
        );
        assert_eq!(
            der::Tagged::tag(&signing_time(t2050).unwrap()),
            der::Tag::GeneralizedTime
        );
    }

    #[test]
    fn garbage_is_not_a_signature() {
        assert!(matches!(
            CadesSignature::from_der(b"\x30\x03\x06\x01\x00"),
            Err(CadesError::NotSignedData)
        ));
        assert!(matches!(
            prepare(&SignParams {
                signer_cert: b"nope",
                chain: &[],
                algorithm: SignatureAlgorithm::Ed25519,
                content: Content::Attached(b""),
                signing_time: None,
            }),
            Err(CadesError::BadSignerCertificate)
        ));
    }

    #[test]
    fn ed25519_signs_over_sha512_message_digest() {
        assert_eq!(
            content_digest_algorithm(SignatureAlgorithm::Ed25519),
            DigestAlgorithm::Sha512
        );
        assert_eq!(
            content_digest_algorithm(SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha384)),
            DigestAlgorithm::Sha384
        );
    }
}
