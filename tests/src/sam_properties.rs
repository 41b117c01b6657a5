//! What the SAM guarantees even against its own database rows: a SAD cannot be minted or
//! altered there (R6), a credential cannot be moved to another user (R10), and no signature is
//! made when the audit log cannot be written (R22).

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;
use crate::on_both_databases;

const ES256: &str = "1.2.840.10045.4.3.2";

on_both_databases! {
    async fn r06_sad_rows_cannot_be_forged_or_altered(app: TestApp) {
        app.user("alice").await;
        let s = app.login("alice").await;
        let c = app.credential("alice", "ecdsa-p256", 1, "pin").await;
        let h = vec![sha256(b"x")];
        let sad = app.authorize(&s, &c.id, &h).await;
        let sign = |sad: &str| json!({"credentialID": c.id, "SAD": sad, "hash": b64_all(&h), "signAlgo": ES256});

        // Raise the budget of the real SAD in the database: its MAC no longer matches.
        assert_eq!(app.sql(&format!("UPDATE sads SET num_signatures = 2, remaining = 2 WHERE credential_id = '{}'", c.id)), 1);
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign(&sad)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(app.sql(&format!("UPDATE sads SET num_signatures = 1, remaining = 1 WHERE credential_id = '{}'", c.id)), 1);

        // Mint a SAD from rows alone: copy the real row under a token the forger knows.
        let forged = "qs_sad_forgedforgedforgedforgedforgedforged0";
        let forged_hash = hex::encode(sam::secret_hash(&secrecy::SecretString::from(forged.to_owned())));
        let blob = |hex: &str| match app.database {
            migrations::Database::Sqlite(_) => format!("X'{hex}'"),
            migrations::Database::Postgres(_) => format!("'\\x{hex}'::bytea"),
        };
        app.sql(&format!(
            "INSERT INTO sads (id, hash, user_id, credential_id, session_id, hash_alg, num_signatures, remaining, pinned, expires_at, revoked, mac, created_at) \
             SELECT 'sad-forged', {}, user_id, credential_id, session_id, hash_alg, num_signatures, remaining, pinned, expires_at, revoked, mac, created_at FROM sads WHERE credential_id = '{}'",
            blob(&forged_hash), c.id));
        app.sql(&format!("INSERT INTO sad_hashes (sad_id, digest, spent) VALUES ('sad-forged', {}, false)", blob(&hex::encode(&h[0]))));
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token), &sign(forged)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        // Add a hash to the real SAD's set: refused too.
        let extra = sha256(b"smuggled");
        app.sql(&format!("INSERT INTO sad_hashes (sad_id, digest, spent) SELECT id, {}, false FROM sads WHERE credential_id = '{}' AND id <> 'sad-forged'", blob(&hex::encode(&extra)), c.id));
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token),
            &json!({"credentialID": c.id, "SAD": sad, "hash": [b64(&extra)], "signAlgo": ES256})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(app.signatures_audited(&c.id), 0);
        let events = app.audit_events(&c.id);
        assert!(events.iter().filter(|(e, o)| e == "signature.authorize" && o == "refused").count() >= 3);
    }
}

on_both_databases! {
    async fn r10_credential_moved_to_another_user_is_refused(app: TestApp) {
        app.user("alice").await;
        let bob_id = app.user("bob").await;
        let bob = app.login("bob").await;
        let c = app.credential("alice", "ecdsa-p256", 1, "pin").await;
        app.sql(&format!("UPDATE credentials SET user_id = '{bob_id}' WHERE id = '{}'", c.id));
        let h = vec![sha256(b"x")];
        let r = app.post("/csc/v1/credentials/authorize", Some(&bob.token),
            &json!({"credentialID": c.id, "numSignatures": 1, "hash": b64_all(&h), "PIN": PIN})).await;
        assert_error(&r, StatusCode::INTERNAL_SERVER_ERROR, "server_error");
        assert!(app.audit_events(&c.id).iter().any(|(e, o)| e == "credential.authorize" && o == "refused"));
        assert!(app.sad_budgets(&c.id).is_empty());
    }
}

on_both_databases! {
    async fn r22_no_signature_when_the_audit_log_cannot_be_written(app: TestApp) {
        app.user("alice").await;
        let s = app.login("alice").await;
        let c = app.credential("alice", "ecdsa-p256", 1, "pin").await;
        let h = vec![sha256(b"x")];
        let sad = app.authorize(&s, &c.id, &h).await;
        app.sql("ALTER TABLE audit_log RENAME TO audit_log_away");
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token),
            &json!({"credentialID": c.id, "SAD": sad, "hash": b64_all(&h), "signAlgo": ES256})).await;
        assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
        assert!(r.1.get("signatures").is_none());
        app.sql("ALTER TABLE audit_log_away RENAME TO audit_log");
        assert_eq!(app.sad_budgets(&c.id), vec![1], "the spend rolled back with the audit record");
        // With the log back, the same SAD signs.
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token),
            &json!({"credentialID": c.id, "SAD": sad, "hash": b64_all(&h), "signAlgo": ES256})).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    }
}

on_both_databases! {
    async fn r21_audit_holds_events_and_no_secrets(app: TestApp) {
        app.user("alice").await;
        let s = app.login("alice").await;
        let c = app.credential("alice", "ecdsa-p256", 1, "pin+totp").await;
        let seed = otpauth_secret(c.otpauth.as_deref().unwrap());
        let code = format!("{:06}", sam::factors::totp_code(&seed, sam::Clock::now_s(&app.clock) / 30).unwrap());
        let h = vec![sha256(b"x")];
        let (status, out) = app.post("/csc/v1/credentials/authorize", Some(&s.token),
            &json!({"credentialID": c.id, "numSignatures": 1, "hash": b64_all(&h), "PIN": PIN, "OTP": code})).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        let sad = out["SAD"].as_str().unwrap().to_owned();
        let r = app.post("/csc/v1/signatures/signHash", Some(&s.token),
            &json!({"credentialID": c.id, "SAD": sad, "hash": b64_all(&h), "signAlgo": ES256})).await;
        assert_eq!(r.0, StatusCode::OK);
        let events = app.audit_events(&c.id);
        for expected in ["key.generated", "credential.created", "credential.authorize", "sad.issued", "signature.authorize"] {
            assert_eq!(events.iter().filter(|(e, o)| e == expected && o == "ok").count(), 1, "{expected}: {events:?}");
        }
        let mut conn = app.db();
        let mut all = String::new();
        let mut after: Option<(String, i64)> = None;
        loop {
            let page = migrations::queries::audit::page(&mut conn, after.as_ref().map(|(c, s)| (c.as_str(), *s)), 500).unwrap();
            let Some(last) = page.last() else { break };
            after = Some((last.chain_id.clone(), last.seq));
            for r in page {
                all.push_str(&format!("{} {} {} {:?} {:?} {}\n", r.event, r.actor, r.outcome, r.credential_id, r.sad_ref, r.detail));
            }
        }
        assert!(all.contains("auth.login"));
        for secret in [PIN, PASSWORD, code.as_str(), s.token.as_str(), sad.as_str(), &sad["qs_sad_".len()..]] {
            assert!(!all.contains(secret), "the audit log holds a secret");
        }
    }
}
