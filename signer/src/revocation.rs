//! Revocation data for a certificate chain: fetches an OCSP response (from the certificate's AIA)
//! or else a CRL (from its CRL distribution points) for every certificate below the root, checks
//! each one, and hands the lot over as [`ValidationData`] for B-LT (CAdES `SignedData`, PAdES DSS).

use std::time::Duration;

use der::{Decode, Encode};
use rand::RngCore;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, CrlDistributionPoints};

use crate::alg::oid;
use crate::cades::ValidationData;
use crate::crl::{self, CrlError};
use crate::ocsp::{self, Freshness, OcspError};

/// Why revocation data for a chain could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    #[error("the chain is empty or a certificate in it is not DER X.509")]
    BadChain,
    #[error("certificate {index} of the chain is not issued by the next one")]
    BrokenChain { index: usize },
    #[error("certificate {index} names no OCSP responder or CRL distribution point")]
    NoSource { index: usize },
    #[error("OCSP for certificate {index}: {source}")]
    Ocsp { index: usize, source: OcspError },
    #[error("CRL for certificate {index}: {source}")]
    Crl { index: usize, source: CrlError },
    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
}

fn uris<'a>(names: impl IntoIterator<Item = &'a GeneralName>) -> Vec<String> {
    names
        .into_iter()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
            _ => None,
        })
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .collect()
}

/// The OCSP responder URLs in a certificate's AIA extension.
pub fn ocsp_urls(cert: &Certificate) -> Vec<String> {
    match cert
        .tbs_certificate()
        .get_extension::<AuthorityInfoAccessSyntax>()
    {
        Ok(Some((_, aia))) => uris(
            aia.0
                .iter()
                .filter(|d| d.access_method == oid::AD_OCSP)
                .map(|d| &d.access_location),
        ),
        _ => Vec::new(),
    }
}

/// The HTTP CRL distribution points of a certificate.
pub fn crl_urls(cert: &Certificate) -> Vec<String> {
    match cert
        .tbs_certificate()
        .get_extension::<CrlDistributionPoints>()
    {
        Ok(Some((_, dps))) => uris(dps.0.iter().flat_map(|dp| match &dp.distribution_point {
            Some(DistributionPointName::FullName(names)) => names.iter().collect::<Vec<_>>(),
            _ => Vec::new(),
        })),
        _ => Vec::new(),
    }
}

/// Fetches revocation data over HTTP.
#[derive(Debug, Clone)]
pub struct RevocationFetcher {
    http: reqwest::Client,
}

impl RevocationFetcher {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }

    async fn post(&self, url: &str, body: Vec<u8>) -> Result<Vec<u8>, RevocationError> {
        let fail = |reason: String| RevocationError::Fetch {
            url: url.to_string(),
            reason,
        };
        let resp = self
            .http
            .post(url)
            .header("Content-Type", "application/ocsp-request")
            .body(body)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status().as_u16())));
        }
        Ok(resp
            .bytes()
            .await
            .map_err(|e| fail(e.to_string()))?
            .to_vec())
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, RevocationError> {
        let fail = |reason: String| RevocationError::Fetch {
            url: url.to_string(),
            reason,
        };
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status().as_u16())));
        }
        Ok(resp
            .bytes()
            .await
            .map_err(|e| fail(e.to_string()))?
            .to_vec())
    }

    /// Asks `url` about `cert_der` (issued by `issuer_der`) with a fresh nonce and returns the
    /// checked DER OCSPResponse (see [`ocsp::check_response`]).
    pub async fn fetch_ocsp(
        &self,
        url: &str,
        cert_der: &[u8],
        issuer_der: &[u8],
        nonce: [u8; 16],
        fresh: &Freshness,
    ) -> Result<Vec<u8>, RevocationError> {
        let cert = Certificate::from_der(cert_der).map_err(|_| RevocationError::BadChain)?;
        let issuer = Certificate::from_der(issuer_der).map_err(|_| RevocationError::BadChain)?;
        let req = ocsp::build_request(&cert, &issuer, Some(&nonce))
            .map_err(|source| RevocationError::Ocsp { index: 0, source })?;
        let resp = self.post(url, req).await?;
        ocsp::check_response(&resp, cert_der, issuer_der, Some(&nonce), fresh)
            .map_err(|source| RevocationError::Ocsp { index: 0, source })?;
        Ok(resp)
    }

    /// Downloads the CRL at `url` and checks it for `cert_der` (see [`crl::check_crl`]).
    pub async fn fetch_crl(
        &self,
        url: &str,
        cert_der: &[u8],
        issuer_der: &[u8],
        fresh: &Freshness,
    ) -> Result<Vec<u8>, RevocationError> {
        let der = self.get(url).await?;
        crl::check_crl(&der, cert_der, issuer_der, fresh)
            .map_err(|source| RevocationError::Crl { index: 0, source })?;
        Ok(der)
    }

    /// Gathers checked revocation data for `chain` (DER, leaf first, each certificate issued by
    /// the next; the last is the trust anchor and is not checked). For each certificate it asks
    /// the OCSP responders named in the AIA; if none is named or none can be reached it uses the
    /// CRL distribution points. A definite bad answer (revoked, wrong certificate, bad signature,
    /// stale) stops the whole operation: no signature should be made on such data.
    pub fn collect(
        &self,
        chain: &[Vec<u8>],
        fresh: &Freshness,
        rng: &mut impl RngCore,
    ) -> impl Future<Output = Result<ValidationData, RevocationError>> + Send + 'static {
        // Nonces are drawn up front so the future does not hold on to `rng`.
        let nonces: Vec<[u8; 16]> = (0..chain.len() * 4)
            .map(|_| {
                let mut n = [0u8; 16];
                rng.fill_bytes(&mut n);
                n
            })
            .collect();
        let this = self.clone();
        let chain = chain.to_vec();
        let fresh = *fresh;
        async move { this.collect_with(&chain, &fresh, nonces).await }
    }

    async fn collect_with(
        &self,
        chain: &[Vec<u8>],
        fresh: &Freshness,
        nonces: Vec<[u8; 16]>,
    ) -> Result<ValidationData, RevocationError> {
        let mut nonces = nonces.into_iter();
        let certs = chain
            .iter()
            .map(|c| Certificate::from_der(c).map_err(|_| RevocationError::BadChain))
            .collect::<Result<Vec<_>, _>>()?;
        if certs.is_empty() {
            return Err(RevocationError::BadChain);
        }
        let mut data = ValidationData {
            certificates: chain.to_vec(),
            ..ValidationData::default()
        };
        for (index, pair) in certs.windows(2).enumerate() {
            let [cert, issuer] = pair else {
                return Err(RevocationError::BadChain);
            };
            if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
                return Err(RevocationError::BrokenChain { index });
            }
            let cert_der = cert.to_der().map_err(|_| RevocationError::BadChain)?;
            let issuer_der = issuer.to_der().map_err(|_| RevocationError::BadChain)?;
            let mut last_fetch_error = None;
            let mut done = false;
            for url in ocsp_urls(cert).into_iter().take(4) {
                let nonce = nonces.next().ok_or(RevocationError::BadChain)?;
                match self
                    .fetch_ocsp(&url, &cert_der, &issuer_der, nonce, fresh)
                    .await
                {
                    Ok(resp) => {
                        add_ocsp_responder_cert(&mut data, &resp);
                        data.ocsp_responses.push(resp);
                        done = true;
                        break;
                    }
                    Err(RevocationError::Ocsp { source, .. }) => {
                        return Err(RevocationError::Ocsp { index, source });
                    }
                    Err(e) => last_fetch_error = Some(e),
                }
            }
            if !done {
                for url in crl_urls(cert) {
                    match self.fetch_crl(&url, &cert_der, &issuer_der, fresh).await {
                        Ok(der) => {
                            data.crls.push(der);
                            done = true;
                            break;
                        }
                        Err(RevocationError::Crl { source, .. }) => {
                            return Err(RevocationError::Crl { index, source });
                        }
                        Err(e) => last_fetch_error = Some(e),
                    }
                }
            }
            if !done {
                return Err(last_fetch_error.unwrap_or(RevocationError::NoSource { index }));
            }
        }
        Ok(data)
    }
}

/// A delegated responder's certificate travels with the response; B-LT also wants it on its own.
fn add_ocsp_responder_cert(data: &mut ValidationData, resp: &[u8]) {
    if let Ok(parsed) = ocsp::parse_response(resp) {
        for c in parsed.basic.certs.iter().flatten() {
            if let Ok(der) = c.to_der()
                && !data.certificates.contains(&der)
            {
                data.certificates.push(der);
            }
        }
    }
}

/// A default HTTP client for TSA, OCSP and CRL requests (short timeouts).
pub fn default_http_client() -> Result<reqwest::Client, RevocationError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| RevocationError::Fetch {
            url: String::new(),
            reason: e.to_string(),
        })
}

/// Orders a chain: `leaf` first, then each issuer found in `pool` by name (and signature, when
/// the issuer's key can check it), up to a self-issued certificate or the first missing link.
pub fn build_chain(leaf: &[u8], pool: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, RevocationError> {
    let mut out = vec![leaf.to_vec()];
    let mut current = Certificate::from_der(leaf).map_err(|_| RevocationError::BadChain)?;
    while out.len() <= pool.len() {
        let tbs = current.tbs_certificate();
        if tbs.issuer() == tbs.subject() {
            break;
        }
        let current_der = current.to_der().map_err(|_| RevocationError::BadChain)?;
        let next = pool.iter().find(|c| {
            Certificate::from_der(c).is_ok_and(|cand| {
                cand.tbs_certificate().subject() == tbs.issuer()
                    && openssl::x509::X509::from_der(&current_der)
                        .ok()
                        .zip(crate::verify::public_key(c).ok())
                        .is_some_and(|(x, k)| x.verify(&k).unwrap_or(false))
            })
        });
        let Some(next) = next else { break };
        if out.contains(next) {
            break;
        }
        out.push(next.clone());
        current = Certificate::from_der(next).map_err(|_| RevocationError::BadChain)?;
    }
    Ok(out)
}
