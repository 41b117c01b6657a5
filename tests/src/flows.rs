//! Positive flows: every key kind and algorithm, v1 and v2 field names on both paths, TOTP,
//! SCAL2 hash pinning, extendTransaction, and the operational endpoints.

use openssl::hash::MessageDigest;
use openssl::md::{Md, MdRef};
use openssl::pkey::{PKey, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::sign::RsaPssSaltlen;
use openssl::x509::X509;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;
use crate::on_both_databases;

/// How a returned signature must verify.
#[derive(Clone, Copy)]
enum Check {
    Ecdsa,
    Pkcs1(&'static MdRef),
    Pss(&'static MdRef, i32),
}

fn verify(key: &PKey<Public>, check: Check, digest: &[u8], sig: &[u8]) -> bool {
    let mut ctx = PkeyCtx::new(key).unwrap();
    ctx.verify_init().unwrap();
    match check {
        Check::Ecdsa => {}
        Check::Pkcs1(md) => {
            ctx.set_rsa_padding(Padding::PKCS1).unwrap();
            ctx.set_signature_md(md).unwrap();
        }
        Check::Pss(md, salt) => {
            ctx.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
            ctx.set_signature_md(md).unwrap();
            ctx.set_rsa_mgf1_md(md).unwrap();
            ctx.set_rsa_pss_saltlen(RsaPssSaltlen::custom(salt))
                .unwrap();
        }
    }
    ctx.verify(digest, sig).unwrap_or(false)
}

async fn leaf_key(
    app: &TestApp,
    s: &Session,
    cred: &str,
    version: &str,
) -> (PKey<Public>, serde_json::Value) {
    let (status, info) = app
        .post(
            &format!("/csc/{version}/credentials/info"),
            Some(&s.token),
            &json!({"credentialID": cred, "certificates": "chain", "certInfo": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    let chain = info["cert"]["certificates"].as_array().unwrap();
    assert_eq!(chain.len(), 3, "signer, issuing CA, root");
    let leaf = X509::from_der(&unb64(&chain[0])).unwrap();
    let subject = info["cert"]["subjectDN"].as_str().unwrap();
    assert!(subject.contains("NOT QUALIFIED"), "{subject}");
    assert!(info["multisign"].is_i64());
    (leaf.public_key().unwrap(), info)
}

/// Authorizes `hashes`, signs them with `sign_algo` (and optional params) and checks each
/// signature against the certificate's key.
#[allow(clippy::too_many_arguments)]
async fn sign_and_check(
    app: &TestApp,
    s: &Session,
    cred: &str,
    version: &str,
    md: MessageDigest,
    sign_algo: &str,
    hash_algo: Option<&str>,
    params: Option<Vec<u8>>,
    check: Check,
) {
    let hashes: Vec<Vec<u8>> = (0..3)
        .map(|i| digest(md, format!("{sign_algo} document {i}").as_bytes()))
        .collect();
    let (key, _) = leaf_key(app, s, cred, version).await;
    let sad = app.authorize(s, cred, &hashes).await;
    let mut body = if version == "v1" {
        json!({"credentialID": cred, "SAD": sad, "hash": b64_all(&hashes), "signAlgo": sign_algo})
    } else {
        json!({"credentialID": cred, "SAD": sad, "hashes": b64_all(&hashes), "signAlgo": sign_algo,
               "operationMode": "S"})
    };
    if let Some(h) = hash_algo {
        body[if version == "v1" {
            "hashAlgo"
        } else {
            "hashAlgorithmOID"
        }] = json!(h);
    }
    if let Some(p) = params {
        body["signAlgoParams"] = json!(b64(&p));
    }
    let (status, out) = app
        .post(
            &format!("/csc/{version}/signatures/signHash"),
            Some(&s.token),
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sign_algo}: {out}");
    let sigs = out["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), hashes.len());
    for (h, sig) in hashes.iter().zip(sigs) {
        let sig = unb64(sig);
        assert!(
            verify(&key, check, h, &sig),
            "{sign_algo} signature does not verify"
        );
        if let Check::Ecdsa = check {
            assert_eq!(sig[0], 0x30, "ECDSA signatures are DER Ecdsa-Sig-Value");
        }
    }
}

fn pss_params(md: signer::DigestAlgorithm, salt: u32) -> Vec<u8> {
    use der::Encode;
    signer::alg::PssParams::new(md, md, salt).to_der().unwrap()
}

on_both_databases! {
    async fn every_algorithm_signs_and_verifies(app: TestApp) {
        app.user("alice").await;
        let s = app.login("alice").await;
        for version in ["v1", "v2"] {
            for key in ["ecdsa-p256", "ecdsa-p384"] {
                let c = app.credential("alice", key, 1, "pin").await;
                sign_and_check(app, &s, &c.id, version, MessageDigest::sha256(), "1.2.840.10045.4.3.2", None, None, Check::Ecdsa).await;
                sign_and_check(app, &s, &c.id, version, MessageDigest::sha384(), "1.2.840.10045.4.3.3", Some("2.16.840.1.101.3.4.2.2"), None, Check::Ecdsa).await;
                sign_and_check(app, &s, &c.id, version, MessageDigest::sha512(), "1.2.840.10045.4.3.4", None, None, Check::Ecdsa).await;
            }
        }
        for key in ["rsa-2048", "rsa-3072"] {
            let c = app.credential("alice", key, 1, "pin").await;
            let version = if key == "rsa-2048" { "v1" } else { "v2" };
            sign_and_check(app, &s, &c.id, version, MessageDigest::sha256(), "1.2.840.113549.1.1.11", None, None, Check::Pkcs1(Md::sha256())).await;
            sign_and_check(app, &s, &c.id, version, MessageDigest::sha384(), "1.2.840.113549.1.1.12", None, None, Check::Pkcs1(Md::sha384())).await;
            sign_and_check(app, &s, &c.id, version, MessageDigest::sha512(), "1.2.840.113549.1.1.13", None, None, Check::Pkcs1(Md::sha512())).await;
            // Bare rsaEncryption plus the hash OID: the server builds the DigestInfo.
            sign_and_check(app, &s, &c.id, version, MessageDigest::sha256(), "1.2.840.113549.1.1.1", Some("2.16.840.1.101.3.4.2.1"), None, Check::Pkcs1(Md::sha256())).await;
            // RSASSA-PSS with the maximum salt (pyHanko's choice) and with a 32-byte salt.
            let max_salt = if key == "rsa-2048" { 222 } else { 350 };
            sign_and_check(app, &s, &c.id, version, MessageDigest::sha256(), "1.2.840.113549.1.1.10", None, Some(pss_params(signer::DigestAlgorithm::Sha256, max_salt)), Check::Pss(Md::sha256(), max_salt as i32)).await;
            sign_and_check(app, &s, &c.id, version, MessageDigest::sha384(), "1.2.840.113549.1.1.10", None, Some(pss_params(signer::DigestAlgorithm::Sha384, 32)), Check::Pss(Md::sha384(), 32)).await;
        }
    }
}

on_both_databases! {
    async fn v2_names_with_auth_data_on_the_v1_path_too(app: TestApp) {
        app.user("bob").await;
        let s = app.login("bob").await;
        let c = app.credential("bob", "ecdsa-p256", 1, "pin").await;
        let (key, info) = leaf_key(app, &s, &c.id, "v1").await;
        assert_eq!(info["SCAL"], "1");
        assert!(info["key"]["algo"].as_array().unwrap().contains(&json!("1.2.840.10045.4.3.2")));
        let hashes = vec![sha256(b"one"), sha256(b"two")];
        for path in ["/csc/v1", "/csc/v2"] {
            let (status, out) = app.post(&format!("{path}/credentials/authorize"), Some(&s.token), &json!({
                "credentialID": c.id, "numSignatures": 2, "hashes": b64_all(&hashes),
                "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
                "authData": [{"id": "PIN", "value": PIN}],
            })).await;
            assert_eq!(status, StatusCode::OK, "{out}");
            assert_eq!(out["expiresIn"], 300);
            let sad = out["SAD"].as_str().unwrap();
            assert!(sad.starts_with("qs_sad_"));
            let (status, out) = app.post(&format!("{path}/signatures/signHash"), Some(&s.token), &json!({
                "credentialID": c.id, "SAD": sad, "hashes": b64_all(&hashes),
                "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.10045.4.3.2",
            })).await;
            assert_eq!(status, StatusCode::OK, "{out}");
            for (h, sig) in hashes.iter().zip(out["signatures"].as_array().unwrap()) {
                assert!(verify(&key, Check::Ecdsa, h, &unb64(sig)));
            }
        }
        assert_eq!(app.signatures_audited(&c.id), 2);
    }
}

on_both_databases! {
    async fn pin_and_totp(app: TestApp) {
        app.user("carol").await;
        let s = app.login("carol").await;
        let c = app.credential("carol", "ecdsa-p256", 1, "pin+totp").await;
        let seed = otpauth_secret(c.otpauth.as_deref().unwrap());
        let (_, info) = leaf_key(app, &s, &c.id, "v1").await;
        assert_eq!(info["OTP"]["presence"], "true");
        let h = vec![sha256(b"prescription")];
        let body = |otp: Option<String>| {
            let mut b = json!({"credentialID": c.id, "numSignatures": 1, "hash": b64_all(&h), "PIN": PIN});
            if let Some(o) = otp { b["OTP"] = json!(o); }
            b
        };
        // Without the OTP: refused.
        let r = app.post("/csc/v1/credentials/authorize", Some(&s.token), &body(None)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        // Wrong OTP: refused.
        let r = app.post("/csc/v1/credentials/authorize", Some(&s.token), &body(Some("000000".into()))).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_pin");
        let step = sam::Clock::now_s(&app.clock) / 30;
        let code = format!("{:06}", sam::factors::totp_code(&seed, step).unwrap());
        let r = app.post("/csc/v1/credentials/authorize", Some(&s.token), &body(Some(code.clone()))).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        // The same code again is a replay.
        let r = app.post("/csc/v1/credentials/authorize", Some(&s.token), &body(Some(code))).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_pin");
    }
}

on_both_databases! {
    async fn r02_scal2_hash_pinning(app: TestApp) {
        app.user("dora").await;
        let s = app.login("dora").await;
        let c = app.credential("dora", "ecdsa-p256", 2, "pin").await;
        let (h1, h2, h3) = (sha256(b"h1"), sha256(b"h2"), sha256(b"h3"));
        // SCAL2 authorizes an exact list, never a bare count.
        let r = app.post("/csc/v2/credentials/authorize", Some(&s.token), &json!({
            "credentialID": c.id, "numSignatures": 2, "authData": [{"id": "PIN", "value": PIN}],
        })).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let sad = app.authorize(&s, &c.id, &[h1.clone(), h2.clone()]).await;
        let sign = |hashes: Vec<Vec<u8>>| {
            json!({"credentialID": c.id, "SAD": sad, "hash": b64_all(&hashes), "signAlgo": "1.2.840.10045.4.3.2"})
        };
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign(vec![h1.clone(), h3])).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(app.sad_budgets(&c.id), vec![2], "a refused request spends nothing");
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign(vec![h1.clone()])).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign(vec![h1])).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign(vec![h2])).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        assert_eq!(app.sad_budgets(&c.id), vec![0]);
        assert_eq!(app.signatures_audited(&c.id), 2);
    }
}

on_both_databases! {
    async fn extend_transaction_replaces_the_sad(app: TestApp) {
        app.user("erin").await;
        let s = app.login("erin").await;
        let c = app.credential("erin", "ecdsa-p256", 1, "pin").await;
        let h = vec![sha256(b"a"), sha256(b"b")];
        let old = app.authorize(&s, &c.id, &h).await;
        app.clock.advance_ms(200_000);
        let (status, out) = app.post("/csc/v1/credentials/extendTransaction", Some(&s.token),
            &json!({"credentialID": c.id, "SAD": old})).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        let new = out["SAD"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        app.clock.advance_ms(200_000);
        let sign = |sad: &str, hash: &Vec<u8>| json!({"credentialID": c.id, "SAD": sad,
            "hash": [b64(hash)], "signAlgo": "1.2.840.10045.4.3.2"});
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign(&old, &h[0])).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign(&new, &h[0])).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    }
}

on_both_databases! {
    async fn info_list_and_operational_endpoints(app: TestApp) {
        for path in ["/csc/v1/info", "/csc/v2/info"] {
            let (status, info) = app.post(path, None, &json!({})).await;
            assert_eq!(status, StatusCode::OK);
            let methods = info["methods"].as_array().unwrap();
            assert!(methods.contains(&json!("signatures/signHash")));
            assert!(!methods.contains(&json!("signatures/signDoc")), "signDoc is not implemented");
            assert!(info["name"].as_str().unwrap().contains("NOT QUALIFIED"));
        }
        let get = app.client.get(format!("{}/csc/v2/info", app.base)).send().await.unwrap();
        assert_eq!(get.status(), StatusCode::OK);
        app.user("fred").await;
        let s = app.login("fred").await;
        let a = app.credential("fred", "ecdsa-p256", 1, "pin").await;
        let b = app.credential("fred", "rsa-2048", 2, "pin").await;
        let (status, list) = app.post("/csc/v2/credentials/list", Some(&s.token),
            &json!({"credentialInfo": true, "certificates": "single", "maxResults": 1})).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["credentialIDs"], json!([a.id]));
        assert_eq!(list["credentialInfos"][0]["cert"]["certificates"].as_array().unwrap().len(), 1);
        let (_, next) = app.post("/csc/v2/credentials/list", Some(&s.token),
            &json!({"pageToken": list["nextPageToken"]})).await;
        assert_eq!(next["credentialIDs"], json!([b.id]));
        for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
            let r = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
        }
        let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("qsign_http_requests_total"), "{metrics}");
        let openapi: serde_json::Value = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
        assert!(openapi["paths"]["/csc/v2/signatures/signHash"].is_object());
    }
}

on_both_databases! {
    async fn remember_me_refresh_token(app: TestApp) {
        app.user("gina").await;
        let r = app.client.post(format!("{}/csc/v1/auth/login", app.base))
            .basic_auth("gina", Some(PASSWORD))
            .json(&json!({"rememberMe": true}))
            .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: serde_json::Value = r.json().await.unwrap();
        let refresh = body["refresh_token"].as_str().unwrap().to_owned();
        assert!(refresh.starts_with("qs_rt_"));
        // A refresh token is not an access token.
        let r = app.post("/csc/v1/credentials/list", Some(&refresh), &json!({})).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
        let (status, out) = app.post("/csc/v1/auth/login", None, &json!({"refresh_token": refresh})).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        let access = out["access_token"].as_str().unwrap();
        let (status, _) = app.post("/csc/v1/credentials/list", Some(access), &json!({})).await;
        assert_eq!(status, StatusCode::OK);
        // Revoking the session kills the refresh token too.
        let (status, _) = app.post("/csc/v1/auth/revoke", Some(access), &json!({"token": refresh})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let r = app.post("/csc/v1/auth/login", None, &json!({"refresh_token": refresh})).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
        let r = app.post("/csc/v1/credentials/list", Some(access), &json!({})).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    }
}

/// `--tls-cert`/`--tls-key`: the service answers over HTTPS with the configured certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_configured_certificate() {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    use std::io::{Read, Write};

    let app = TestApp::start(Db::Sqlite).await;
    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let cert_path = app.data.join("tls.pem");
    let key_path = app.data.join("tls.key");
    std::fs::write(&cert_path, cert.to_pem().unwrap()).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let tls = csc_api::server::start(
        app.sam.clone(),
        csc_api::server::ServerOptions {
            listen: "127.0.0.1:0".into(),
            tls: Some((cert_path, key_path)),
            workers: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let addr = tls.addr;
    let (status_line, peer_der) = tokio::task::spawn_blocking(move || {
        let mut connector = SslConnector::builder(SslMethod::tls()).unwrap();
        connector.set_verify(SslVerifyMode::NONE);
        let tcp = std::net::TcpStream::connect(addr).unwrap();
        let mut stream = connector.build().connect("localhost", tcp).unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        let peer = stream.ssl().peer_certificate().unwrap().to_der().unwrap();
        (out.lines().next().unwrap().to_owned(), peer)
    })
    .await
    .unwrap();
    assert_eq!(status_line, "HTTP/1.1 200 OK");
    assert_eq!(peer_der, cert.to_der().unwrap());
    tls.handle.stop(false).await;
    app.stop().await;
}
