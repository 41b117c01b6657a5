//! Signing a PDF at a PAdES baseline level with a software key (not qualified): the same steps
//! the service takes, with the key operation done locally. Shared by the `sign-pdf` example and
//! the tests.

use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use signer::DigestAlgorithm;
use signer::cades::{self, Content, SignParams};
use signer::ocsp::Freshness;
use signer::revocation::RevocationFetcher;
use signer::tsp::TsaClient;

#[path = "../../../signer/examples/common/softkey.rs"]
pub mod softkey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    B,
    T,
    Lt,
    Lta,
}

impl std::str::FromStr for Level {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "B-B" => Self::B,
            "B-T" => Self::T,
            "B-LT" => Self::Lt,
            "B-LTA" => Self::Lta,
            other => bail!("unknown level {other:?} (B-B, B-T, B-LT, B-LTA)"),
        })
    }
}

pub struct Job {
    pub key: PKey<Private>,
    /// Signer certificate, DER.
    pub cert: Vec<u8>,
    /// Issuing CAs up to (and for B-LT including) the root, DER, nearest first.
    pub chain: Vec<Vec<u8>>,
    pub level: Level,
    pub tsa: Option<String>,
    pub now: SystemTime,
    pub options: pades::SignatureOptions,
}

pub fn pem_chain(pem: &[u8]) -> Result<Vec<Vec<u8>>> {
    X509::stack_from_pem(pem)?
        .iter()
        .map(|c| Ok(c.to_der()?))
        .collect()
}

/// Orders `pool` into a chain starting at `leaf` by issuer name.
fn chain_from(leaf: &[u8], pool: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
    let pool: Vec<X509> = pool
        .iter()
        .map(|d| X509::from_der(d))
        .collect::<Result<_, _>>()?;
    let mut out = vec![leaf.to_vec()];
    let mut cur = X509::from_der(leaf)?;
    for _ in 0..8 {
        if cur.issuer_name().to_der()? == cur.subject_name().to_der()? {
            break;
        }
        let Some(next) = pool.iter().find(|c| {
            c.subject_name().to_der().ok() == cur.issuer_name().to_der().ok()
                && c.to_der().ok().as_ref() != out.last()
        }) else {
            break;
        };
        out.push(next.to_der()?);
        cur = next.clone();
    }
    Ok(out)
}

async fn timestamp(url: &str, imprint: &signer::Digest) -> Result<signer::tsp::TimeStampToken> {
    let http = signer::revocation::default_http_client()?;
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
    TsaClient::new(http, url)
        .timestamp(imprint, &mut rng)
        .await
        .with_context(|| format!("timestamp from {url}"))
}

/// Signs `pdf` and returns the whole signed document.
pub async fn sign(pdf: &[u8], job: Job) -> Result<Vec<u8>> {
    let kind = softkey::key_kind(&job.key)?;
    let alg = softkey::default_algorithm(kind);
    let mut options = job.options;
    options.digest = cades::content_digest_algorithm(alg);
    if options.name.is_none() {
        let cert = X509::from_der(&job.cert)?;
        options.name = cert
            .subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .next()
            .and_then(|e| e.data().to_string().ok());
    }
    let prepared = pades::prepare(pdf, &options)?;
    let params = SignParams {
        signer_cert: &job.cert,
        chain: &job.chain,
        algorithm: alg,
        content: Content::Detached(prepared.digest().clone()),
        signing_time: None,
    };
    let cp = cades::prepare(&params)?;
    let signature = softkey::sign(&job.key, alg, &cp.to_be_signed())?;
    let mut cms = cp.finish(&signature)?;
    let mut tsa_certs = Vec::new();
    if job.level >= Level::T {
        let url = job.tsa.as_deref().context("B-T and above need --tsa URL")?;
        let imprint = cms.signature_timestamp_imprint(DigestAlgorithm::Sha256)?;
        let token = timestamp(url, &imprint).await?;
        tsa_certs = token.certificates();
        cms.add_signature_timestamp(token.to_der())?;
    }
    let signed = prepared.finish(&cms.to_der()?)?;
    let mut out = Vec::with_capacity(pdf.len() + signed.increment().len() + 64 * 1024);
    signed.write_to(pdf, &mut out)?;
    if job.level < Level::Lt {
        return Ok(out);
    }

    // B-LT: revocation data for the signer's and the TSA's chains, in a DSS.
    let fetcher = RevocationFetcher::new(signer::revocation::default_http_client()?);
    let fresh = Freshness::at(job.now);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
    let mut signer_chain = vec![job.cert.clone()];
    signer_chain.extend(job.chain.iter().cloned());
    let mut data = fetcher
        .collect(&signer_chain, &fresh, &mut rng)
        .await
        .context("revocation data for the signer's chain")?;
    let tsa_leaf = tsa_certs
        .iter()
        .find(|c| {
            X509::from_der(c)
                .map(|x| {
                    !tsa_certs.iter().any(|o| {
                        X509::from_der(o)
                            .map(|y| {
                                y.issuer_name().to_der().ok() == x.subject_name().to_der().ok()
                                    && o != *c
                            })
                            .unwrap_or(false)
                    })
                })
                .unwrap_or(false)
        })
        .cloned();
    if let Some(leaf) = tsa_leaf {
        let mut pool = tsa_certs.clone();
        pool.extend(job.chain.iter().cloned());
        let tsa_chain = chain_from(&leaf, &pool)?;
        let more = fetcher
            .collect(&tsa_chain, &fresh, &mut rng)
            .await
            .context("revocation data for the TSA's chain")?;
        data.merge(more);
    }
    let dss = pades::ValidationData {
        certs: data.certificates,
        ocsps: data.ocsp_responses,
        crls: data.crls,
        vri: true,
    };
    let inc = pades::add_dss(&out, &dss)?;
    out.extend_from_slice(&inc);
    if job.level < Level::Lta {
        return Ok(out);
    }

    // B-LTA: a document timestamp over everything, DSS included.
    let url = job.tsa.as_deref().context("B-LTA needs --tsa URL")?;
    let prepared = pades::prepare_timestamp(&out, &pades::TimestampOptions::default())?;
    let token = timestamp(url, prepared.digest()).await?;
    let signed = prepared.finish(token.to_der())?;
    signed.append_to(&mut out)?;
    Ok(out)
}
