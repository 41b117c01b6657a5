//! RFC 3161 time-stamps on der 0.8: request/response/TSTInfo types, a client that checks what a
//! TSA answers ([`TsaClient`]), a token check usable on any embedded token
//! ([`TimeStampToken::verify`]), and a two-phase token encoder for a built-in TSA
//! ([`TsaSigner::prepare`] → signature made elsewhere → [`PreparedToken::finish`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cms::content_info::CmsVersion;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier, SignerInfo};
use der::asn1::{Any, BitString, Int, ObjectIdentifier, OctetString, SetOfVec, Utf8StringRef};
use der::{
    Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    Writer,
};
use rand::RngCore;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;

use crate::alg::{Digest, DigestAlgorithm, SignatureAlgorithm, oid};
use crate::cades::{
    SignedData, SigningCertificateV2, attribute, digest_algorithm_identifier,
    signature_algorithm_identifier,
};
use crate::verify;

/// Why a time-stamp could not be obtained, checked or made.
#[derive(Debug, thiserror::Error)]
pub enum TspError {
    #[error("the TSA could not be reached: {0}")]
    Transport(String),
    #[error("the TSA answered HTTP {0}")]
    HttpStatus(u16),
    #[error("the TSA answer is not a DER TimeStampResp")]
    BadResponse,
    #[error("the TSA refused the request (status {status}): {text}")]
    Rejected { status: u32, text: String },
    #[error("the TSA granted the request but sent no token")]
    MissingToken,
    #[error("the token is not a SignedData over a TSTInfo")]
    BadToken,
    #[error("the token's TSTInfo is malformed")]
    BadTstInfo,
    #[error("the token stamps a different message imprint")]
    ImprintMismatch,
    #[error("the token's nonce does not match the request")]
    NonceMismatch,
    #[error("the token's policy {got} is not the requested {expected}")]
    PolicyMismatch { expected: String, got: String },
    #[error("the token carries no TSA certificate")]
    MissingTsaCertificate,
    #[error("the TSA certificate lacks a critical extended key usage of exactly timeStamping")]
    TsaCertificateUsage,
    #[error("the token's signing-certificate attribute does not name the TSA certificate")]
    SigningCertificateMismatch,
    #[error("the token's message-digest does not match its TSTInfo")]
    MessageDigestMismatch,
    #[error("the token's signature does not verify: {0}")]
    BadSignature(verify::VerifyError),
    #[error("the request is not a DER TimeStampReq")]
    BadRequest,
    #[error("unsupported digest algorithm in the message imprint")]
    UnsupportedDigest,
    #[error("the time cannot be encoded")]
    BadTime,
    #[error("DER encoding failed: {0}")]
    Encoding(der::Error),
}

impl From<der::Error> for TspError {
    fn from(e: der::Error) -> Self {
        Self::Encoding(e)
    }
}

/// MessageImprint.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct MessageImprint {
    pub hash_algorithm: AlgorithmIdentifierOwned,
    pub hashed_message: OctetString,
}

impl MessageImprint {
    pub fn new(digest: &Digest) -> Result<Self, TspError> {
        Ok(Self {
            hash_algorithm: digest_algorithm_identifier(digest.algorithm()),
            hashed_message: OctetString::new(digest.as_bytes())?,
        })
    }

    /// The imprint as a length-checked digest (refuses algorithms qsign does not accept).
    pub fn digest(&self) -> Result<Digest, TspError> {
        let alg = DigestAlgorithm::from_oid(&self.hash_algorithm.oid)
            .map_err(|_| TspError::UnsupportedDigest)?;
        Digest::new(alg, self.hashed_message.as_bytes().to_vec())
            .map_err(|_| TspError::UnsupportedDigest)
    }
}

/// TimeStampReq.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampReq {
    pub version: u8,
    pub message_imprint: MessageImprint,
    pub req_policy: Option<ObjectIdentifier>,
    pub nonce: Option<Int>,
    #[asn1(default = "Default::default")]
    pub cert_req: bool,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// PKIStatusInfo.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PkiStatusInfo {
    pub status: u32,
    pub status_string: Option<Vec<Any>>,
    pub fail_info: Option<BitString>,
}

impl PkiStatusInfo {
    fn text(&self) -> String {
        self.status_string
            .iter()
            .flatten()
            .filter_map(|a| {
                a.decode_as::<Utf8StringRef<'_>>()
                    .ok()
                    .map(|s| s.to_string())
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// PKIStatus values.
pub mod status {
    pub const GRANTED: u32 = 0;
    pub const GRANTED_WITH_MODS: u32 = 1;
    pub const REJECTION: u32 = 2;
    pub const WAITING: u32 = 3;
}

/// TimeStampResp.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampResp {
    pub status: PkiStatusInfo,
    pub time_stamp_token: Option<Any>,
}

/// Accuracy.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Sequence)]
pub struct Accuracy {
    pub seconds: Option<u32>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub micros: Option<u16>,
}

/// TSTInfo.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TstInfo {
    pub version: u8,
    pub policy: ObjectIdentifier,
    pub message_imprint: MessageImprint,
    pub serial_number: Int,
    pub gen_time: GenTime,
    pub accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    pub nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// A GeneralizedTime that may carry fractional seconds (`20261203154220.976Z`), as TSAs send:
/// der's own `GeneralizedTime` refuses them. Encoded without trailing zeros (X.690 11.7).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Ord, PartialOrd)]
pub struct GenTime {
    since_epoch: Duration,
}

impl GenTime {
    pub fn from_system_time(t: SystemTime) -> Result<Self, TspError> {
        let since_epoch = t
            .duration_since(UNIX_EPOCH)
            .map_err(|_| TspError::BadTime)?;
        Self::from_unix_duration(since_epoch)
    }

    pub fn from_unix_duration(since_epoch: Duration) -> Result<Self, TspError> {
        der::DateTime::from_unix_duration(Duration::from_secs(since_epoch.as_secs()))
            .map_err(|_| TspError::BadTime)?;
        Ok(Self { since_epoch })
    }

    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + self.since_epoch
    }

    pub fn to_unix_duration(self) -> Duration {
        self.since_epoch
    }

    fn to_text(self) -> der::Result<String> {
        let dt =
            der::DateTime::from_unix_duration(Duration::from_secs(self.since_epoch.as_secs()))?;
        let mut s = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minutes(),
            dt.seconds()
        );
        let nanos = self.since_epoch.subsec_nanos();
        if nanos != 0 {
            let frac = format!("{nanos:09}");
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        s.push('Z');
        Ok(s)
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let body = text.strip_suffix('Z')?;
        let (whole, frac) = match body.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (body, None),
        };
        if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let num = |r: std::ops::Range<usize>| whole.get(r).and_then(|s| s.parse::<u16>().ok());
        let dt = der::DateTime::new(
            num(0..4)?,
            u8::try_from(num(4..6)?).ok()?,
            u8::try_from(num(6..8)?).ok()?,
            u8::try_from(num(8..10)?).ok()?,
            u8::try_from(num(10..12)?).ok()?,
            u8::try_from(num(12..14)?).ok()?,
        )
        .ok()?;
        let mut nanos = 0u32;
        if let Some(f) = frac {
            // DER: at least one digit, no trailing zero, at most nanosecond precision here.
            if f.is_empty()
                || f.len() > 9
                || f.ends_with('0')
                || !f.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let padded = format!("{f:0<9}");
            nanos = padded.parse().ok()?;
        }
        Some(Self {
            since_epoch: dt.unix_duration() + Duration::from_nanos(u64::from(nanos)),
        })
    }
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for GenTime {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bytes = reader.read_vec(header.length())?;
        Self::parse(&bytes).ok_or_else(|| reader.error(Tag::GeneralizedTime.value_error()))
    }
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.to_text()?.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.to_text()?.as_bytes())
    }
}

/// An RFC 3161 time-stamp token: a SignedData whose content is a DER TSTInfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeStampToken {
    der: Vec<u8>,
    signed_data: SignedData,
    tst_info_der: Vec<u8>,
}

impl TimeStampToken {
    /// Parses a token (DER `ContentInfo`). Outside input: nothing is trusted until
    /// [`TimeStampToken::verify`].
    pub fn from_der(der: &[u8]) -> Result<Self, TspError> {
        let ci = cms::content_info::ContentInfo::from_der(der).map_err(|_| TspError::BadToken)?;
        if ci.content_type != oid::SIGNED_DATA {
            return Err(TspError::BadToken);
        }
        let signed_data: SignedData = ci.content.decode_as().map_err(|_| TspError::BadToken)?;
        let eci = &signed_data.encap_content_info;
        if eci.econtent_type != oid::TST_INFO || signed_data.signer_infos.len() != 1 {
            return Err(TspError::BadToken);
        }
        let tst_info_der = eci
            .econtent
            .as_ref()
            .ok_or(TspError::BadToken)?
            .decode_as::<OctetString>()
            .map_err(|_| TspError::BadToken)?
            .as_bytes()
            .to_vec();
        Ok(Self {
            der: der.to_vec(),
            signed_data,
            tst_info_der,
        })
    }

    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    pub fn tst_info(&self) -> Result<TstInfo, TspError> {
        TstInfo::from_der(&self.tst_info_der).map_err(|_| TspError::BadTstInfo)
    }

    /// The DER certificates embedded in the token.
    pub fn certificates(&self) -> Vec<Vec<u8>> {
        self.signed_data
            .certificates
            .iter()
            .flat_map(|s| s.iter())
            .filter_map(|a| a.to_der().ok())
            .collect()
    }

    /// Checks the token's signature with the TSA certificate (`tsa_cert`, or the one embedded in
    /// the token that the SignerInfo names), that the certificate's only extended key usage is a
    /// critical timeStamping, that the ESS signing-certificate attribute names it, and that the
    /// message-digest covers the TSTInfo. Returns the TSA certificate used (DER). It does not
    /// build a path to a trust anchor: that is the validator's job.
    pub fn verify(&self, tsa_cert: Option<&[u8]>) -> Result<Vec<u8>, TspError> {
        let si = self
            .signed_data
            .signer_infos
            .as_slice()
            .first()
            .ok_or(TspError::BadToken)?;
        let cert_der = match tsa_cert {
            Some(c) => c.to_vec(),
            None => find_signer_cert(&self.signed_data, &si.sid)
                .ok_or(TspError::MissingTsaCertificate)?,
        };
        let cert = Certificate::from_der(&cert_der).map_err(|_| TspError::MissingTsaCertificate)?;
        check_timestamping_eku(&cert)?;
        let attrs = si.signed_attrs.as_ref().ok_or(TspError::BadToken)?;
        let digest_alg =
            DigestAlgorithm::from_oid(&si.digest_alg.oid).map_err(|_| TspError::BadToken)?;
        let mut md_ok = false;
        let mut ct_ok = false;
        let mut ess_ok = false;
        for a in attrs.iter() {
            let Some(v) = a.values.as_slice().first() else {
                continue;
            };
            if a.oid == oid::MESSAGE_DIGEST {
                let got = v
                    .decode_as::<OctetString>()
                    .map_err(|_| TspError::BadToken)?;
                md_ok = got.as_bytes() == digest_alg.hash(&self.tst_info_der).as_bytes();
            } else if a.oid == oid::CONTENT_TYPE {
                ct_ok = v.decode_as::<ObjectIdentifier>().ok() == Some(oid::TST_INFO);
            } else if a.oid == oid::SIGNING_CERTIFICATE_V2 {
                let sc: SigningCertificateV2 = v.decode_as().map_err(|_| TspError::BadToken)?;
                ess_ok = sc.certs.first().is_some_and(|id| {
                    let alg = match &id.hash_algorithm {
                        None => Some(DigestAlgorithm::Sha256),
                        Some(a) => DigestAlgorithm::from_oid(&a.oid).ok(),
                    };
                    alg.is_some_and(|alg| alg.hash(&cert_der).as_bytes() == id.cert_hash.as_bytes())
                });
            } else if a.oid == oid::SIGNING_CERTIFICATE_V1 {
                // ESSCertID: SHA-1 hash first in SEQUENCE { certs SEQUENCE OF { certHash ... } }.
                ess_ok = v
                    .decode_as::<SigningCertificateV1>()
                    .ok()
                    .and_then(|sc| sc.certs.into_iter().next())
                    .is_some_and(|id| {
                        openssl::hash::hash(openssl::hash::MessageDigest::sha1(), &cert_der)
                            .is_ok_and(|h| h.as_ref() == id.cert_hash.as_bytes())
                    });
            }
        }
        if !ct_ok {
            return Err(TspError::BadToken);
        }
        if !md_ok {
            return Err(TspError::MessageDigestMismatch);
        }
        if !ess_ok {
            return Err(TspError::SigningCertificateMismatch);
        }
        let alg =
            verify::signature_algorithm_from_identifier(&si.signature_algorithm, Some(digest_alg))
                .map_err(TspError::BadSignature)?;
        verify::verify_signature(&cert_der, alg, &attrs.to_der()?, si.signature.as_bytes())
            .map_err(TspError::BadSignature)?;
        Ok(cert_der)
    }
}

#[derive(Sequence)]
struct SigningCertificateV1 {
    certs: Vec<EssCertIdV1>,
    policies: Option<Any>,
}

#[derive(Sequence)]
struct EssCertIdV1 {
    cert_hash: OctetString,
    issuer_serial: Option<Any>,
}

fn find_signer_cert(sd: &SignedData, sid: &SignerIdentifier) -> Option<Vec<u8>> {
    sd.certificates.iter().flat_map(|s| s.iter()).find_map(|a| {
        let der = a.to_der().ok()?;
        let cert = Certificate::from_der(&der).ok()?;
        let tbs = cert.tbs_certificate();
        let matches = match sid {
            SignerIdentifier::IssuerAndSerialNumber(isn) => {
                isn.issuer == *tbs.issuer() && isn.serial_number == *tbs.serial_number()
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => tbs
                .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
                .ok()
                .flatten()
                .is_some_and(|(_, s)| s == *ski),
        };
        matches.then_some(der)
    })
}

/// RFC 3161 2.3: the TSA certificate has exactly one extended key usage, timeStamping, marked
/// critical.
pub fn check_timestamping_eku(cert: &Certificate) -> Result<(), TspError> {
    let (critical, eku) = cert
        .tbs_certificate()
        .get_extension::<x509_cert::ext::pkix::ExtendedKeyUsage>()
        .map_err(|_| TspError::TsaCertificateUsage)?
        .ok_or(TspError::TsaCertificateUsage)?;
    if !critical || eku.0.as_slice() != [oid::KP_TIME_STAMPING] {
        return Err(TspError::TsaCertificateUsage);
    }
    Ok(())
}

fn random_positive_int(rng: &mut impl RngCore, len: usize) -> Result<Int, TspError> {
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    if let Some(first) = bytes.first_mut() {
        // Positive, and no leading zero byte to strip: the value keeps its full length.
        *first = (*first & 0x7f) | 0x40;
    }
    Ok(Int::new(&bytes)?)
}

/// Builds a DER TimeStampReq for `imprint` with a fresh 64-bit nonce and certReq set.
pub fn build_request(
    imprint: &Digest,
    policy: Option<ObjectIdentifier>,
    rng: &mut impl RngCore,
) -> Result<TimeStampReq, TspError> {
    Ok(TimeStampReq {
        version: 1,
        message_imprint: MessageImprint::new(imprint)?,
        req_policy: policy,
        nonce: Some(random_positive_int(rng, 8)?),
        cert_req: true,
        extensions: None,
    })
}

/// Checks a DER TimeStampResp against the request that asked for it: status, token present,
/// imprint, nonce, policy, TSA certificate (critical EKU timeStamping) and signature. Returns the
/// token.
pub fn check_response(req: &TimeStampReq, resp_der: &[u8]) -> Result<TimeStampToken, TspError> {
    let resp = TimeStampResp::from_der(resp_der).map_err(|_| TspError::BadResponse)?;
    if !matches!(
        resp.status.status,
        status::GRANTED | status::GRANTED_WITH_MODS
    ) {
        return Err(TspError::Rejected {
            status: resp.status.status,
            text: resp.status.text(),
        });
    }
    let token_der = resp
        .time_stamp_token
        .ok_or(TspError::MissingToken)?
        .to_der()?;
    let token = TimeStampToken::from_der(&token_der)?;
    let info = token.tst_info()?;
    if info.message_imprint != req.message_imprint {
        return Err(TspError::ImprintMismatch);
    }
    if info.nonce != req.nonce {
        return Err(TspError::NonceMismatch);
    }
    if let Some(p) = req.req_policy
        && p != info.policy
    {
        return Err(TspError::PolicyMismatch {
            expected: p.to_string(),
            got: info.policy.to_string(),
        });
    }
    token.verify(None)?;
    Ok(token)
}

/// An RFC 3161 client over HTTP(S).
#[derive(Debug, Clone)]
pub struct TsaClient {
    http: reqwest::Client,
    url: String,
    policy: Option<ObjectIdentifier>,
}

impl TsaClient {
    pub fn new(http: reqwest::Client, url: impl Into<String>) -> Self {
        Self {
            http,
            url: url.into(),
            policy: None,
        }
    }

    /// Asks for tokens under this policy only.
    pub fn with_policy(mut self, policy: ObjectIdentifier) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Obtains a checked token over `imprint` (see [`check_response`]). The nonce is drawn from
    /// `rng` before the request leaves, so the returned future does not hold on to it.
    pub fn timestamp(
        &self,
        imprint: &Digest,
        rng: &mut impl RngCore,
    ) -> impl Future<Output = Result<TimeStampToken, TspError>> + Send + 'static {
        let req = build_request(imprint, self.policy, rng);
        let http = self.http.clone();
        let url = self.url.clone();
        async move {
            let req = req?;
            let body = http
                .post(&url)
                .header("Content-Type", "application/timestamp-query")
                .body(req.to_der()?)
                .send()
                .await
                .map_err(|e| TspError::Transport(e.to_string()))?;
            if !body.status().is_success() {
                return Err(TspError::HttpStatus(body.status().as_u16()));
            }
            let bytes = body
                .bytes()
                .await
                .map_err(|e| TspError::Transport(e.to_string()))?;
            check_response(&req, &bytes)
        }
    }
}

/// A built-in TSA's identity: its certificate (critical EKU timeStamping, checked here), chain,
/// policy, accuracy and signature algorithm. It holds no key.
#[derive(Debug, Clone)]
pub struct TsaSigner {
    cert_der: Vec<u8>,
    cert: Certificate,
    chain: Vec<Vec<u8>>,
    policy: ObjectIdentifier,
    accuracy: Option<Accuracy>,
    algorithm: SignatureAlgorithm,
}

impl TsaSigner {
    pub fn new(
        cert_der: &[u8],
        chain: Vec<Vec<u8>>,
        policy: ObjectIdentifier,
        accuracy: Option<Accuracy>,
        algorithm: SignatureAlgorithm,
    ) -> Result<Self, TspError> {
        let cert = Certificate::from_der(cert_der).map_err(|_| TspError::MissingTsaCertificate)?;
        check_timestamping_eku(&cert)?;
        Ok(Self {
            cert_der: cert_der.to_vec(),
            cert,
            chain,
            policy,
            accuracy,
            algorithm,
        })
    }

    /// Parses a DER TimeStampReq (outside input).
    pub fn parse_request(der: &[u8]) -> Result<TimeStampReq, TspError> {
        let req = TimeStampReq::from_der(der).map_err(|_| TspError::BadRequest)?;
        if req.version != 1 {
            return Err(TspError::BadRequest);
        }
        req.message_imprint.digest()?;
        Ok(req)
    }

    /// Phase one: the TSTInfo and signed attributes for `req` at `gen_time`, with a random
    /// 128-bit serial number from `rng` (unique without coordination between replicas).
    pub fn prepare(
        &self,
        req: &TimeStampReq,
        gen_time: SystemTime,
        rng: &mut impl RngCore,
    ) -> Result<PreparedToken, TspError> {
        req.message_imprint.digest()?;
        if let Some(p) = req.req_policy
            && p != self.policy
        {
            return Err(TspError::PolicyMismatch {
                expected: p.to_string(),
                got: self.policy.to_string(),
            });
        }
        let info = TstInfo {
            version: 1,
            policy: self.policy,
            message_imprint: req.message_imprint.clone(),
            serial_number: random_positive_int(rng, 16)?,
            gen_time: GenTime::from_system_time(gen_time)?,
            accuracy: self.accuracy,
            ordering: false,
            nonce: req.nonce.clone(),
            tsa: Some(GeneralName::DirectoryName(
                self.cert.tbs_certificate().subject().clone(),
            )),
            extensions: None,
        };
        let tst_info_der = info.to_der()?;
        let digest_alg = crate::cades::content_digest_algorithm(self.algorithm);
        let mut attrs = SetOfVec::new();
        let map = |_| TspError::BadToken;
        attrs.insert(
            attribute(oid::CONTENT_TYPE, Any::encode_from(&oid::TST_INFO)?).map_err(map)?,
        )?;
        attrs.insert(
            attribute(
                oid::MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(
                    digest_alg.hash(&tst_info_der).as_bytes(),
                )?)?,
            )
            .map_err(map)?,
        )?;
        attrs.insert(
            attribute(
                oid::SIGNING_CERTIFICATE_V2,
                Any::encode_from(
                    &SigningCertificateV2::for_cert(
                        &self.cert_der,
                        &self.cert,
                        DigestAlgorithm::Sha256,
                    )
                    .map_err(map)?,
                )?,
            )
            .map_err(map)?,
        )?;
        let signed_attrs_der = attrs.to_der()?;
        Ok(PreparedToken {
            signer: self.clone(),
            include_certs: req.cert_req,
            info,
            tst_info_der,
            digest_alg,
            signed_attrs: attrs,
            signed_attrs_der,
        })
    }

    /// A DER TimeStampResp refusing a request (`status::REJECTION`) with a reason.
    pub fn rejection(text: &str) -> Result<Vec<u8>, TspError> {
        let resp = TimeStampResp {
            status: PkiStatusInfo {
                status: status::REJECTION,
                status_string: Some(vec![Any::encode_from(&Utf8StringRef::new(text)?)?]),
                fail_info: None,
            },
            time_stamp_token: None,
        };
        Ok(resp.to_der()?)
    }
}

/// A token waiting for the TSA key's signature.
#[derive(Debug, Clone)]
pub struct PreparedToken {
    signer: TsaSigner,
    include_certs: bool,
    info: TstInfo,
    tst_info_der: Vec<u8>,
    digest_alg: DigestAlgorithm,
    signed_attrs: SetOfVec<x509_cert::attr::Attribute>,
    signed_attrs_der: Vec<u8>,
}

impl PreparedToken {
    pub fn tst_info(&self) -> &TstInfo {
        &self.info
    }

    /// What the TSA key must sign.
    pub fn to_be_signed(&self) -> crate::cades::ToBeSigned {
        match self.signer.algorithm.digest() {
            Some(d) => crate::cades::ToBeSigned::Digest(d.hash(&self.signed_attrs_der)),
            None => crate::cades::ToBeSigned::Message(self.signed_attrs_der.clone()),
        }
    }

    /// Phase two: checks `signature` with the TSA certificate and returns the token.
    pub fn finish(self, signature: &[u8]) -> Result<TimeStampToken, TspError> {
        verify::verify_signature(
            &self.signer.cert_der,
            self.signer.algorithm,
            &self.signed_attrs_der,
            signature,
        )
        .map_err(TspError::BadSignature)?;
        let tbs = self.signer.cert.tbs_certificate();
        let si = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(cms::cert::IssuerAndSerialNumber {
                issuer: tbs.issuer().clone(),
                serial_number: tbs.serial_number().clone(),
            }),
            digest_alg: digest_algorithm_identifier(self.digest_alg),
            signed_attrs: Some(self.signed_attrs),
            signature_algorithm: signature_algorithm_identifier(self.signer.algorithm)
                .map_err(|_| TspError::BadToken)?,
            signature: OctetString::new(signature)?,
            unsigned_attrs: None,
        };
        let mut digest_algorithms = SetOfVec::new();
        digest_algorithms.insert(digest_algorithm_identifier(self.digest_alg))?;
        let certificates = if self.include_certs {
            let mut set = SetOfVec::new();
            set.insert(Any::from_der(&self.signer.cert_der)?)?;
            for c in &self.signer.chain {
                let a = Any::from_der(c)?;
                if !set.iter().any(|x| *x == a) {
                    set.insert(a)?;
                }
            }
            Some(set)
        } else {
            None
        };
        let mut signer_infos = SetOfVec::new();
        signer_infos.insert(si)?;
        let sd = SignedData {
            version: CmsVersion::V3,
            digest_algorithms,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: oid::TST_INFO,
                econtent: Some(Any::encode_from(&OctetString::new(self.tst_info_der)?)?),
            },
            certificates,
            crls: None,
            signer_infos,
        };
        let der = cms::content_info::ContentInfo {
            content_type: oid::SIGNED_DATA,
            content: Any::encode_from(&sd)?,
        }
        .to_der()?;
        TimeStampToken::from_der(&der)
    }
}

/// A DER TimeStampResp granting `token`.
pub fn granted_response(token: &TimeStampToken) -> Result<Vec<u8>, TspError> {
    Ok(TimeStampResp {
        status: PkiStatusInfo {
            status: status::GRANTED,
            status_string: None,
            fail_info: None,
        },
        time_stamp_token: Some(Any::from_der(token.to_der())?),
    }
    .to_der()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gen_time_with_fraction_round_trips() {
        let der =
            b"\x18\x13\x32\x30\x32\x36\x31\x32\x30\x33\x31\x35\x34\x32\x32\x30\x2e\x39\x37\x36\x5a";
        let t = GenTime::from_der(der).unwrap();
        assert_eq!(t.to_unix_duration().subsec_millis(), 976);
        assert_eq!(t.to_der().unwrap(), der);
        let whole = GenTime::from_unix_duration(Duration::from_secs(1_796_312_540)).unwrap();
        assert_eq!(GenTime::from_der(&whole.to_der().unwrap()).unwrap(), whole);
    }

    #[test]
    fn request_omits_default_cert_req_and_round_trips() {
        let d = DigestAlgorithm::Sha256.hash(b"x");
        let mut req = build_request(&d, None, &mut rand::rng()).unwrap();
        req.cert_req = false;
        let der = req.to_der().unwrap();
        assert_eq!(TimeStampReq::from_der(&der).unwrap(), req);
        // No BOOLEAN (tag 1) anywhere at the top level: DEFAULT FALSE is omitted.
        req.cert_req = true;
        assert!(req.to_der().unwrap().len() == der.len() + 3);
        assert!(TsaSigner::parse_request(&der).is_ok());
        assert!(matches!(
            TsaSigner::parse_request(b"\x30\x00"),
            Err(TspError::BadRequest)
        ));
    }

    #[test]
    fn rejection_is_a_refusal_for_the_client() {
        let d = DigestAlgorithm::Sha256.hash(b"x");
        let req = build_request(&d, None, &mut rand::rng()).unwrap();
        let resp = TsaSigner::rejection("no").unwrap();
        assert!(matches!(
            check_response(&req, &resp),
            Err(TspError::Rejected { status: status::REJECTION, ref text }) if text == "no"
        ));
    }

    #[test]
    fn gen_time_refuses_non_der_forms() {
        for bad in [
            &b"20261203154220.970Z"[..],
            b"20261203154220.Z",
            b"20261203154220",
            b"20261303154220Z",
            b"2026120315422Z",
            b"20261203154220+0100",
        ] {
            let mut der = vec![0x18, u8::try_from(bad.len()).unwrap()];
            der.extend_from_slice(bad);
            assert!(GenTime::from_der(&der).is_err(), "{bad:?}");
        }
    }
}
