//! CRLs (RFC 5280): the check of a CRL for one certificate ([`check_crl`]: issuer name, signature
//! by the issuer, freshness, the serial not listed) and a two-phase CRL encoder for a development
//! CA ([`CrlBuilder`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{BitString, OctetString, UtcTime};
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::certificate::Version;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::alg::SignatureAlgorithm;
use crate::ocsp::{Freshness, FreshnessError};
use crate::verify;

/// Why a CRL is not accepted or cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    #[error("not a DER CertificateList")]
    Malformed,
    #[error("the CRL is issued by someone other than the certificate's issuer")]
    WrongIssuer,
    #[error("the CRL signature does not verify: {0}")]
    BadSignature(verify::VerifyError),
    #[error("the CRL is not yet valid (thisUpdate in the future)")]
    NotYetValid,
    #[error("the CRL is stale (past nextUpdate or older than allowed)")]
    Stale,
    #[error("the certificate is revoked since {0:?}")]
    Revoked(SystemTime),
    #[error("the CRL has a critical extension this check does not understand: {0}")]
    UnsupportedCriticalExtension(String),
    #[error("the CRL's issuing distribution point does not cover this certificate")]
    ScopeExcludesCertificate,
    #[error("a certificate is not a DER X.509 certificate")]
    BadCertificate,
    #[error("a time cannot be encoded")]
    BadTime,
    #[error("DER encoding failed: {0}")]
    Encoding(der::Error),
}

impl From<der::Error> for CrlError {
    fn from(e: der::Error) -> Self {
        Self::Encoding(e)
    }
}

/// Parses a DER CRL (outside input: nothing checked but structure).
pub fn parse(der: &[u8]) -> Result<CertificateList, CrlError> {
    CertificateList::from_der(der).map_err(|_| CrlError::Malformed)
}

/// Checks a DER CRL for `cert_der` issued by `issuer_der`: issued by that issuer, signed by its
/// key, fresh at `fresh`, and the certificate's serial not listed.
pub fn check_crl(
    der: &[u8],
    cert_der: &[u8],
    issuer_der: &[u8],
    fresh: &Freshness,
) -> Result<(), CrlError> {
    let crl = parse(der)?;
    let cert = Certificate::from_der(cert_der).map_err(|_| CrlError::BadCertificate)?;
    let issuer = Certificate::from_der(issuer_der).map_err(|_| CrlError::BadCertificate)?;
    let tbs = &crl.tbs_cert_list;
    if tbs.issuer != *issuer.tbs_certificate().subject()
        || tbs.issuer != *cert.tbs_certificate().issuer()
    {
        return Err(CrlError::WrongIssuer);
    }
    if tbs.signature != crl.signature_algorithm {
        return Err(CrlError::Malformed);
    }
    let alg = verify::signature_algorithm_from_identifier(&crl.signature_algorithm, None)
        .map_err(CrlError::BadSignature)?;
    let sig = crl.signature.as_bytes().ok_or(CrlError::Malformed)?;
    verify::verify_signature(issuer_der, alg, &tbs.to_der()?, sig)
        .map_err(CrlError::BadSignature)?;
    fresh
        .check(
            tbs.this_update.to_system_time(),
            tbs.next_update.map(|t| t.to_system_time()),
        )
        .map_err(|e| match e {
            FreshnessError::NotYetValid => CrlError::NotYetValid,
            FreshnessError::Stale => CrlError::Stale,
        })?;
    check_scope(&crl, &cert)?;
    let serial = cert.tbs_certificate().serial_number();
    if let Some(entry) = tbs
        .revoked_certificates
        .iter()
        .flatten()
        .find(|r| r.serial_number == *serial)
    {
        return Err(CrlError::Revoked(entry.revocation_date.to_system_time()));
    }
    Ok(())
}

/// Refuses CRLs whose critical extensions would change their meaning beyond a full, direct CRL
/// (delta CRLs, indirect CRLs, partitioned by reason), and an issuing distribution point that
/// excludes the certificate's kind.
fn check_scope(crl: &CertificateList, cert: &Certificate) -> Result<(), CrlError> {
    use x509_cert::ext::pkix::BasicConstraints;
    use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
    let tbs = &crl.tbs_cert_list;
    for e in tbs.crl_extensions.iter().flatten() {
        if e.extn_id == crate::oid::CE_ISSUING_DISTRIBUTION_POINT {
            let idp = IssuingDistributionPoint::from_der(e.extn_value.as_bytes())
                .map_err(|_| CrlError::Malformed)?;
            let is_ca = cert
                .tbs_certificate()
                .get_extension::<BasicConstraints>()
                .ok()
                .flatten()
                .is_some_and(|(_, bc)| bc.ca);
            if idp.indirect_crl
                || idp.only_some_reasons.is_some()
                || idp.only_contains_attribute_certs
            {
                return Err(CrlError::UnsupportedCriticalExtension(
                    "issuingDistributionPoint scope".to_string(),
                ));
            }
            if (idp.only_contains_user_certs && is_ca) || (idp.only_contains_ca_certs && !is_ca) {
                return Err(CrlError::ScopeExcludesCertificate);
            }
        } else if e.critical {
            return Err(CrlError::UnsupportedCriticalExtension(
                e.extn_id.to_string(),
            ));
        }
    }
    for entry in tbs.revoked_certificates.iter().flatten() {
        if let Some(e) = entry
            .crl_entry_extensions
            .iter()
            .flatten()
            .find(|e| e.critical)
        {
            return Err(CrlError::UnsupportedCriticalExtension(
                e.extn_id.to_string(),
            ));
        }
    }
    Ok(())
}

/// One revoked certificate in a CRL being built.
#[derive(Debug, Clone)]
pub struct RevokedEntry {
    /// The serial number's DER INTEGER content bytes.
    pub serial: Vec<u8>,
    pub revoked_at: SystemTime,
}

/// Builds a v2 CRL (CRL number, authority key identifier) for a development CA in two phases.
#[derive(Debug, Clone)]
pub struct CrlBuilder {
    pub issuer_cert: Vec<u8>,
    pub algorithm: SignatureAlgorithm,
    pub crl_number: u64,
    pub this_update: SystemTime,
    pub next_update: SystemTime,
    pub revoked: Vec<RevokedEntry>,
}

/// A CRL waiting for its signature.
#[derive(Debug, Clone)]
pub struct PreparedCrl {
    tbs: TbsCertList,
    tbs_der: Vec<u8>,
    issuer_cert: Vec<u8>,
    algorithm: SignatureAlgorithm,
}

fn time(t: SystemTime) -> Result<Time, CrlError> {
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| CrlError::BadTime)?;
    let d = Duration::from_secs(d.as_secs());
    let dt = der::DateTime::from_unix_duration(d).map_err(|_| CrlError::BadTime)?;
    if dt.year() < 2050 {
        Ok(Time::UtcTime(
            UtcTime::from_date_time(dt).map_err(|_| CrlError::BadTime)?,
        ))
    } else {
        Ok(Time::GeneralTime(
            der::asn1::GeneralizedTime::from_date_time(dt),
        ))
    }
}

impl CrlBuilder {
    pub fn prepare(&self) -> Result<PreparedCrl, CrlError> {
        let issuer =
            Certificate::from_der(&self.issuer_cert).map_err(|_| CrlError::BadCertificate)?;
        let mut extensions = vec![Extension {
            extn_id: crate::oid::CE_CRL_NUMBER,
            critical: false,
            extn_value: OctetString::new(self.crl_number.to_der()?)?,
        }];
        if let Ok(Some((_, ski))) = issuer
            .tbs_certificate()
            .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
        {
            let aki = x509_cert::ext::pkix::AuthorityKeyIdentifier {
                key_identifier: Some(ski.0),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            };
            extensions.push(Extension {
                extn_id: crate::oid::CE_AUTHORITY_KEY_IDENTIFIER,
                critical: false,
                extn_value: OctetString::new(aki.to_der()?)?,
            });
        }
        let revoked = self
            .revoked
            .iter()
            .map(|r| {
                Ok(RevokedCert {
                    serial_number: SerialNumber::new(&r.serial)?,
                    revocation_date: time(r.revoked_at)?,
                    crl_entry_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, CrlError>>()?;
        let tbs = TbsCertList {
            version: Version::V2,
            signature: crate::cades::signature_algorithm_identifier(self.algorithm)
                .map_err(|_| CrlError::Malformed)?,
            issuer: issuer.tbs_certificate().subject().clone(),
            this_update: time(self.this_update)?,
            next_update: Some(time(self.next_update)?),
            revoked_certificates: if revoked.is_empty() {
                None
            } else {
                Some(revoked)
            },
            crl_extensions: Some(extensions),
        };
        let tbs_der = tbs.to_der()?;
        Ok(PreparedCrl {
            tbs,
            tbs_der,
            issuer_cert: self.issuer_cert.clone(),
            algorithm: self.algorithm,
        })
    }
}

impl PreparedCrl {
    /// What the CA key signs.
    pub fn to_be_signed(&self) -> crate::cades::ToBeSigned {
        match self.algorithm.digest() {
            Some(d) => crate::cades::ToBeSigned::Digest(d.hash(&self.tbs_der)),
            None => crate::cades::ToBeSigned::Message(self.tbs_der.clone()),
        }
    }

    /// Checks `signature` with the CA certificate and returns the DER CRL.
    pub fn finish(self, signature: &[u8]) -> Result<Vec<u8>, CrlError> {
        verify::verify_signature(&self.issuer_cert, self.algorithm, &self.tbs_der, signature)
            .map_err(CrlError::BadSignature)?;
        let signature_algorithm = self.tbs.signature.clone();
        Ok(CertificateList {
            tbs_cert_list: self.tbs,
            signature_algorithm,
            signature: BitString::from_bytes(signature)?,
        }
        .to_der()?)
    }
}
