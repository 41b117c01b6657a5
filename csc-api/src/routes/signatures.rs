//! `signatures/signHash`: the SAM spends the SAD, then signs; signatures come back in the order
//! and number of the hashes.

use actix_web::{HttpResponse, web};
use sam::SignHashRequest;
use serde_json::json;

use crate::auth::Caller;
use crate::body::{Body, encode_b64};
use crate::error::ApiError;
use crate::server::AppState;

pub async fn sign_hash(
    caller: Caller,
    state: web::Data<AppState>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let credential_id = body.req_str(&["credentialID"])?;
    let sad = body.req_secret("SAD")?;
    let hashes = body.hashes(true)?;
    let hash_algo = body.opt_str(&["hashAlgorithmOID", "hashAlgo"])?;
    let sign_algo = body.req_str(&["signAlgo"])?;
    let sign_algo_params = body.opt_b64(&["signAlgoParams"])?;
    match body.opt_str(&["operationMode"])?.as_deref() {
        None | Some("S") => {}
        Some("A") => return Err(ApiError::Unsupported("Asynchronous operation mode")),
        Some(_) => return Err(ApiError::InvalidParam("operationMode")),
    }
    let count = hashes.len();
    let activation = state
        .sam
        .activate(SignHashRequest {
            user_id: caller.user_id,
            session_id: caller.session_id,
            credential_id,
            sad: Some(sad),
            hash_algo,
            sign_algo,
            sign_algo_params,
            hashes,
        })
        .await?;
    let signatures = activation.sign().await?;
    metrics::counter!("qsign_signatures_total").increment(count as u64);
    Ok(HttpResponse::Ok().json(json!({
        "signatures": signatures.iter().map(|s| encode_b64(s)).collect::<Vec<_>>(),
    })))
}
