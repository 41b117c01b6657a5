//! Refusals: each asserts the HTTP status, the CSC error code, and that nothing was signed or
//! spent.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;
use crate::on_both_databases;

const ES256: &str = "1.2.840.10045.4.3.2";

/// A user with one P-256 credential and a session.
async fn setup(app: &TestApp, user: &str) -> (Session, TestCredential) {
    app.user(user).await;
    let s = app.login(user).await;
    let c = app.credential(user, "ecdsa-p256", 1, "pin").await;
    (s, c)
}

fn sign_body(cred: &str, sad: &str, hashes: &[Vec<u8>]) -> Value {
    json!({"credentialID": cred, "SAD": sad, "hash": b64_all(hashes), "signAlgo": ES256})
}

/// Nothing was spent from the credential's SADs and nothing signed.
#[track_caller]
fn assert_untouched(app: &TestApp, cred: &str, budgets: &[i64]) {
    assert_eq!(
        app.sad_budgets(cred),
        budgets,
        "a refusal must spend nothing"
    );
    assert_eq!(
        app.signatures_audited(cred),
        0,
        "a refusal must sign nothing"
    );
}

on_both_databases! {
    async fn tokens_missing_bad_and_revoked(app: TestApp) {
        let (s, c) = setup(app, "alice").await;
        let h = vec![sha256(b"x")];
        let sad = app.authorize(&s, &c.id, &h).await;
        let body = sign_body(&c.id, &sad, &h);
        let r = app.post("/csc/v2/signatures/signHash", None, &body).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
        let r = app.post("/csc/v2/signatures/signHash", Some("qs_at_forged"), &body).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
        let r = app.post("/csc/v2/signatures/signHash", Some("not-even-prefixed"), &body).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
        // Expired token.
        app.clock.advance_ms(3_601_000);
        let r = app.post("/csc/v2/signatures/signHash", Some(&s.token), &body).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
        assert_untouched(app, &c.id, &[1]);
        // Revoked token: its session's SADs die with it.
        let s2 = app.login("alice").await;
        let sad2 = app.authorize(&s2, &c.id, &h).await;
        let (status, _) = app.post("/csc/v2/auth/revoke", Some(&s2.token), &json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let r = app.post("/csc/v2/signatures/signHash", Some(&s2.token), &sign_body(&c.id, &sad2, &h)).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
        let s3 = app.login("alice").await;
        let r = app.post("/csc/v2/signatures/signHash", Some(&s3.token), &sign_body(&c.id, &sad2, &h)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_untouched(app, &c.id, &[1, 1]);
        // Bad login.
        let r = app.login_with("alice", "wrong password").await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "authentication_error");
        let r = app.login_with("nobody", "wrong password").await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "authentication_error");
    }
}

on_both_databases! {
    async fn r05_another_users_credential(app: TestApp) {
        let (alice, ca) = setup(app, "alice").await;
        let (bob, cb) = setup(app, "bob").await;
        let (_, list) = app.post("/csc/v2/credentials/list", Some(&bob.token), &json!({})).await;
        assert_eq!(list["credentialIDs"], json!([cb.id]), "bob sees only his own credentials");
        let r = app.post("/csc/v2/credentials/list", Some(&bob.token), &json!({"userID": "alice"})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let r = app.post("/csc/v2/credentials/info", Some(&bob.token), &json!({"credentialID": ca.id})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let h = vec![sha256(b"contract")];
        let r = app.post("/csc/v1/credentials/authorize", Some(&bob.token),
            &json!({"credentialID": ca.id, "numSignatures": 1, "hash": b64_all(&h), "PIN": PIN})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        // Alice's SAD in Bob's hands, for Alice's credential or for Bob's: refused.
        let sad = app.authorize(&alice, &ca.id, &h).await;
        let r = app.post("/csc/v1/signatures/signHash", Some(&bob.token), &sign_body(&ca.id, &sad, &h)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let r = app.post("/csc/v1/signatures/signHash", Some(&bob.token), &sign_body(&cb.id, &sad, &h)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        // The same SAD from another session of Alice's: bound to the session it was issued to.
        let alice2 = app.login("alice").await;
        let r = app.post("/csc/v1/signatures/signHash", Some(&alice2.token), &sign_body(&ca.id, &sad, &h)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_untouched(app, &ca.id, &[1]);
        assert_untouched(app, &cb.id, &[]);
    }
}

on_both_databases! {
    async fn r12_wrong_pin_and_lockout_after_five(app: TestApp) {
        let (s, c) = setup(app, "alice").await;
        let h = vec![sha256(b"x")];
        let body = |pin: &str| json!({"credentialID": c.id, "numSignatures": 1, "hash": b64_all(&h), "PIN": pin});
        for _ in 0..5 {
            let r = app.post("/csc/v1/credentials/authorize", Some(&s.token), &body("000000")).await;
            assert_error(&r, StatusCode::BAD_REQUEST, "invalid_pin");
        }
        // Locked: even the right PIN is refused.
        let r = app.post("/csc/v1/credentials/authorize", Some(&s.token), &body(PIN)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(r.1["error_description"], "The credential is locked");
        assert_untouched(app, &c.id, &[]);
        let (_, info) = app.post("/csc/v2/credentials/info", Some(&s.token), &json!({"credentialID": c.id})).await;
        assert_eq!(info["key"]["status"], "disabled");
        let events = app.audit_events(&c.id);
        assert_eq!(events.iter().filter(|(e, o)| e == "credential.authorize" && o == "refused").count(), 6);
        assert_eq!(events.iter().filter(|(e, _)| e == "credential.locked").count(), 1);
        let (code, _) = app.cli(&["credential", "unlock", &c.id], "").await;
        assert_eq!(code, 0);
        let r = app.post("/csc/v1/credentials/authorize", Some(&s.token), &body(PIN)).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        assert!(app.audit_events(&c.id).iter().any(|(e, _)| e == "credential.unlocked"));
    }
}

on_both_databases! {
    async fn malformed_and_oversized_bodies(app: TestApp) {
        let (s, c) = setup(app, "alice").await;
        let h = vec![sha256(b"x")];
        let sad = app.authorize(&s, &c.id, &h).await;
        let r = app.post_raw("/csc/v2/signatures/signHash", Some(&s.token), b"{\"credentialID\": ".to_vec()).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let r = app.post_raw("/csc/v2/signatures/signHash", Some(&s.token), b"[1,2,3]".to_vec()).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        // Wrong types.
        let r = app.post("/csc/v1/credentials/authorize", Some(&s.token),
            &json!({"credentialID": c.id, "numSignatures": "1", "hash": b64_all(&h), "PIN": PIN})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(r.1["error_description"], "Missing (or invalid type) integer parameter numSignatures");
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token),
            &json!({"credentialID": 7, "SAD": sad, "hash": b64_all(&h), "signAlgo": ES256})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token),
            &json!({"credentialID": c.id, "SAD": sad, "hash": "not-an-array", "signAlgo": ES256})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token),
            &json!({"credentialID": c.id, "SAD": sad, "hash": b64_all(&h)})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        // Oversized: 2 MiB.
        let big = format!("{{\"credentialID\": \"{}\", \"pad\": \"{}\"}}", c.id, "A".repeat(2 << 20));
        let r = app.post_raw("/csc/v2/signatures/signHash", Some(&s.token), big.into_bytes()).await;
        assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
        // Unknown endpoint.
        let r = app.post("/csc/v2/signatures/nothing", Some(&s.token), &json!({})).await;
        assert_error(&r, StatusCode::NOT_FOUND, "invalid_request");
        assert_untouched(app, &c.id, &[1]);
        // The SAD still works after all that.
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign_body(&c.id, &sad, &h)).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    }
}

on_both_databases! {
    async fn r03_random_reused_and_exhausted_sads(app: TestApp) {
        let (s, c) = setup(app, "alice").await;
        let h = vec![sha256(b"x")];
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token),
            &sign_body(&c.id, "qs_sad_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &h)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let sad = app.authorize(&s, &c.id, &h).await;
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign_body(&c.id, &sad, &h)).await;
        assert_eq!(r.0, StatusCode::OK);
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign_body(&c.id, &sad, &h)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(app.sad_budgets(&c.id), vec![0]);
        assert_eq!(app.signatures_audited(&c.id), 1);
    }
}

on_both_databases! {
    async fn r01_hash_and_count_binding(app: TestApp) {
        let (s, c) = setup(app, "alice").await;
        let (h1, h2, h3) = (sha256(b"1"), sha256(b"2"), sha256(b"3"));
        let sad = app.authorize(&s, &c.id, &[h1.clone(), h2.clone()]).await;
        // A hash not covered, one byte off, more hashes than authorized, another algorithm.
        let mut off = h1.clone();
        off[31] ^= 1;
        for hashes in [vec![h3.clone()], vec![off], vec![h1.clone(), h2.clone(), h3.clone()]] {
            let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign_body(&c.id, &sad, &hashes)).await;
            assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        }
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &json!({
            "credentialID": c.id, "SAD": sad, "hash": [b64(&sha384_of(b"1"))], "signAlgo": "1.2.840.10045.4.3.3"})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_untouched(app, &c.id, &[2]);
        // numSignatures above multisign; hash count not matching numSignatures.
        let small = app.credential_with("alice", "ecdsa-p256", 1, "pin", 2).await;
        let r = app.post("/csc/v1/credentials/authorize", Some(&s.token), &json!({
            "credentialID": small.id, "numSignatures": 3, "hash": b64_all(&[h1.clone(), h2.clone(), h3.clone()]), "PIN": PIN})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(r.1["error_description"], "Invalid parameter numSignatures");
        let r = app.post("/csc/v1/credentials/authorize", Some(&s.token), &json!({
            "credentialID": small.id, "numSignatures": 1, "hash": b64_all(&[h1, h2]), "PIN": PIN})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_untouched(app, &small.id, &[]);
    }
}

fn sha384_of(data: &[u8]) -> Vec<u8> {
    digest(openssl::hash::MessageDigest::sha384(), data)
}

on_both_databases! {
    async fn r04_expired_sad(app: TestApp) {
        let (s, c) = setup(app, "alice").await;
        let h = vec![sha256(b"x")];
        let sad = app.authorize(&s, &c.id, &h).await;
        app.clock.advance_ms(301_000);
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign_body(&c.id, &sad, &h)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(r.1["error_description"], "SAD expired");
        assert_untouched(app, &c.id, &[1]);
    }
}

on_both_databases! {
    async fn algorithm_and_encoding_refusals(app: TestApp) {
        let (s, c) = setup(app, "alice").await;
        let h = vec![sha256(b"x")];
        let sad = app.authorize(&s, &c.id, &h).await;
        let cases = [
            // Unknown hash algorithm.
            (json!({"credentialID": c.id, "SAD": sad, "hash": b64_all(&h), "hashAlgo": "1.2.3.4.5", "signAlgo": "1.2.840.10045.2.1"}), "Invalid parameter hashAlgorithmOID"),
            // A signature algorithm the key cannot do (RSA on an EC key), and an unknown one.
            (json!({"credentialID": c.id, "SAD": sad, "hash": b64_all(&h), "signAlgo": "1.2.840.113549.1.1.11"}), "signAlgo is not supported by the credential's key"),
            (json!({"credentialID": c.id, "SAD": sad, "hash": b64_all(&h), "signAlgo": "1.2.3.4"}), "Invalid parameter signAlgo"),
            (json!({"credentialID": c.id, "SAD": sad, "hash": b64_all(&h), "signAlgo": "nonsense"}), "Invalid parameter signAlgo"),
            // Not base64.
            (json!({"credentialID": c.id, "SAD": sad, "hash": ["***"], "signAlgo": ES256}), "Invalid parameter hash"),
            // Wrong digest length for SHA-256.
            (json!({"credentialID": c.id, "SAD": sad, "hash": [b64(&[7u8; 31])], "signAlgo": ES256}), "Invalid digest value length"),
            (json!({"credentialID": c.id, "SAD": sad, "hash": [b64(&h[0]), b64(&h[0])], "signAlgo": ES256}), "the same hash appears twice"),
            (json!({"credentialID": c.id, "SAD": sad, "hash": b64_all(&h), "signAlgo": ES256, "operationMode": "A"}), "Asynchronous operation mode is not supported"),
        ];
        for (body, description) in cases {
            let r = app.post("/csc/v2/signatures/signHash", Some(&s.token), &body).await;
            assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
            assert_eq!(r.1["error_description"], description, "{body}");
        }
        assert_untouched(app, &c.id, &[1]);
    }
}

on_both_databases! {
    async fn r15_disabled_credential_kills_its_sads(app: TestApp) {
        let (s, c) = setup(app, "alice").await;
        let h = vec![sha256(b"x")];
        let sad = app.authorize(&s, &c.id, &h).await;
        let (code, _) = app.cli(&["credential", "disable", &c.id], "").await;
        assert_eq!(code, 0);
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign_body(&c.id, &sad, &h)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        let r = app.post("/csc/v1/credentials/authorize", Some(&s.token),
            &json!({"credentialID": c.id, "numSignatures": 1, "hash": b64_all(&h), "PIN": PIN})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(r.1["error_description"], "The credential is disabled");
        let (code, _) = app.cli(&["credential", "enable", &c.id], "").await;
        assert_eq!(code, 0);
        // Enabling again does not revive the old SAD.
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign_body(&c.id, &sad, &h)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_untouched(app, &c.id, &[1]);
    }
}

on_both_databases! {
    async fn r03_fifty_parallel_spends_of_one_hash(app: TestApp) {
        let (s, c) = setup(app, "alice").await;
        let h = vec![sha256(b"only once")];
        let sad = app.authorize(&s, &c.id, &h).await;
        let body = sign_body(&c.id, &sad, &h);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (client, url, token, body) = (
                app.client.clone(),
                format!("{}/csc/v1/signatures/signHash", app.base),
                s.token.clone(),
                body.clone(),
            );
            tasks.spawn(async move {
                client.post(url).bearer_auth(token).json(&body).send().await.unwrap().status()
            });
        }
        let mut ok = 0;
        let mut refused = 0;
        while let Some(status) = tasks.join_next().await {
            match status.unwrap() {
                StatusCode::OK => ok += 1,
                StatusCode::BAD_REQUEST => refused += 1,
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!((ok, refused), (1, 49));
        assert_eq!(app.sad_budgets(&c.id), vec![0]);
        assert_eq!(app.signatures_audited(&c.id), 1);
    }
}

on_both_databases! {
    async fn r17_expired_certificate_is_not_used(app: TestApp) {
        let (s, c) = setup(app, "alice").await;
        let h = vec![sha256(b"x")];
        app.authorize(&s, &c.id, &h).await;
        // Two years and a day later the signer certificate has expired.
        app.clock.advance_ms(731 * 86_400_000);
        let s = app.login("alice").await;
        let r = app.post("/csc/v1/credentials/authorize", Some(&s.token),
            &json!({"credentialID": c.id, "numSignatures": 1, "hash": b64_all(&h), "PIN": PIN})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(r.1["error_description"], "The credential's certificate is not valid");
        let (_, info) = app.post("/csc/v2/credentials/info", Some(&s.token), &json!({"credentialID": c.id})).await;
        assert_eq!(info["cert"]["status"], "expired");
        assert_untouched(app, &c.id, &[1]);
    }
}
