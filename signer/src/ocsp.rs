//! OCSP (RFC 6960) on der 0.8: request and response types, the check of a response for one
//! certificate ([`check_response`]: signature by the issuer or a delegated responder, certID,
//! freshness, status), and a two-phase response encoder for a development CA
//! ([`ResponseBuilder`]).

use std::time::{Duration, SystemTime};

use der::asn1::{Any, BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Choice, Decode, Encode, Enumerated, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::Extensions;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

use crate::alg::{SignatureAlgorithm, oid};
use crate::tsp::GenTime;
use crate::verify;

/// Why an OCSP response is not accepted or cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum OcspError {
    #[error("the OCSP responder could not be reached: {0}")]
    Transport(String),
    #[error("the OCSP responder answered HTTP {0}")]
    HttpStatus(u16),
    #[error("not a DER OCSPResponse")]
    Malformed,
    #[error("the responder answered {0:?}")]
    Unsuccessful(ResponseStatus),
    #[error("the response is not a basic OCSP response")]
    NotBasic,
    #[error("the response has no answer for this certificate")]
    CertIdMismatch,
    #[error("the response's nonce does not match the request")]
    NonceMismatch,
    #[error("no responder certificate matches the response's responder ID")]
    UnknownResponder,
    #[error("the delegated responder certificate is not issued by the certificate's issuer")]
    ResponderNotIssuedByIssuer,
    #[error("the delegated responder certificate lacks the OCSPSigning extended key usage")]
    ResponderNotAuthorized,
    #[error("the delegated responder certificate is not valid at the time of the check")]
    ResponderCertificateExpired,
    #[error("the response signature does not verify: {0}")]
    BadSignature(verify::VerifyError),
    #[error("the response is not yet valid (thisUpdate in the future)")]
    NotYetValid,
    #[error("the response is stale (past nextUpdate or older than allowed)")]
    Stale,
    #[error("the certificate is revoked since {0:?}")]
    Revoked(SystemTime),
    #[error("the responder does not know the certificate")]
    Unknown,
    #[error("a certificate is not a DER X.509 certificate")]
    BadCertificate,
    #[error("the certificate has no OCSP responder address")]
    NoResponderUrl,
    #[error("DER encoding failed: {0}")]
    Encoding(der::Error),
}

impl From<der::Error> for OcspError {
    fn from(e: der::Error) -> Self {
        Self::Encoding(e)
    }
}

/// OCSPResponseStatus.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Enumerated)]
#[repr(u32)]
pub enum ResponseStatus {
    Successful = 0,
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    SigRequired = 5,
    Unauthorized = 6,
}

/// OCSPResponse.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct OcspResponse {
    pub response_status: ResponseStatus,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub response_bytes: Option<ResponseBytes>,
}

/// ResponseBytes.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct ResponseBytes {
    pub response_type: ObjectIdentifier,
    pub response: OctetString,
}

/// BasicOCSPResponse; `tbs_response_data` stays raw so its signature is checked over the bytes
/// received.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct BasicOcspResponse {
    pub tbs_response_data: Any,
    pub signature_algorithm: AlgorithmIdentifierOwned,
    pub signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub certs: Option<Vec<Certificate>>,
}

/// ResponseData.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct ResponseData {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub version: Option<u8>,
    pub responder_id: ResponderId,
    pub produced_at: GenTime,
    pub responses: Vec<SingleResponse>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub response_extensions: Option<Extensions>,
}

/// ResponderID.
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum ResponderId {
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    ByName(Name),
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

/// SingleResponse.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SingleResponse {
    pub cert_id: CertId,
    pub cert_status: CertStatus,
    pub this_update: GenTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub next_update: Option<GenTime>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub single_extensions: Option<Extensions>,
}

/// CertStatus.
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum CertStatus {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

/// RevokedInfo.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct RevokedInfo {
    pub revocation_time: GenTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub revocation_reason: Option<CrlReason>,
}

/// CRLReason.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Enumerated)]
#[repr(u32)]
pub enum CrlReason {
    Unspecified = 0,
    KeyCompromise = 1,
    CaCompromise = 2,
    AffiliationChanged = 3,
    Superseded = 4,
    CessationOfOperation = 5,
    CertificateHold = 6,
    RemoveFromCrl = 8,
    PrivilegeWithdrawn = 9,
    AaCompromise = 10,
}

/// CertID.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct CertId {
    pub hash_algorithm: AlgorithmIdentifierOwned,
    pub issuer_name_hash: OctetString,
    pub issuer_key_hash: OctetString,
    pub serial_number: SerialNumber,
}

/// OCSPRequest (unsigned).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct OcspRequest {
    pub tbs_request: TbsRequest,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub optional_signature: Option<Any>,
}

/// TBSRequest.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TbsRequest {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub version: Option<u8>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub requestor_name: Option<Any>,
    pub request_list: Vec<Request>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub request_extensions: Option<Extensions>,
}

/// Request.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Request {
    pub req_cert: CertId,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub single_request_extensions: Option<Extensions>,
}

/// The hash a CertID uses. SHA-1 is what responders universally understand; it only names the
/// certificate here, the response signature carries the security.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum CertIdHash {
    Sha1,
    Sha256,
}

impl CertIdHash {
    fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oid::SHA1,
            Self::Sha256 => oid::SHA256,
        }
    }

    fn from_oid(o: &ObjectIdentifier) -> Option<Self> {
        if *o == oid::SHA1 {
            Some(Self::Sha1)
        } else if *o == oid::SHA256 {
            Some(Self::Sha256)
        } else {
            None
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => openssl::hash::hash(openssl::hash::MessageDigest::sha1(), data)
                .map(|d| d.to_vec())
                .unwrap_or_default(),
            Self::Sha256 => crate::alg::DigestAlgorithm::Sha256
                .hash(data)
                .as_bytes()
                .to_vec(),
        }
    }
}

/// The SHA-1 hash of a certificate's subject public key bits (ResponderID byKey, CertID key hash).
fn key_hash(cert: &Certificate, alg: CertIdHash) -> Vec<u8> {
    alg.hash(
        cert.tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes(),
    )
}

impl CertId {
    /// The CertID naming `cert` (issued by `issuer`).
    pub fn new(
        cert: &Certificate,
        issuer: &Certificate,
        alg: CertIdHash,
    ) -> Result<Self, OcspError> {
        Ok(Self {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: alg.oid(),
                parameters: Some(Any::from(Null)),
            },
            issuer_name_hash: OctetString::new(
                alg.hash(&issuer.tbs_certificate().subject().to_der()?),
            )?,
            issuer_key_hash: OctetString::new(key_hash(issuer, alg))?,
            serial_number: cert.tbs_certificate().serial_number().clone(),
        })
    }

    /// Whether this CertID names `cert` issued by `issuer` (under its own hash algorithm;
    /// parameters NULL or absent alike).
    pub fn matches(&self, cert: &Certificate, issuer: &Certificate) -> bool {
        let Some(alg) = CertIdHash::from_oid(&self.hash_algorithm.oid) else {
            return false;
        };
        CertId::new(cert, issuer, alg).is_ok_and(|mine| {
            mine.issuer_name_hash == self.issuer_name_hash
                && mine.issuer_key_hash == self.issuer_key_hash
                && mine.serial_number == self.serial_number
        })
    }
}

/// A DER OCSPRequest for `cert` with a 16-byte nonce.
pub fn build_request(
    cert: &Certificate,
    issuer: &Certificate,
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, OcspError> {
    let request_extensions = match nonce {
        Some(n) => Some(vec![x509_cert::ext::Extension {
            extn_id: oid::PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(n)?.to_der()?)?,
        }]),
        None => None,
    };
    Ok(OcspRequest {
        tbs_request: TbsRequest {
            version: None,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: CertId::new(cert, issuer, CertIdHash::Sha1)?,
                single_request_extensions: None,
            }],
            request_extensions,
        },
        optional_signature: None,
    }
    .to_der()?)
}

/// The nonce value of an extension list, as the raw OCTET STRING contents (or the bare value if a
/// responder sent it unwrapped).
fn nonce_of(exts: Option<&Extensions>) -> Option<Vec<u8>> {
    let e = exts?.iter().find(|e| e.extn_id == oid::PKIX_OCSP_NONCE)?;
    let raw = e.extn_value.as_bytes();
    Some(
        OctetString::from_der(raw)
            .map(|o| o.as_bytes().to_vec())
            .unwrap_or_else(|_| raw.to_vec()),
    )
}

/// The nonce of a DER OCSPRequest, if any (for a responder to echo).
pub fn request_nonce(req: &OcspRequest) -> Option<Vec<u8>> {
    nonce_of(req.tbs_request.request_extensions.as_ref())
}

/// Freshness rules for revocation data.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    /// The time to judge at (from the caller's clock).
    pub now: SystemTime,
    /// Tolerated clock difference with the responder.
    pub skew: Duration,
    /// How old a response without nextUpdate may be.
    pub max_age_without_next_update: Duration,
}

impl Freshness {
    pub fn at(now: SystemTime) -> Self {
        Self {
            now,
            skew: Duration::from_secs(300),
            max_age_without_next_update: Duration::from_secs(3600),
        }
    }

    pub(crate) fn check(
        &self,
        this_update: SystemTime,
        next_update: Option<SystemTime>,
    ) -> Result<(), FreshnessError> {
        if this_update > self.now + self.skew {
            return Err(FreshnessError::NotYetValid);
        }
        match next_update {
            Some(n) if n + self.skew < self.now => Err(FreshnessError::Stale),
            None if this_update + self.max_age_without_next_update + self.skew < self.now => {
                Err(FreshnessError::Stale)
            }
            _ => Ok(()),
        }
    }
}

pub(crate) enum FreshnessError {
    NotYetValid,
    Stale,
}

/// A parsed, not yet checked, basic OCSP response.
#[derive(Debug, Clone)]
pub struct ParsedResponse {
    pub basic: BasicOcspResponse,
    pub data: ResponseData,
}

/// Parses a DER OCSPResponse down to its ResponseData (outside input: nothing checked but
/// structure and a successful status).
pub fn parse_response(der: &[u8]) -> Result<ParsedResponse, OcspError> {
    let resp = OcspResponse::from_der(der).map_err(|_| OcspError::Malformed)?;
    if resp.response_status != ResponseStatus::Successful {
        return Err(OcspError::Unsuccessful(resp.response_status));
    }
    let bytes = resp.response_bytes.ok_or(OcspError::Malformed)?;
    if bytes.response_type != oid::PKIX_OCSP_BASIC {
        return Err(OcspError::NotBasic);
    }
    let basic =
        BasicOcspResponse::from_der(bytes.response.as_bytes()).map_err(|_| OcspError::Malformed)?;
    let data: ResponseData = basic
        .tbs_response_data
        .decode_as()
        .map_err(|_| OcspError::Malformed)?;
    Ok(ParsedResponse { basic, data })
}

fn responder_matches(id: &ResponderId, cert: &Certificate) -> bool {
    match id {
        ResponderId::ByName(n) => n == cert.tbs_certificate().subject(),
        ResponderId::ByKey(k) => k.as_bytes() == key_hash(cert, CertIdHash::Sha1).as_slice(),
    }
}

/// Checks a DER OCSPResponse for `cert_der` issued by `issuer_der`: successful basic response, an
/// answer whose CertID names the certificate, the nonce if one was sent, a signature by the
/// issuer or by a responder certificate the issuer issued with EKU OCSPSigning, freshness at
/// `fresh`, and finally the status (good → `Ok`, revoked and unknown → errors).
pub fn check_response(
    der: &[u8],
    cert_der: &[u8],
    issuer_der: &[u8],
    nonce: Option<&[u8]>,
    fresh: &Freshness,
) -> Result<(), OcspError> {
    let cert = Certificate::from_der(cert_der).map_err(|_| OcspError::BadCertificate)?;
    let issuer = Certificate::from_der(issuer_der).map_err(|_| OcspError::BadCertificate)?;
    let parsed = parse_response(der)?;
    let single = parsed
        .data
        .responses
        .iter()
        .find(|r| r.cert_id.matches(&cert, &issuer))
        .ok_or(OcspError::CertIdMismatch)?;
    if let Some(n) = nonce
        && nonce_of(parsed.data.response_extensions.as_ref()).as_deref() != Some(n)
    {
        return Err(OcspError::NonceMismatch);
    }

    // Who signed: the issuer itself, or a delegated responder the issuer certified.
    let signer_der = if responder_matches(&parsed.data.responder_id, &issuer) {
        issuer_der.to_vec()
    } else {
        let responder = parsed
            .basic
            .certs
            .iter()
            .flatten()
            .find(|c| responder_matches(&parsed.data.responder_id, c))
            .ok_or(OcspError::UnknownResponder)?;
        let responder_der = responder.to_der()?;
        let r =
            openssl::x509::X509::from_der(&responder_der).map_err(|_| OcspError::BadCertificate)?;
        let issuer_key = verify::public_key(issuer_der).map_err(|_| OcspError::BadCertificate)?;
        if !r.verify(&issuer_key).unwrap_or(false)
            || responder.tbs_certificate().issuer() != issuer.tbs_certificate().subject()
        {
            return Err(OcspError::ResponderNotIssuedByIssuer);
        }
        let eku_ok = responder
            .tbs_certificate()
            .get_extension::<x509_cert::ext::pkix::ExtendedKeyUsage>()
            .ok()
            .flatten()
            .is_some_and(|(_, eku)| eku.0.contains(&oid::KP_OCSP_SIGNING));
        if !eku_ok {
            return Err(OcspError::ResponderNotAuthorized);
        }
        let validity = responder.tbs_certificate().validity();
        if validity.not_before.to_system_time() > fresh.now + fresh.skew
            || validity.not_after.to_system_time() + fresh.skew < fresh.now
        {
            return Err(OcspError::ResponderCertificateExpired);
        }
        responder_der
    };
    let alg = verify::signature_algorithm_from_identifier(&parsed.basic.signature_algorithm, None)
        .map_err(OcspError::BadSignature)?;
    let sig = parsed
        .basic
        .signature
        .as_bytes()
        .ok_or(OcspError::Malformed)?;
    verify::verify_signature(
        &signer_der,
        alg,
        &parsed.basic.tbs_response_data.to_der()?,
        sig,
    )
    .map_err(OcspError::BadSignature)?;

    fresh
        .check(
            single.this_update.to_system_time(),
            single.next_update.map(GenTime::to_system_time),
        )
        .map_err(|e| match e {
            FreshnessError::NotYetValid => OcspError::NotYetValid,
            FreshnessError::Stale => OcspError::Stale,
        })?;
    match &single.cert_status {
        CertStatus::Good(_) => Ok(()),
        CertStatus::Revoked(info) => Err(OcspError::Revoked(info.revocation_time.to_system_time())),
        CertStatus::Unknown(_) => Err(OcspError::Unknown),
    }
}

/// One answer in a response being built.
#[derive(Debug, Clone)]
pub struct Answer {
    pub cert_id: CertId,
    pub status: CertStatus,
    pub this_update: SystemTime,
    pub next_update: Option<SystemTime>,
}

/// Builds a basic OCSP response for a development CA in two phases: [`ResponseBuilder::prepare`]
/// gives the bytes to sign (tbsResponseData), [`PreparedResponse::finish`] takes the signature.
#[derive(Debug, Clone)]
pub struct ResponseBuilder {
    /// The signing certificate: the CA itself or a delegated responder (then embedded).
    pub responder_cert: Vec<u8>,
    pub delegated: bool,
    pub algorithm: SignatureAlgorithm,
}

/// A response waiting for its signature.
#[derive(Debug, Clone)]
pub struct PreparedResponse {
    tbs_der: Vec<u8>,
    builder: ResponseBuilder,
}

impl ResponseBuilder {
    pub fn prepare(
        &self,
        answers: &[Answer],
        produced_at: SystemTime,
        nonce: Option<&[u8]>,
    ) -> Result<PreparedResponse, OcspError> {
        let responder =
            Certificate::from_der(&self.responder_cert).map_err(|_| OcspError::BadCertificate)?;
        let responses = answers
            .iter()
            .map(|a| {
                Ok(SingleResponse {
                    cert_id: a.cert_id.clone(),
                    cert_status: a.status.clone(),
                    this_update: whole_seconds(a.this_update)?,
                    next_update: a.next_update.map(whole_seconds).transpose()?,
                    single_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, OcspError>>()?;
        let response_extensions = match nonce {
            Some(n) => Some(vec![x509_cert::ext::Extension {
                extn_id: oid::PKIX_OCSP_NONCE,
                critical: false,
                extn_value: OctetString::new(OctetString::new(n)?.to_der()?)?,
            }]),
            None => None,
        };
        let data = ResponseData {
            version: None,
            responder_id: ResponderId::ByKey(OctetString::new(key_hash(
                &responder,
                CertIdHash::Sha1,
            ))?),
            produced_at: whole_seconds(produced_at)?,
            responses,
            response_extensions,
        };
        Ok(PreparedResponse {
            tbs_der: data.to_der()?,
            builder: self.clone(),
        })
    }
}

fn whole_seconds(t: SystemTime) -> Result<GenTime, OcspError> {
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| OcspError::Malformed)?;
    // RFC 5280 4.1.2.5.2 profile: no fractional seconds.
    GeneralizedTime::from_unix_duration(Duration::from_secs(d.as_secs()))?;
    GenTime::from_unix_duration(Duration::from_secs(d.as_secs())).map_err(|_| OcspError::Malformed)
}

impl PreparedResponse {
    /// The bytes the responder key signs (DER tbsResponseData).
    pub fn to_be_signed(&self) -> crate::cades::ToBeSigned {
        match self.builder.algorithm.digest() {
            Some(d) => crate::cades::ToBeSigned::Digest(d.hash(&self.tbs_der)),
            None => crate::cades::ToBeSigned::Message(self.tbs_der.clone()),
        }
    }

    /// Checks `signature` with the responder certificate and returns the DER OCSPResponse.
    pub fn finish(self, signature: &[u8]) -> Result<Vec<u8>, OcspError> {
        verify::verify_signature(
            &self.builder.responder_cert,
            self.builder.algorithm,
            &self.tbs_der,
            signature,
        )
        .map_err(OcspError::BadSignature)?;
        let certs = if self.builder.delegated {
            Some(vec![
                Certificate::from_der(&self.builder.responder_cert)
                    .map_err(|_| OcspError::BadCertificate)?,
            ])
        } else {
            None
        };
        let basic = BasicOcspResponse {
            tbs_response_data: Any::from_der(&self.tbs_der)?,
            signature_algorithm: crate::cades::signature_algorithm_identifier(
                self.builder.algorithm,
            )
            .map_err(|_| OcspError::Malformed)?,
            signature: BitString::from_bytes(signature)?,
            certs,
        };
        Ok(OcspResponse {
            response_status: ResponseStatus::Successful,
            response_bytes: Some(ResponseBytes {
                response_type: oid::PKIX_OCSP_BASIC,
                response: OctetString::new(basic.to_der()?)?,
            }),
        }
        .to_der()?)
    }
}

/// A DER OCSPResponse carrying only an error status (no signature).
pub fn error_response(status: ResponseStatus) -> Result<Vec<u8>, OcspError> {
    Ok(OcspResponse {
        response_status: status,
        response_bytes: None,
    }
    .to_der()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_response_round_trips_and_is_refused() {
        let der = error_response(ResponseStatus::Unauthorized).unwrap();
        assert_eq!(der, [0x30, 0x03, 0x0a, 0x01, 0x06]);
        assert!(matches!(
            parse_response(&der),
            Err(OcspError::Unsuccessful(ResponseStatus::Unauthorized))
        ));
        assert!(matches!(
            parse_response(b"\x30\x00"),
            Err(OcspError::Malformed)
        ));
    }

    #[test]
    fn nonce_is_read_wrapped_or_bare() {
        let wrapped = vec![x509_cert::ext::Extension {
            extn_id: oid::PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(
                OctetString::new(vec![1, 2, 3]).unwrap().to_der().unwrap(),
            )
            .unwrap(),
        }];
        assert_eq!(nonce_of(Some(&wrapped)), Some(vec![1, 2, 3]));
        let bare = vec![x509_cert::ext::Extension {
            extn_id: oid::PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(vec![9, 9]).unwrap(),
        }];
        assert_eq!(nonce_of(Some(&bare)), Some(vec![9, 9]));
        assert_eq!(nonce_of(None), None);
    }

    #[test]
    fn freshness_windows() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let f = Freshness::at(now);
        let h = Duration::from_secs(3600);
        assert!(f.check(now - h, Some(now + h)).is_ok());
        assert!(matches!(
            f.check(now + 2 * h, None),
            Err(FreshnessError::NotYetValid)
        ));
        assert!(matches!(
            f.check(now - 2 * h, Some(now - h)),
            Err(FreshnessError::Stale)
        ));
        assert!(f.check(now - Duration::from_secs(600), None).is_ok());
        assert!(matches!(
            f.check(now - 2 * h, None),
            Err(FreshnessError::Stale)
        ));
    }
}
