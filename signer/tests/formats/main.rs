//! End-to-end checks of signer's formats against tools we did not write: a test PKI made with
//! the `openssl` CLI, a real `openssl ocsp` responder, RFC 3161 responders on 127.0.0.1 (our
//! token encoder and `openssl ts -reply`), and `openssl cms -verify` / `openssl ts -verify` /
//! `openssl ocsp` / `openssl crl` as judges. A missing tool is a failure, never a skip.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: clippy.toml allows these in #[test] functions, and the helpers here are test code too"
)]

#[path = "../../examples/common/softkey.rs"]
#[allow(
    dead_code,
    reason = "shared with the sign-cades example, which uses all of it"
)]
mod softkey;

mod pki;
mod servers;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail, ensure};
use der::Decode;
use pki::{Identity, Pki, openssl};
use signer::cades::{self, CadesError, CadesSignature, Content, SignParams};
use signer::crl::{self, CrlBuilder, CrlError, RevokedEntry};
use signer::ocsp::{self, Answer, CertId, CertIdHash, CertStatus, Freshness, OcspError};
use signer::revocation::{RevocationError, RevocationFetcher};
use signer::tsp::{self, TimeStampToken, TsaClient, TsaSigner, TspError};
use signer::{DigestAlgorithm, SignatureAlgorithm};

#[expect(
    clippy::disallowed_methods,
    reason = "the test PKI and outside responders run on the wall clock"
)]
fn wall_clock() -> SystemTime {
    SystemTime::now()
}

const PSS256: SignatureAlgorithm = SignatureAlgorithm::RsaPss {
    digest: DigestAlgorithm::Sha256,
    mgf_digest: DigestAlgorithm::Sha256,
    salt_len: 32,
};

struct Env {
    pki: Pki,
    http: reqwest::Client,
    base: String,
}

impl Env {
    fn signers(&self) -> Vec<(&Identity, SignatureAlgorithm)> {
        vec![
            (
                &self.pki.rsa,
                SignatureAlgorithm::RsaPkcs1(DigestAlgorithm::Sha256),
            ),
            (
                &self.pki.rsa,
                SignatureAlgorithm::RsaPkcs1(DigestAlgorithm::Sha512),
            ),
            (&self.pki.rsa, PSS256),
            (
                &self.pki.p256,
                SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
            ),
            (
                &self.pki.p384,
                SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha384),
            ),
            (&self.pki.ed25519, SignatureAlgorithm::Ed25519),
        ]
    }

    fn chain(&self) -> Vec<Vec<u8>> {
        vec![self.pki.ca.cert_der.clone()]
    }

    fn dir(&self) -> &Path {
        &self.pki.dir.0
    }
}

fn sign_b_b(
    env: &Env,
    who: &Identity,
    alg: SignatureAlgorithm,
    data: &[u8],
    attached: bool,
    signing_time: Option<SystemTime>,
) -> Result<CadesSignature> {
    let chain = env.chain();
    let content = if attached {
        Content::Attached(data)
    } else {
        Content::Detached(cades::content_digest_algorithm(alg).hash(data))
    };
    let prepared = cades::prepare(&SignParams {
        signer_cert: &who.cert_der,
        chain: &chain,
        algorithm: alg,
        content,
        signing_time,
    })?;
    let sig = softkey::sign(&who.key, alg, &prepared.to_be_signed())?;
    Ok(prepared.finish(&sig)?)
}

/// `openssl cms -verify` against the test root; returns the tool's printout of the structure.
fn cms_verify(
    env: &Env,
    p7s: &[u8],
    data: &[u8],
    attached: bool,
    extra: &[&str],
) -> Result<String> {
    let d = env.dir();
    std::fs::write(d.join("sig.p7s"), p7s)?;
    std::fs::write(d.join("data.bin"), data)?;
    let mut args = vec![
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        "sig.p7s",
        "-CAfile",
        "root.pem",
        "-purpose",
        "any",
        "-out",
        "verified.bin",
    ];
    if !attached {
        args.extend(["-content", "data.bin"]);
    }
    args.extend(extra);
    let out = String::from_utf8_lossy(&openssl(d, &args)?).to_string();
    ensure!(
        out.contains("Verification successful"),
        "openssl cms -verify said: {out}"
    );
    ensure!(
        std::fs::read(d.join("verified.bin"))? == data,
        "verified content differs"
    );
    let print = openssl(
        d,
        &[
            "cms", "-cmsout", "-print", "-inform", "DER", "-in", "sig.p7s",
        ],
    )?;
    Ok(String::from_utf8_lossy(&print).to_string())
}

/// The Python with pyHanko (the same convention as the PAdES tests).
fn python() -> Result<std::path::PathBuf> {
    let p = std::env::var_os("QSIGN_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/.venv/bin/python")
        });
    ensure!(
        p.exists(),
        "no Python for pyHanko at {}: set QSIGN_PYTHON or run `python3 -m venv conformance/.venv && conformance/.venv/bin/pip install -r conformance/requirements-formats.txt`",
        p.display()
    );
    Ok(p)
}

/// pyHanko's CMS validator (signature, trust to the test root, timestamp, and for B-LT
/// revocation hard-fail offline with only the embedded data).
fn pyhanko(env: &Env, p7s: &[u8], data: &[u8], attached: bool, level: &str) -> Result<()> {
    let d = env.dir();
    std::fs::write(d.join("py.p7s"), p7s)?;
    std::fs::write(d.join("py.bin"), data)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/formats/pyhanko_cms.py");
    let py = python()?;
    let mut args = vec![
        script.to_str().context("path")?,
        "py.p7s",
        "--trust",
        "root.pem",
        "--level",
        level,
    ];
    if attached {
        args.push("--attached");
    } else {
        args.extend(["--data", "py.bin"]);
    }
    let out = pki::run(d, py.to_str().context("path")?, &args)
        .with_context(|| format!("pyHanko refused a {level} signature"))?;
    let out = String::from_utf8_lossy(&out);
    ensure!(
        out.contains("VALID") && !out.contains("INVALID"),
        "pyHanko: {out}"
    );
    Ok(())
}

/// OpenSSL 3.0 cannot verify (nor make) Ed25519 CMS signatures: its CMS code asks the EdDSA
/// provider for a digest, which PureEdDSA refuses (`eddsa_digest_signverify_init: invalid
/// digest`). Those are judged by pyHanko alone.
fn openssl_cms_can_judge(alg: SignatureAlgorithm) -> bool {
    alg != SignatureAlgorithm::Ed25519
}

/// `openssl ts -verify` of a token over `data` against the test root.
fn ts_verify_token(env: &Env, token: &[u8], data: &[u8]) -> Result<()> {
    let d = env.dir();
    std::fs::write(d.join("token.der"), token)?;
    std::fs::write(d.join("stamped.bin"), data)?;
    let out = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-in",
            "token.der",
            "-token_in",
            "-data",
            "stamped.bin",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "ca.pem",
        ],
    )?;
    let out = String::from_utf8_lossy(&out);
    ensure!(
        out.contains("Verification: OK"),
        "openssl ts -verify said: {out}"
    );
    Ok(())
}

fn make_crl(
    issuer: &Identity,
    alg: SignatureAlgorithm,
    revoked: &[&[u8]],
    now: SystemTime,
) -> Result<Vec<u8>> {
    let prepared = CrlBuilder {
        issuer_cert: issuer.cert_der.clone(),
        algorithm: alg,
        crl_number: 7,
        this_update: now - Duration::from_secs(60),
        next_update: now + Duration::from_secs(86_400),
        revoked: revoked
            .iter()
            .map(|s| RevokedEntry {
                serial: s.to_vec(),
                revoked_at: now - Duration::from_secs(3_600),
            })
            .collect(),
    }
    .prepare()?;
    let sig = softkey::sign(&issuer.key, alg, &prepared.to_be_signed())?;
    Ok(prepared.finish(&sig)?)
}

fn tsa_state(pki: &Pki, files: HashMap<String, Vec<u8>>) -> Result<servers::State> {
    let alg = SignatureAlgorithm::RsaPkcs1(DigestAlgorithm::Sha256);
    let tsa = TsaSigner::new(
        &pki.tsa.cert_der,
        vec![pki.ca.cert_der.clone()],
        der::asn1::ObjectIdentifier::new("1.3.6.1.4.1.99999.1.2")?,
        Some(tsp::Accuracy {
            seconds: Some(1),
            millis: None,
            micros: None,
        }),
        alg,
    )?;
    Ok(servers::State {
        files,
        tsa,
        tsa_key: pki.tsa.key.clone(),
        tsa_alg: alg,
        dir: pki.dir.0.clone(),
        clock: wall_clock,
        ca_cert: pki.ca.cert_der.clone(),
        ca_key: pki.ca.key.clone(),
    })
}

async fn case_b_b(env: &Env) -> Result<()> {
    let data = b"qsign CAdES B-B test content\n".repeat(50);
    let (mut n, mut n_openssl, mut n_pyhanko) = (0, 0, 0);
    for (who, alg) in env.signers() {
        for attached in [false, true] {
            for signing_time in [None, Some(wall_clock())] {
                let sig = sign_b_b(env, who, alg, &data, attached, signing_time)
                    .with_context(|| format!("{} {alg:?}", who.name))?;
                let der = sig.to_der()?;
                let what = format!(
                    "{} {alg:?} attached={attached} signing_time={}",
                    who.name,
                    signing_time.is_some()
                );
                if openssl_cms_can_judge(alg) {
                    let print =
                        cms_verify(env, &der, &data, attached, &[]).context(what.clone())?;
                    ensure!(
                        print.contains("signingCertificateV2")
                            || print.contains("1.2.840.113549.1.9.16.2.47"),
                        "no signing-certificate-v2:\n{print}"
                    );
                    ensure!(print.contains("messageDigest"), "no message-digest");
                    ensure!(
                        print.contains("signingTime") == signing_time.is_some(),
                        "signing-time present={} but asked {:?}",
                        print.contains("signingTime"),
                        signing_time.is_some()
                    );
                    n_openssl += 1;
                }
                if signing_time.is_none() || !openssl_cms_can_judge(alg) {
                    pyhanko(env, &der, &data, attached, "B-B").context(what)?;
                    n_pyhanko += 1;
                }
                // Our parser reads back what we wrote, exactly.
                ensure!(
                    CadesSignature::from_der(&der)?.to_der()? == der,
                    "round trip changed bytes"
                );
                n += 1;
            }
        }
    }
    println!(
        "  B-B: {n} signatures; {n_openssl} verified by openssl cms -verify, {n_pyhanko} by pyHanko"
    );
    Ok(())
}

async fn case_b_b_refusals(env: &Env) -> Result<()> {
    let data = b"refusals";
    let chain = env.chain();
    // A detached digest of the wrong algorithm.
    let r = cades::prepare(&SignParams {
        signer_cert: &env.pki.p384.cert_der,
        chain: &chain,
        algorithm: SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha384),
        content: Content::Detached(DigestAlgorithm::Sha256.hash(data)),
        signing_time: None,
    });
    ensure!(
        matches!(r, Err(CadesError::ContentDigestMismatch { .. })),
        "{r:?}"
    );
    // A signature by another key is refused at finish.
    let alg = SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256);
    let prepared = cades::prepare(&SignParams {
        signer_cert: &env.pki.p256.cert_der,
        chain: &chain,
        algorithm: alg,
        content: Content::Attached(data),
        signing_time: None,
    })?;
    let wrong = softkey::sign(&env.pki.revoked.key, alg, &prepared.to_be_signed())?;
    let r = prepared.clone().finish(&wrong);
    ensure!(matches!(r, Err(CadesError::SignatureInvalid)), "{r:?}");
    let r = prepared.finish(&[0u8; 64]);
    ensure!(matches!(r, Err(CadesError::SignatureEncoding)), "{r:?}");
    Ok(())
}

async fn case_b_t(env: &Env) -> Result<()> {
    let data = b"qsign CAdES B-T test content\n";
    let mut rng = rand::rng();
    let (mut n, mut n_openssl, mut n_pyhanko) = (0, 0, 0);
    for tsa_path in ["/tsa", "/tsa-openssl"] {
        let client = TsaClient::new(env.http.clone(), format!("{}{tsa_path}", env.base));
        for (who, alg) in env.signers() {
            for attached in [false, true] {
                let mut sig = sign_b_b(env, who, alg, data, attached, None)?;
                let imprint = sig.signature_timestamp_imprint(DigestAlgorithm::Sha256)?;
                let token = client
                    .timestamp(&imprint, &mut rng)
                    .await
                    .with_context(|| format!("{tsa_path} for {} {alg:?}", who.name))?;
                sig.add_signature_timestamp(token.to_der())?;
                let der = sig.to_der()?;
                let what = format!("{tsa_path} {} {alg:?} attached={attached}", who.name);
                if openssl_cms_can_judge(alg) {
                    let print = cms_verify(env, &der, data, attached, &[]).context(what.clone())?;
                    ensure!(
                        print.contains("id-smime-aa-timeStampToken")
                            || print.contains("1.2.840.113549.1.9.16.2.14"),
                        "no timestamp attribute:\n{print}"
                    );
                    n_openssl += 1;
                }
                if !attached || !openssl_cms_can_judge(alg) {
                    pyhanko(env, &der, data, attached, "B-T").context(what)?;
                    n_pyhanko += 1;
                }
                let back = CadesSignature::from_der(&der)?;
                let tokens = back.signature_timestamps()?;
                ensure!(
                    tokens.len() == 1,
                    "expected one token, found {}",
                    tokens.len()
                );
                ts_verify_token(env, &tokens[0], back.signature_value()?)
                    .with_context(|| format!("token from {tsa_path}"))?;
                n += 1;
            }
        }
    }
    println!(
        "  B-T: {n} signatures; {n_openssl} verified by openssl cms -verify, {n_pyhanko} by pyHanko; all {n} tokens by openssl ts -verify"
    );
    Ok(())
}

async fn case_tsa_tokens(env: &Env) -> Result<()> {
    // Every token of the built-in encoder, with the query, through `openssl ts -verify`
    // (which also checks the nonce and certReq handling), and serials are unique.
    let d = env.dir();
    let mut rng = rand::rng();
    let mut serials = std::collections::HashSet::new();
    for i in 0..20u32 {
        let digest = DigestAlgorithm::ALL[(i % 3) as usize].hash(&i.to_be_bytes());
        let req = tsp::build_request(&digest, None, &mut rng)?;
        let req_der = der::Encode::to_der(&req)?;
        let resp = env
            .http
            .post(format!("{}/tsa", env.base))
            .body(req_der.clone())
            .send()
            .await?
            .bytes()
            .await?;
        let token = tsp::check_response(&req, &resp)?;
        let info = token.tst_info()?;
        ensure!(info.accuracy.and_then(|a| a.seconds) == Some(1), "accuracy");
        ensure!(info.policy.to_string() == "1.3.6.1.4.1.99999.1.2", "policy");
        ensure!(
            serials.insert(info.serial_number.as_bytes().to_vec()),
            "serial repeated"
        );
        std::fs::write(d.join("q.tsq"), &req_der)?;
        std::fs::write(d.join("r.tsr"), &resp)?;
        let out = openssl(
            d,
            &[
                "ts",
                "-verify",
                "-queryfile",
                "q.tsq",
                "-in",
                "r.tsr",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "ca.pem",
            ],
        )?;
        ensure!(
            String::from_utf8_lossy(&out).contains("Verification: OK"),
            "openssl ts -verify: {}",
            String::from_utf8_lossy(&out)
        );
    }
    // The openssl TSA's genTime carries milliseconds: our parser must take it.
    let digest = DigestAlgorithm::Sha256.hash(b"fraction");
    let token = TsaClient::new(env.http.clone(), format!("{}/tsa-openssl", env.base))
        .timestamp(&digest, &mut rng)
        .await?;
    let gen_time = token.tst_info()?.gen_time;
    std::fs::write(d.join("token.der"), token.to_der())?;
    let text = String::from_utf8_lossy(&openssl(
        d,
        &[
            "ts",
            "-reply",
            "-in",
            "token.der",
            "-token_in",
            "-token_out",
            "-text",
        ],
    )?)
    .to_string();
    println!(
        "  openssl TSA genTime parsed as {:?} after the epoch",
        gen_time.to_unix_duration()
    );
    ensure!(
        text.contains("Time stamp:"),
        "openssl could not print the token"
    );
    println!("  20 built-in tokens verified by openssl ts -verify -queryfile; serials unique");
    Ok(())
}

async fn case_tsa_refusals(env: &Env) -> Result<()> {
    let mut rng = rand::rng();
    let digest = DigestAlgorithm::Sha256.hash(b"refuse me");
    let ask = |path: &str| TsaClient::new(env.http.clone(), format!("{}{path}", env.base));
    let r = ask("/tsa-reject").timestamp(&digest, &mut rng).await;
    ensure!(
        matches!(&r, Err(TspError::Rejected { status: 2, text }) if text.contains("policy")),
        "{r:?}"
    );
    let r = ask("/tsa-wrong-imprint").timestamp(&digest, &mut rng).await;
    ensure!(matches!(r, Err(TspError::ImprintMismatch)), "{r:?}");
    let r = ask("/tsa-wrong-nonce").timestamp(&digest, &mut rng).await;
    ensure!(matches!(r, Err(TspError::NonceMismatch)), "{r:?}");
    let r = ask("/tsa-garbage").timestamp(&digest, &mut rng).await;
    ensure!(matches!(r, Err(TspError::BadResponse)), "{r:?}");
    let r = ask("/nowhere").timestamp(&digest, &mut rng).await;
    ensure!(matches!(r, Err(TspError::HttpStatus(404))), "{r:?}");

    // A token over another signature cannot be attached: no B-T signature comes out.
    let mut sig = sign_b_b(
        env,
        &env.pki.p256,
        SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
        b"x",
        false,
        None,
    )?;
    let token = ask("/tsa").timestamp(&digest, &mut rng).await?;
    let before = sig.to_der()?;
    let r = sig.add_signature_timestamp(token.to_der());
    ensure!(
        matches!(r, Err(CadesError::TimestampImprintMismatch)),
        "{r:?}"
    );
    ensure!(
        sig.to_der()? == before,
        "a refused token changed the signature"
    );

    // TSA certificates without a critical timeStamping EKU.
    let r = TsaSigner::new(
        &env.pki.tsa_noncritical.cert_der,
        vec![],
        der::asn1::ObjectIdentifier::new("1.2.3")?,
        None,
        SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
    );
    ensure!(matches!(r, Err(TspError::TsaCertificateUsage)), "{r:?}");
    let r = token.verify(Some(&env.pki.tsa_noncritical.cert_der));
    ensure!(matches!(r, Err(TspError::TsaCertificateUsage)), "{r:?}");
    let r = token.verify(Some(&env.pki.p256.cert_der));
    ensure!(matches!(r, Err(TspError::TsaCertificateUsage)), "{r:?}");
    // A token whose signature is damaged.
    let mut bad = token.to_der().to_vec();
    let last = bad.len() - 5;
    bad[last] ^= 0x01;
    let r = TimeStampToken::from_der(&bad).and_then(|t| t.verify(None));
    ensure!(matches!(r, Err(TspError::BadSignature(_))), "{r:?}");
    Ok(())
}

async fn ocsp_post(env: &Env, who: &Identity, nonce: Option<&[u8]>) -> Result<Vec<u8>> {
    let cert = x509_cert::Certificate::from_der(&who.cert_der)?;
    let issuer = x509_cert::Certificate::from_der(&env.pki.ca.cert_der)?;
    let req = ocsp::build_request(&cert, &issuer, nonce)?;
    Ok(env
        .http
        .post(format!("http://127.0.0.1:{}/", env.pki.ocsp_port))
        .header("Content-Type", "application/ocsp-request")
        .body(req)
        .send()
        .await?
        .bytes()
        .await?
        .to_vec())
}

async fn case_ocsp(env: &Env) -> Result<()> {
    let fresh = Freshness::at(wall_clock());
    let ca = &env.pki.ca.cert_der;
    let nonce = [7u8; 16];
    let good = ocsp_post(env, &env.pki.p256, Some(&nonce)).await?;
    ocsp::check_response(&good, &env.pki.p256.cert_der, ca, Some(&nonce), &fresh)
        .context("a good answer from openssl ocsp")?;
    // The answer for another certificate.
    let r = ocsp::check_response(&good, &env.pki.rsa.cert_der, ca, Some(&nonce), &fresh);
    ensure!(matches!(r, Err(OcspError::CertIdMismatch)), "{r:?}");
    // A nonce that is not ours.
    let r = ocsp::check_response(&good, &env.pki.p256.cert_der, ca, Some(&[8u8; 16]), &fresh);
    ensure!(matches!(r, Err(OcspError::NonceMismatch)), "{r:?}");
    // A damaged signature (the last bytes of the response are the signature's).
    let parsed = ocsp::parse_response(&good)?;
    let sig = parsed
        .basic
        .signature
        .as_bytes()
        .context("signature bits")?
        .to_vec();
    let pos = good
        .windows(sig.len())
        .position(|w| w == sig.as_slice())
        .context("find signature")?;
    let mut bad = good.clone();
    bad[pos + sig.len() / 2] ^= 0x40;
    let r = ocsp::check_response(&bad, &env.pki.p256.cert_der, ca, Some(&nonce), &fresh);
    ensure!(matches!(r, Err(OcspError::BadSignature(_))), "{r:?}");
    // Checked against the wrong issuer: the delegated responder is not its.
    let r = ocsp::check_response(
        &good,
        &env.pki.p256.cert_der,
        &env.pki.root.cert_der,
        Some(&nonce),
        &fresh,
    );
    ensure!(matches!(r, Err(OcspError::CertIdMismatch)), "{r:?}");
    // Too late: a week from now the answer is stale.
    let r = ocsp::check_response(
        &good,
        &env.pki.p256.cert_der,
        ca,
        Some(&nonce),
        &Freshness::at(wall_clock() + Duration::from_secs(7 * 86_400)),
    );
    ensure!(matches!(r, Err(OcspError::Stale)), "{r:?}");
    // Two months on, the delegated responder's own certificate has expired.
    let r = ocsp::check_response(
        &good,
        &env.pki.p256.cert_der,
        ca,
        Some(&nonce),
        &Freshness::at(wall_clock() + Duration::from_secs(60 * 86_400)),
    );
    ensure!(
        matches!(r, Err(OcspError::ResponderCertificateExpired)),
        "{r:?}"
    );
    // The revoked certificate.
    let revoked = ocsp_post(env, &env.pki.revoked, None).await?;
    let r = ocsp::check_response(&revoked, &env.pki.revoked.cert_der, ca, None, &fresh);
    ensure!(matches!(r, Err(OcspError::Revoked(_))), "{r:?}");
    // An error status.
    let r = ocsp::check_response(
        &ocsp::error_response(ocsp::ResponseStatus::TryLater)?,
        &env.pki.p256.cert_der,
        ca,
        None,
        &fresh,
    );
    ensure!(
        matches!(
            r,
            Err(OcspError::Unsuccessful(ocsp::ResponseStatus::TryLater))
        ),
        "{r:?}"
    );
    Ok(())
}

async fn case_ocsp_encoder(env: &Env) -> Result<()> {
    let now = wall_clock();
    let d = env.dir();
    let cert = x509_cert::Certificate::from_der(&env.pki.p256.cert_der)?;
    let issuer = x509_cert::Certificate::from_der(&env.pki.ca.cert_der)?;
    for (responder, delegated, alg) in [
        (
            &env.pki.ca,
            false,
            SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
        ),
        (
            &env.pki.ocsp,
            true,
            SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
        ),
    ] {
        for (status, expect) in [
            (CertStatus::Good(der::asn1::Null), "good"),
            (
                CertStatus::Revoked(ocsp::RevokedInfo {
                    revocation_time: tsp::GenTime::from_system_time(now - Duration::from_secs(10))?,
                    revocation_reason: Some(ocsp::CrlReason::KeyCompromise),
                }),
                "revoked",
            ),
        ] {
            let prepared = ocsp::ResponseBuilder {
                responder_cert: responder.cert_der.clone(),
                delegated,
                algorithm: alg,
            }
            .prepare(
                &[Answer {
                    cert_id: CertId::new(&cert, &issuer, CertIdHash::Sha1)?,
                    status,
                    this_update: now,
                    next_update: Some(now + Duration::from_secs(3600)),
                }],
                now,
                Some(&[1, 2, 3, 4]),
            )?;
            let sig = softkey::sign(&responder.key, alg, &prepared.to_be_signed())?;
            let resp = prepared.finish(&sig)?;
            std::fs::write(d.join("resp.der"), &resp)?;
            let out = openssl(
                d,
                &[
                    "ocsp",
                    "-respin",
                    "resp.der",
                    "-issuer",
                    "ca.pem",
                    "-cert",
                    "p256.pem",
                    "-CAfile",
                    "root.pem",
                    "-verify_other",
                    "ca.pem",
                    "-no_nonce",
                ],
            )?;
            let out = String::from_utf8_lossy(&out);
            ensure!(out.contains("Response verify OK"), "openssl ocsp: {out}");
            ensure!(
                out.contains(&format!("p256.pem: {expect}")),
                "openssl ocsp: {out}"
            );
            let ours = ocsp::check_response(
                &resp,
                &env.pki.p256.cert_der,
                &env.pki.ca.cert_der,
                Some(&[1, 2, 3, 4]),
                &Freshness::at(now),
            );
            ensure!(
                if expect == "good" {
                    ours.is_ok()
                } else {
                    matches!(ours, Err(OcspError::Revoked(_)))
                },
                "{ours:?}"
            );
        }
    }
    // A responder the CA did not certify for OCSP signing.
    let alg = SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256);
    let prepared = ocsp::ResponseBuilder {
        responder_cert: env.pki.revoked.cert_der.clone(),
        delegated: true,
        algorithm: alg,
    }
    .prepare(
        &[Answer {
            cert_id: CertId::new(&cert, &issuer, CertIdHash::Sha1)?,
            status: CertStatus::Good(der::asn1::Null),
            this_update: now,
            next_update: None,
        }],
        now,
        None,
    )?;
    let sig = softkey::sign(&env.pki.revoked.key, alg, &prepared.to_be_signed())?;
    let resp = prepared.finish(&sig)?;
    let r = ocsp::check_response(
        &resp,
        &env.pki.p256.cert_der,
        &env.pki.ca.cert_der,
        None,
        &Freshness::at(now),
    );
    ensure!(matches!(r, Err(OcspError::ResponderNotAuthorized)), "{r:?}");
    println!(
        "  OCSP encoder: 4 responses accepted by openssl ocsp -respin (CA-signed and delegated, good and revoked)"
    );
    Ok(())
}

async fn case_crl(env: &Env, crls: &HashMap<String, Vec<u8>>) -> Result<()> {
    let d = env.dir();
    for (name, issuer_chain) in [("ca.crl", "chain.pem"), ("root.crl", "root.pem")] {
        std::fs::write(d.join(name), &crls[name])?;
        let out = openssl(
            d,
            &[
                "crl",
                "-inform",
                "DER",
                "-in",
                name,
                "-CAfile",
                issuer_chain,
                "-noout",
                "-text",
            ],
        )?;
        let out = String::from_utf8_lossy(&out);
        ensure!(out.contains("verify OK"), "openssl crl {name}: {out}");
        ensure!(out.contains("X509v3 CRL Number"), "no CRL number: {out}");
    }
    let fresh = Freshness::at(wall_clock());
    let ca_crl = &crls["ca.crl"];
    crl::check_crl(ca_crl, &env.pki.p256.cert_der, &env.pki.ca.cert_der, &fresh)?;
    let r = crl::check_crl(
        ca_crl,
        &env.pki.revoked.cert_der,
        &env.pki.ca.cert_der,
        &fresh,
    );
    ensure!(matches!(r, Err(CrlError::Revoked(_))), "{r:?}");
    let r = crl::check_crl(
        &crls["root.crl"],
        &env.pki.p256.cert_der,
        &env.pki.ca.cert_der,
        &fresh,
    );
    ensure!(matches!(r, Err(CrlError::WrongIssuer)), "{r:?}");
    let mut bad = ca_crl.clone();
    let n = bad.len() - 3;
    bad[n] ^= 1;
    let r = crl::check_crl(&bad, &env.pki.p256.cert_der, &env.pki.ca.cert_der, &fresh);
    ensure!(matches!(r, Err(CrlError::BadSignature(_))), "{r:?}");
    let r = crl::check_crl(
        ca_crl,
        &env.pki.p256.cert_der,
        &env.pki.ca.cert_der,
        &Freshness::at(wall_clock() + Duration::from_secs(3 * 86_400)),
    );
    ensure!(matches!(r, Err(CrlError::Stale)), "{r:?}");
    Ok(())
}

async fn case_b_lt(env: &Env) -> Result<()> {
    let fetcher = RevocationFetcher::new(env.http.clone());
    let fresh = Freshness::at(wall_clock());
    let mut rng = rand::rng();
    let client = TsaClient::new(env.http.clone(), format!("{}/tsa", env.base));
    let data = b"qsign CAdES B-LT test content\n";
    // OCSP for the signer, the root's CRL for the issuing CA.
    for (who, alg, crl_only) in [
        (
            &env.pki.p256,
            SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
            false,
        ),
        (
            &env.pki.crl_only,
            SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
            true,
        ),
    ] {
        let mut sig = sign_b_b(env, who, alg, data, false, None)?;
        let token = client
            .timestamp(
                &sig.signature_timestamp_imprint(DigestAlgorithm::Sha256)?,
                &mut rng,
            )
            .await?;
        sig.add_signature_timestamp(token.to_der())?;
        let chain = vec![
            who.cert_der.clone(),
            env.pki.ca.cert_der.clone(),
            env.pki.root.cert_der.clone(),
        ];
        let mut vd = fetcher.collect(&chain, &fresh, &mut rng).await?;
        // The TSA's own chain, so the timestamp validates offline too.
        let tsa_chain = vec![
            env.pki.tsa.cert_der.clone(),
            env.pki.ca.cert_der.clone(),
            env.pki.root.cert_der.clone(),
        ];
        vd.merge(fetcher.collect(&tsa_chain, &fresh, &mut rng).await?);
        ensure!(
            vd.crls.len() == if crl_only { 2 } else { 1 },
            "crls: {}",
            vd.crls.len()
        );
        ensure!(
            vd.ocsp_responses.len() == if crl_only { 1 } else { 2 },
            "ocsp: {}",
            vd.ocsp_responses.len()
        );
        sig.add_validation_data(&vd)?;
        let der = sig.to_der()?;
        std::fs::write(env.dir().join(format!("b-lt-{}.p7s", who.name)), &der)?;
        if crl_only {
            // Offline: the only CRLs openssl has are those inside the signature.
            cms_verify(env, &der, data, false, &["-crl_check_all"])
                .context("openssl cms -verify -crl_check_all with embedded CRLs")?;
        } else {
            cms_verify(env, &der, data, false, &[])?;
        }
        pyhanko(env, &der, data, false, "B-LT").with_context(|| format!("B-LT {}", who.name))?;
        // Every embedded OCSP response, judged by openssl against the embedded certificates.
        let back = CadesSignature::from_der(&der)?;
        let embedded = back.validation_data()?;
        let sorted = |mut v: Vec<Vec<u8>>| {
            v.sort();
            v
        };
        ensure!(
            sorted(embedded.ocsp_responses.clone()) == sorted(vd.ocsp_responses.clone()),
            "OCSP responses not read back"
        );
        ensure!(embedded.crls.len() == vd.crls.len(), "CRLs not read back");
        for (i, resp) in embedded.ocsp_responses.iter().enumerate() {
            let f = format!("embedded-{i}.ocsp");
            std::fs::write(env.dir().join(&f), resp)?;
            let out = openssl(
                env.dir(),
                &[
                    "ocsp",
                    "-respin",
                    &f,
                    "-CAfile",
                    "root.pem",
                    "-verify_other",
                    "ca.pem",
                ],
            )?;
            let out = String::from_utf8_lossy(&out);
            ensure!(
                out.contains("Response verify OK"),
                "embedded OCSP {i}: {out}"
            );
        }
        let tokens = back.signature_timestamps()?;
        ts_verify_token(env, &tokens[0], back.signature_value()?)?;
    }
    // A signer whose OCSP responder is the one built on our encoder: B-LT validates offline.
    {
        let who = &env.pki.dev_ocsp;
        let alg = SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256);
        let mut sig = sign_b_b(env, who, alg, data, false, None)?;
        let token = client
            .timestamp(
                &sig.signature_timestamp_imprint(DigestAlgorithm::Sha256)?,
                &mut rng,
            )
            .await?;
        sig.add_signature_timestamp(token.to_der())?;
        let chain = vec![
            who.cert_der.clone(),
            env.pki.ca.cert_der.clone(),
            env.pki.root.cert_der.clone(),
        ];
        let tsa_chain = vec![
            env.pki.tsa.cert_der.clone(),
            env.pki.ca.cert_der.clone(),
            env.pki.root.cert_der.clone(),
        ];
        let mut vd = fetcher.collect(&chain, &fresh, &mut rng).await?;
        vd.merge(fetcher.collect(&tsa_chain, &fresh, &mut rng).await?);
        sig.add_validation_data(&vd)?;
        let der = sig.to_der()?;
        cms_verify(env, &der, data, false, &[])?;
        pyhanko(env, &der, data, false, "B-LT")
            .context("B-LT with the encoder-built OCSP responder")?;
    }
    // Responders that answer for another certificate, or sign badly: no B-LT data, a clear error.
    for (who, expect) in [
        (&env.pki.wrong_ocsp, "wrong certificate"),
        (&env.pki.badsig_ocsp, "bad signature"),
    ] {
        let chain = vec![
            who.cert_der.clone(),
            env.pki.ca.cert_der.clone(),
            env.pki.root.cert_der.clone(),
        ];
        let r = fetcher.collect(&chain, &fresh, &mut rng).await;
        let ok = matches!(
            (&r, expect),
            (
                Err(RevocationError::Ocsp {
                    index: 0,
                    source: OcspError::CertIdMismatch,
                }),
                "wrong certificate",
            ) | (
                Err(RevocationError::Ocsp {
                    index: 0,
                    source: OcspError::BadSignature(_),
                }),
                "bad signature",
            )
        );
        ensure!(ok, "{expect}: {r:?}");
    }
    // A revoked signer: collecting its revocation data fails, so no B-LT signature is made.
    let chain = vec![
        env.pki.revoked.cert_der.clone(),
        env.pki.ca.cert_der.clone(),
        env.pki.root.cert_der.clone(),
    ];
    let r = fetcher.collect(&chain, &fresh, &mut rng).await;
    ensure!(
        matches!(
            r,
            Err(RevocationError::Ocsp {
                index: 0,
                source: OcspError::Revoked(_)
            })
        ),
        "{r:?}"
    );
    println!(
        "  B-LT: OCSP-based and CRL-based signatures verified by openssl cms -verify (CRL one with -crl_check_all offline) and by pyHanko offline with revocation hard-fail, also with the responder built on our OCSP encoder; wrong-certificate and badly signed OCSP answers refused"
    );
    Ok(())
}

/// The `sign-cades` example, which `cargo test` builds beside this binary.
fn example_binary() -> Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test binary location")?;
    let p = dir.join("examples").join("sign-cades");
    ensure!(
        p.exists(),
        "the sign-cades example is not built at {} (run the tests with `cargo test -p signer`, which builds examples)",
        p.display()
    );
    Ok(p)
}

async fn case_example(env: &Env) -> Result<()> {
    let exe = example_binary()?;
    let d = env.pki.dir.0.clone();
    let data = b"qsign sign-cades example input\n";
    std::fs::write(d.join("in.txt"), data)?;
    let tsa = format!("{}/tsa", env.base);
    let mut n = 0;
    for (name, level, attached, pss) in [
        ("rsa", "B-B", true, false),
        ("rsa", "B-T", false, true),
        ("rsa", "B-LT", false, false),
        ("p256", "B-LT", false, false),
        ("p384", "B-LT", true, false),
        ("ed25519", "B-LT", false, false),
    ] {
        let out = format!("ex-{name}-{level}.p7s");
        let (key, cert) = (format!("{name}.key"), format!("{name}.pem"));
        let mut args = vec![
            "in.txt",
            &out,
            "--key",
            &key,
            "--cert",
            &cert,
            "--chain",
            "chain.pem",
            "--level",
            level,
            "--tsa",
            &tsa,
        ];
        if attached {
            args.push("--attached");
        }
        if pss {
            args.push("--pss");
        }
        let exe_s = exe.to_str().context("path")?.to_string();
        let dd = d.clone();
        let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
            pki::run(&dd, &exe_s, &refs)
        })
        .await??;
        let der = std::fs::read(d.join(&out))?;
        if name != "ed25519" {
            cms_verify(env, &der, data, attached, &[])?;
        }
        pyhanko(env, &der, data, attached, level)
            .with_context(|| format!("example {name} {level}"))?;
        n += 1;
    }
    // A refusing TSA: the tool fails and writes nothing.
    let exe_s = exe.to_str().context("path")?.to_string();
    let dd = d.clone();
    let reject = format!("{}/tsa-reject", env.base);
    let r = tokio::task::spawn_blocking(move || {
        pki::run(
            &dd,
            &exe_s,
            &[
                "in.txt",
                "refused.p7s",
                "--key",
                "p256.key",
                "--cert",
                "p256.pem",
                "--chain",
                "chain.pem",
                "--level",
                "B-T",
                "--tsa",
                &reject,
            ],
        )
    })
    .await?;
    let msg = format!(
        "{:#}",
        r.err().context("the example accepted a refusing TSA")?
    );
    ensure!(msg.contains("refused the request"), "unclear error: {msg}");
    ensure!(
        !d.join("refused.p7s").exists(),
        "a signature was written despite the refusal"
    );
    // A responder answering for another certificate: the tool fails at B-LT and writes nothing.
    let exe_s = exe.to_str().context("path")?.to_string();
    let dd = d.clone();
    let tsa2 = format!("{}/tsa", env.base);
    let r = tokio::task::spawn_blocking(move || {
        pki::run(
            &dd,
            &exe_s,
            &[
                "in.txt",
                "refused-lt.p7s",
                "--key",
                "wrong_ocsp.key",
                "--cert",
                "wrong_ocsp.pem",
                "--chain",
                "chain.pem",
                "--level",
                "B-LT",
                "--tsa",
                &tsa2,
            ],
        )
    })
    .await?;
    let msg = format!(
        "{:#}",
        r.err()
            .context("the example accepted an OCSP answer for another certificate")?
    );
    ensure!(
        msg.contains("no answer for this certificate"),
        "unclear error: {msg}"
    );
    ensure!(
        !d.join("refused-lt.p7s").exists(),
        "a signature was written despite the bad OCSP answer"
    );
    println!(
        "  sign-cades example: {n} outputs validated (openssl cms -verify, pyHanko); refusing TSA and wrong OCSP answer → error, no file"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formats_against_outside_tools() {
    if let Err(e) = run_all().await {
        panic!("{e:#}");
    }
}

async fn run_all() -> Result<()> {
    let pki = tokio::task::spawn_blocking(Pki::new).await??;
    let now = wall_clock();
    let mut files = HashMap::new();
    files.insert(
        "root.crl".to_string(),
        make_crl(
            &pki.root,
            SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha384),
            &[],
            now,
        )?,
    );
    files.insert(
        "ca.crl".to_string(),
        make_crl(
            &pki.ca,
            SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256),
            &[&[0x10, 0x05]],
            now,
        )?,
    );
    servers::write_ts_config(&pki.dir.0)?;
    let state = Arc::new(tsa_state(&pki, files.clone())?);
    servers::start(state, pki.http_port).await?;
    let _ocsp = pki.start_ocsp_responder()?;
    let env = Env {
        base: format!("http://127.0.0.1:{}", pki.http_port),
        http: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()?,
        pki,
    };

    let mut failures = Vec::new();
    macro_rules! case {
        ($name:literal, $e:expr) => {{
            let r: Result<()> = $e.await;
            match r {
                Ok(()) => println!("ok   {}", $name),
                Err(e) => {
                    println!("FAIL {}: {e:#}", $name);
                    failures.push(format!("{}: {e:#}", $name));
                }
            }
        }};
    }
    case!(
        "cades_b_b_every_algorithm_attached_and_detached",
        case_b_b(&env)
    );
    case!("cades_b_b_refusals", case_b_b_refusals(&env));
    case!("cades_b_t_with_builtin_and_openssl_tsa", case_b_t(&env));
    case!("tsa_tokens_verified_by_openssl", case_tsa_tokens(&env));
    case!("tsa_refusals", case_tsa_refusals(&env));
    case!("ocsp_against_openssl_responder", case_ocsp(&env));
    case!("ocsp_encoder_judged_by_openssl", case_ocsp_encoder(&env));
    case!("crl_encoder_and_checks", case_crl(&env, &files));
    case!("cades_b_lt_offline", case_b_lt(&env));
    case!("sign_cades_example", case_example(&env));
    if !failures.is_empty() {
        bail!(
            "{} case(s) failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    Ok(())
}
