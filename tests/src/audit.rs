//! The audit chain: `qsign audit verify` passes on an untouched log and names the first record
//! that was altered or removed (R22).

use serde_json::json;

use crate::harness::*;
use crate::on_both_databases;

on_both_databases! {
    async fn r22_tampered_audit_record_is_named(app: TestApp) {
        app.user("alice").await;
        let s = app.login("alice").await;
        let c = app.credential("alice", "ecdsa-p256", 1, "pin").await;
        let h = vec![sha256(b"x")];
        let sad = app.authorize(&s, &c.id, &h).await;
        let (status, _) = app.post("/csc/v1/signatures/signHash", Some(&s.token),
            &json!({"credentialID": c.id, "SAD": sad, "hash": b64_all(&h), "signAlgo": "1.2.840.10045.4.3.2"})).await;
        assert_eq!(status, reqwest::StatusCode::OK);
        let (code, out) = app.cli(&["audit", "verify"], "").await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("intact"), "{out}");

        // Rewrite history: the signature record now claims another hash.
        let mut conn = app.db();
        let rows = migrations::queries::audit::for_credential(&mut conn, &c.id).unwrap();
        let target = rows.iter().find(|r| r.event == "signature.authorize").unwrap();
        let changed = app.sql(&format!(
            "UPDATE audit_log SET detail = REPLACE(detail, '{}', '{}') WHERE chain_id = '{}' AND seq = {}",
            hex::encode(&h[0]), hex::encode(sha256(b"other")), target.chain_id, target.seq));
        assert_eq!(changed, 1);
        let (code, out) = app.cli(&["audit", "verify"], "").await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(&format!("chain {} record {}", target.chain_id, target.seq)), "{out}");

        // Put it back, then delete a record in the middle of the chain instead.
        app.sql(&format!(
            "UPDATE audit_log SET detail = REPLACE(detail, '{}', '{}') WHERE chain_id = '{}' AND seq = {}",
            hex::encode(sha256(b"other")), hex::encode(&h[0]), target.chain_id, target.seq));
        let (code, _) = app.cli(&["audit", "verify"], "").await;
        assert_eq!(code, 0);
        app.sql(&format!("DELETE FROM audit_log WHERE chain_id = '{}' AND seq = {}", target.chain_id, target.seq - 1));
        let (code, out) = app.cli(&["audit", "verify"], "").await;
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(&format!("chain {} record {}", target.chain_id, target.seq)), "{out}");
    }
}
