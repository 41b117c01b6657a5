//! A small HTTP server on 127.0.0.1 for the tests: serves CRLs and acts as RFC 3161 responders
//! (the built-in token encoder, `openssl ts -reply`, and deliberately wrong ones).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};
use openssl::pkey::{PKey, Private};
use signer::tsp::{self, TsaSigner};
use signer::{DigestAlgorithm, SignatureAlgorithm};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::softkey;

pub struct State {
    pub files: HashMap<String, Vec<u8>>,
    pub tsa: TsaSigner,
    pub tsa_key: PKey<Private>,
    pub tsa_alg: SignatureAlgorithm,
    pub dir: PathBuf,
    pub clock: fn() -> SystemTime,
    /// The issuing CA, for the OCSP responder built on our encoder.
    pub ca_cert: Vec<u8>,
    pub ca_key: PKey<Private>,
}

#[derive(Clone, Copy)]
enum OcspMode {
    Honest,
    WrongCertificate,
    BadSignature,
}

/// An OCSP responder for the development CA built on `ocsp::ResponseBuilder`: every certificate
/// asked about is good (the tests use it only for certificates that are).
fn dev_ocsp(state: &State, body: &[u8], mode: OcspMode) -> Result<Vec<u8>> {
    use der::Decode;
    use signer::ocsp::{self, Answer, CertStatus, OcspRequest, ResponseBuilder};
    let req = match OcspRequest::from_der(body) {
        Ok(r) => r,
        Err(_) => {
            return Ok(ocsp::error_response(
                ocsp::ResponseStatus::MalformedRequest,
            )?);
        }
    };
    let now = (state.clock)();
    let answers = req
        .tbs_request
        .request_list
        .iter()
        .map(|r| {
            let mut cert_id = r.req_cert.clone();
            if let OcspMode::WrongCertificate = mode {
                cert_id.serial_number = x509_cert::serial_number::SerialNumber::new(&[0x7f, 0x7f])?;
            }
            Ok(Answer {
                cert_id,
                status: CertStatus::Good(der::asn1::Null),
                this_update: now - std::time::Duration::from_secs(60),
                next_update: Some(now + std::time::Duration::from_secs(3600)),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let alg = SignatureAlgorithm::Ecdsa(DigestAlgorithm::Sha256);
    let prepared = ResponseBuilder {
        responder_cert: state.ca_cert.clone(),
        delegated: false,
        algorithm: alg,
    }
    .prepare(&answers, now, ocsp::request_nonce(&req).as_deref())?;
    let sig = softkey::sign(&state.ca_key, alg, &prepared.to_be_signed())?;
    let mut resp = prepared.finish(&sig)?;
    if let OcspMode::BadSignature = mode {
        // The response ends with the signature (no certificates follow): change its last byte.
        if let Some(last) = resp.last_mut() {
            *last ^= 0x01;
        }
    }
    Ok(resp)
}

pub struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

fn ok(content_type: &'static str, body: Vec<u8>) -> Response {
    Response {
        status: 200,
        content_type,
        body,
    }
}

fn not_found() -> Response {
    Response {
        status: 404,
        content_type: "text/plain",
        body: b"not found".to_vec(),
    }
}

fn server_error(e: anyhow::Error) -> Response {
    Response {
        status: 500,
        content_type: "text/plain",
        body: format!("{e:#}").into_bytes(),
    }
}

const TSR: &str = "application/timestamp-reply";

fn builtin_tsa(state: &State, body: &[u8], tamper: Tamper) -> Result<Vec<u8>> {
    let mut req = TsaSigner::parse_request(body)?;
    match tamper {
        Tamper::None => {}
        Tamper::Imprint => {
            let other = DigestAlgorithm::Sha256.hash(b"something else entirely");
            req.message_imprint = tsp::MessageImprint::new(&other)?;
        }
        Tamper::Nonce => {
            req.nonce = Some(der::asn1::Int::new(&[0x42, 1, 2, 3])?);
        }
    }
    let mut rng = rand::rng();
    let prepared = state.tsa.prepare(&req, (state.clock)(), &mut rng)?;
    let sig = softkey::sign(&state.tsa_key, state.tsa_alg, &prepared.to_be_signed())?;
    let token = prepared.finish(&sig)?;
    Ok(tsp::granted_response(&token)?)
}

#[derive(Clone, Copy)]
enum Tamper {
    None,
    Imprint,
    Nonce,
}

/// Wraps `openssl ts -reply` (a TSA we did not write; its genTime has milliseconds).
fn openssl_tsa(state: &State, body: &[u8]) -> Result<Vec<u8>> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let q = state.dir.join(format!("q{n}.tsq"));
    let r = state.dir.join(format!("r{n}.tsr"));
    std::fs::write(&q, body)?;
    crate::pki::openssl(
        &state.dir,
        &[
            "ts",
            "-reply",
            "-config",
            "ts.cnf",
            "-queryfile",
            q.to_str().context("path")?,
            "-out",
            r.to_str().context("path")?,
        ],
    )?;
    Ok(std::fs::read(&r)?)
}

fn handle(state: &State, method: &str, path: &str, body: &[u8]) -> Response {
    let result = match (method, path) {
        ("GET", p) => match state.files.get(p.trim_start_matches('/')) {
            Some(b) => return ok("application/pkix-crl", b.clone()),
            None => return not_found(),
        },
        ("POST", "/tsa") => builtin_tsa(state, body, Tamper::None),
        ("POST", "/tsa-wrong-imprint") => builtin_tsa(state, body, Tamper::Imprint),
        ("POST", "/tsa-wrong-nonce") => builtin_tsa(state, body, Tamper::Nonce),
        ("POST", "/tsa-reject") => TsaSigner::rejection("policy not accepted").map_err(Into::into),
        ("POST", "/tsa-openssl") => openssl_tsa(state, body),
        ("POST", "/tsa-garbage") => Ok(b"\x30\x03\x02\x01".to_vec()),
        ("POST", "/ocsp-dev") => return ocsp_reply(dev_ocsp(state, body, OcspMode::Honest)),
        ("POST", "/ocsp-wrong-cert") => {
            return ocsp_reply(dev_ocsp(state, body, OcspMode::WrongCertificate));
        }
        ("POST", "/ocsp-bad-signature") => {
            return ocsp_reply(dev_ocsp(state, body, OcspMode::BadSignature));
        }
        _ => return not_found(),
    };
    match result {
        Ok(b) => ok(TSR, b),
        Err(e) => server_error(e),
    }
}

fn ocsp_reply(r: Result<Vec<u8>>) -> Response {
    match r {
        Ok(b) => ok("application/ocsp-response", b),
        Err(e) => server_error(e),
    }
}

/// Serves `state` on 127.0.0.1 (a random port) for as long as the runtime lives.
pub async fn start(state: Arc<State>, port: u16) -> Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, content_len) = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..pos]).to_string();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        break (pos + 4, len);
                    }
                };
                while buf.len() < head_end + content_len {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut first = head.lines().next().unwrap_or("").split_whitespace();
                let method = first.next().unwrap_or("").to_string();
                let path = first.next().unwrap_or("").to_string();
                let body = buf[head_end..head_end + content_len].to_vec();
                let resp =
                    tokio::task::spawn_blocking(move || handle(&state, &method, &path, &body))
                        .await
                        .unwrap_or_else(|e| server_error(e.into()));
                let mut out = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    resp.status,
                    resp.content_type,
                    resp.body.len()
                )
                .into_bytes();
                out.extend_from_slice(&resp.body);
                let _ = sock.write_all(&out).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(())
}

/// `openssl ts -reply` configuration for the test TSA (milliseconds in genTime, accuracy, ESS v2).
pub fn write_ts_config(dir: &std::path::Path) -> Result<()> {
    std::fs::write(dir.join("tsaserial"), "01\n")?;
    std::fs::write(
        dir.join("ts.cnf"),
        "[tsa]\ndefault_tsa = tsa1\n[tsa1]\nserial = ./tsaserial\ncrypto_device = builtin\n\
         signer_cert = ./tsa.pem\ncerts = ./chain.pem\nsigner_key = ./tsa.key\n\
         signer_digest = sha256\ndefault_policy = 1.3.6.1.4.1.99999.1.1\n\
         digests = sha256, sha384, sha512\naccuracy = secs:1, millisecs:500, microsecs:100\n\
         clock_precision_digits = 3\nordering = yes\ntsa_name = yes\n\
         ess_cert_id_chain = no\ness_cert_id_alg = sha256\n",
    )?;
    Ok(())
}
