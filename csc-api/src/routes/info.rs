//! `info`: what this service implements, and nothing it does not.

use actix_web::{HttpResponse, web};

use super::Version;
use crate::server::AppState;

/// The methods this service implements (CSC names).
pub const METHODS: &[&str] = &[
    "info",
    "auth/login",
    "auth/revoke",
    "credentials/list",
    "credentials/info",
    "credentials/authorize",
    "credentials/extendTransaction",
    "signatures/signHash",
];

pub async fn info(state: web::Data<AppState>, version: web::Data<Version>) -> HttpResponse {
    let backend = state.sam.backend();
    let mut algos: Vec<String> = Vec::new();
    for kind in backend.key_kinds {
        for oid in kind.sign_algo_oids() {
            let s = oid.to_string();
            if !algos.contains(&s) && oid != signer::alg::oid::ED25519 {
                algos.push(s);
            }
        }
    }
    let (specs, auth_type) = match **version {
        Version::V1 => ("1.0.4.0", serde_json::json!(["basic"])),
        Version::V2 => ("2.0.0.2", serde_json::json!(["basic"])),
    };
    HttpResponse::Ok().json(serde_json::json!({
        "specs": specs,
        "name": "qsign (NOT QUALIFIED: development CA and software keystore)",
        "logo": "",
        "region": "EU",
        "lang": "en-US",
        "description": "qsign remote signing service. This instance uses a development CA and a \
                        software keystore: its signatures are NOT QUALIFIED.",
        "authType": auth_type,
        "methods": METHODS,
        "asynchronousOperationMode": false,
        "validationInfo": false,
        "signAlgorithms": { "algos": algos },
    }))
}
