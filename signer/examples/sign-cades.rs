//! Signs a file as CAdES with a PEM key (a tool, not the service: the key is in a file here).
//!
//! cargo run --release -p signer --example sign-cades -- IN OUT.p7s --key KEY.pem --cert CERT.pem \
//!     --chain CHAIN.pem --level B-B|B-T|B-LT [--tsa URL] [--attached] [--pss] [--no-signing-time]
//!
//! Keys: RSA (PKCS#1 v1.5 SHA-256, or PSS with --pss), P-256 (ECDSA SHA-256), P-384 (ECDSA
//! SHA-384), Ed25519. B-T and B-LT need --tsa. B-LT fetches OCSP responses or CRLs for the
//! signer's and the TSA's chains from their AIA / CRL distribution points and embeds them.
//! Nothing is written unless every step succeeds.

mod common {
    pub mod softkey;
}

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use common::softkey;
use openssl::x509::X509;
use signer::cades::{self, Content, SignParams};
use signer::ocsp::Freshness;
use signer::revocation::{self, RevocationFetcher};
use signer::tsp::TsaClient;
use signer::{DigestAlgorithm, KeyKind, SignatureAlgorithm};

struct Args {
    input: PathBuf,
    output: PathBuf,
    key: PathBuf,
    cert: PathBuf,
    chain: Option<PathBuf>,
    level: String,
    tsa: Option<String>,
    attached: bool,
    pss: bool,
    signing_time: bool,
}

fn parse_args() -> Result<Args> {
    let mut pos = Vec::new();
    let (mut key, mut cert, mut chain, mut level, mut tsa) = (None, None, None, None, None);
    let (mut attached, mut pss, mut signing_time) = (false, false, true);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--key" => key = Some(PathBuf::from(val("--key")?)),
            "--cert" => cert = Some(PathBuf::from(val("--cert")?)),
            "--chain" => chain = Some(PathBuf::from(val("--chain")?)),
            "--level" => level = Some(val("--level")?),
            "--tsa" => tsa = Some(val("--tsa")?),
            "--attached" => attached = true,
            "--pss" => pss = true,
            "--no-signing-time" => signing_time = false,
            s if s.starts_with("--") => bail!("unknown option {s}"),
            _ => pos.push(PathBuf::from(a)),
        }
    }
    let [input, output] = <[PathBuf; 2]>::try_from(pos)
        .map_err(|_| anyhow::anyhow!("usage: sign-cades IN OUT.p7s --key KEY.pem --cert CERT.pem [--chain CHAIN.pem] --level B-B|B-T|B-LT [--tsa URL] [--attached] [--pss] [--no-signing-time]"))?;
    Ok(Args {
        input,
        output,
        key: key.context("--key is required")?,
        cert: cert.context("--cert is required")?,
        chain,
        level: level.unwrap_or_else(|| "B-B".to_string()),
        tsa,
        attached,
        pss,
        signing_time,
    })
}

#[expect(
    clippy::disallowed_methods,
    reason = "a command-line tool signs at the wall-clock time"
)]
fn wall_clock() -> SystemTime {
    SystemTime::now()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sign-cades: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let args = parse_args()?;
    if !["B-B", "B-T", "B-LT"].contains(&args.level.as_str()) {
        bail!("--level must be B-B, B-T or B-LT");
    }
    let data =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let key = softkey::load_key(&std::fs::read(&args.key)?)?;
    let cert = X509::from_pem(&std::fs::read(&args.cert)?)
        .context("reading the PEM certificate")?
        .to_der()?;
    let chain = match &args.chain {
        Some(p) => X509::stack_from_pem(&std::fs::read(p)?)
            .context("reading the PEM chain")?
            .iter()
            .map(|c| c.to_der())
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let kind = softkey::key_kind(&key)?;
    let alg = match (kind, args.pss) {
        (KeyKind::Rsa { .. }, true) => SignatureAlgorithm::RsaPss {
            digest: DigestAlgorithm::Sha256,
            mgf_digest: DigestAlgorithm::Sha256,
            salt_len: 32,
        },
        (_, true) => bail!("--pss needs an RSA key"),
        (k, false) => softkey::default_algorithm(k),
    };
    let content = if args.attached {
        Content::Attached(&data)
    } else {
        Content::Detached(cades::content_digest_algorithm(alg).hash(&data))
    };
    let prepared = cades::prepare(&SignParams {
        signer_cert: &cert,
        chain: &chain,
        algorithm: alg,
        content,
        signing_time: args.signing_time.then(wall_clock),
    })?;
    let signature = softkey::sign(&key, alg, &prepared.to_be_signed())?;
    let mut sig = prepared.finish(&signature)?;

    if args.level != "B-B" {
        let http = revocation::default_http_client()?;
        let url = args.tsa.clone().context("B-T and B-LT need --tsa URL")?;
        let mut rng = rand::rng();
        let imprint = sig.signature_timestamp_imprint(DigestAlgorithm::Sha256)?;
        let token = TsaClient::new(http.clone(), url)
            .timestamp(&imprint, &mut rng)
            .await
            .context("obtaining the signature time-stamp")?;
        sig.add_signature_timestamp(token.to_der())?;
        if args.level == "B-LT" {
            let fetcher = RevocationFetcher::new(http);
            let fresh = Freshness::at(wall_clock());
            let signer_chain = revocation::build_chain(&cert, &chain)?;
            let mut vd = fetcher
                .collect(&signer_chain, &fresh, &mut rng)
                .await
                .context("revocation data for the signer's chain")?;
            let tsa_cert = token.verify(None)?;
            let pool: Vec<Vec<u8>> = token
                .certificates()
                .into_iter()
                .chain(chain.iter().cloned())
                .collect();
            let tsa_chain = revocation::build_chain(&tsa_cert, &pool)?;
            vd.merge(
                fetcher
                    .collect(&tsa_chain, &fresh, &mut rng)
                    .await
                    .context("revocation data for the TSA's chain")?,
            );
            sig.add_validation_data(&vd)?;
        }
    }
    std::fs::write(&args.output, sig.to_der()?)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!(
        "{}: CAdES {} ({alg:?}, {})",
        args.output.display(),
        args.level,
        if args.attached {
            "attached"
        } else {
            "detached"
        }
    );
    Ok(())
}
