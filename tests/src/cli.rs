//! Operator commands against a data folder the server is using at the same time.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;
use crate::on_both_databases;

on_both_databases! {
    async fn operator_commands_while_serving(app: TestApp) {
        let (code, out) = app.cli(&["user", "add", "olga", "--password-stdin"], PASSWORD).await;
        assert_eq!(code, 0, "{out}");
        let (code, out) = app.cli(&["user", "list"], "").await;
        assert_eq!(code, 0);
        assert!(out.contains("olga"));
        let (code, out) = app.cli(
            &["credential", "create", "--user", "olga", "--key", "rsa-2048", "--scal", "2", "--auth", "pin", "--pin-stdin", "--multisign", "10", "--json"],
            PIN,
        ).await;
        assert_eq!(code, 0, "{out}");
        let created: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let id = created["credentialID"].as_str().unwrap();
        assert!(created["otpauth"].is_null());
        // Refusals of the command line: unknown key kind, unknown user, weak PIN.
        for (args, stdin) in [
            (vec!["credential", "create", "--user", "olga", "--key", "rsa-1024", "--pin-stdin"], PIN),
            (vec!["credential", "create", "--user", "nobody", "--key", "ecdsa-p256", "--pin-stdin"], PIN),
            (vec!["credential", "create", "--user", "olga", "--key", "ecdsa-p256", "--pin-stdin"], "12"),
            (vec!["user", "add", "olga", "--password-stdin"], PASSWORD),
        ] {
            let (code, out) = app.cli(&args, stdin).await;
            assert_ne!(code, 0, "{args:?} must fail: {out}");
        }
        let s = app.login("olga").await;
        let (status, info) = app.post("/csc/v1/credentials/info", Some(&s.token),
            &json!({"credentialID": id, "certificates": "chain", "certInfo": false})).await;
        assert_eq!(status, StatusCode::OK, "{info}");
        assert_eq!(info["SCAL"], "2");
        assert_eq!(info["multisign"], 10);
        assert_eq!(info["key"]["len"], 2048);
        let (code, pem) = app.cli(&["ca", "root"], "").await;
        assert_eq!(code, 0);
        let root = openssl::x509::X509::from_pem(pem.as_bytes()).unwrap();
        let leaf = openssl::x509::X509::from_der(&unb64(&info["cert"]["certificates"][0])).unwrap();
        let issuing = openssl::x509::X509::from_der(&unb64(&info["cert"]["certificates"][1])).unwrap();
        assert!(issuing.verify(&root.public_key().unwrap()).unwrap());
        assert!(leaf.verify(&issuing.public_key().unwrap()).unwrap());
        let (code, out) = app.cli(&["credential", "list", "--json"], "").await;
        assert_eq!(code, 0);
        assert!(out.contains(id));
    }
}
