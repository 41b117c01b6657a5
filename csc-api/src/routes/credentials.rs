//! `credentials/list`, `credentials/info`, `credentials/authorize`,
//! `credentials/extendTransaction`.

use actix_web::{HttpResponse, web};
use sam::{AuthMode, AuthorizeRequest, CredentialInfo, CredentialStatus};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::body::{Body, encode_b64};
use crate::error::ApiError;
use crate::server::AppState;

/// How many certificates `credentials/info` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Certificates {
    None,
    Single,
    Chain,
}

fn certificates_param(body: &Body) -> Result<Certificates, ApiError> {
    match body.opt_str(&["certificates"])?.as_deref() {
        None | Some("single") => Ok(Certificates::Single),
        Some("none") => Ok(Certificates::None),
        Some("chain") => Ok(Certificates::Chain),
        Some(_) => Err(ApiError::InvalidParam("certificates")),
    }
}

fn describe(
    c: &CredentialInfo,
    certs: Certificates,
    cert_info: bool,
    auth_info: bool,
    now_s: i64,
) -> Value {
    let mut key = json!({
        "status": match c.status {
            CredentialStatus::Enabled => "enabled",
            CredentialStatus::Disabled | CredentialStatus::Locked => "disabled",
        },
        "algo": c.key.sign_algo_oids().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "len": c.key.bits(),
    });
    if let (Some(curve), Some(obj)) = (c.key.curve_oid(), key.as_object_mut()) {
        obj.insert("curve".into(), curve.to_string().into());
    }
    let cert_status = if now_s < c.not_before_s {
        "not_yet_valid"
    } else if now_s >= c.not_after_s {
        "expired"
    } else {
        "valid"
    };
    let mut cert = json!({ "status": cert_status });
    if let Some(obj) = cert.as_object_mut() {
        let list: Vec<String> = match certs {
            Certificates::None => Vec::new(),
            Certificates::Single => c
                .certificates
                .iter()
                .take(1)
                .map(|d| encode_b64(d))
                .collect(),
            Certificates::Chain => c.certificates.iter().map(|d| encode_b64(d)).collect(),
        };
        if certs != Certificates::None {
            obj.insert("certificates".into(), list.into());
        }
        if cert_info {
            obj.insert("issuerDN".into(), c.issuer_dn.clone().into());
            obj.insert("serialNumber".into(), c.serial_hex.clone().into());
            obj.insert("subjectDN".into(), c.subject_dn.clone().into());
            obj.insert("validFrom".into(), c.valid_from.clone().into());
            obj.insert("validTo".into(), c.valid_to.clone().into());
        }
    }
    let mut out = json!({
        "description": c.description,
        "key": key,
        "cert": cert,
        "authMode": "explicit",
        "SCAL": c.scal.to_string(),
        "multisign": c.multisign,
        "lang": "en-US",
    });
    if let Some(obj) = out.as_object_mut()
        && auth_info
    {
        obj.insert(
            "PIN".into(),
            json!({ "presence": "true", "format": "A", "label": "PIN",
                    "description": "The signing PIN of this credential" }),
        );
        let mut objects = vec![json!({ "type": "Password", "id": "PIN", "format": "A",
                                       "label": "PIN" })];
        if c.auth == AuthMode::PinTotp {
            obj.insert(
                "OTP".into(),
                json!({ "presence": "true", "type": "offline", "format": "N", "ID": "TOTP",
                        "provider": "qsign", "label": "OTP",
                        "description": "The 6-digit code of the enrolled authenticator app" }),
            );
            objects.push(json!({ "type": "Password", "id": "OTP", "format": "N",
                                 "generator": "totp", "label": "OTP" }));
        }
        let expression = if c.auth == AuthMode::PinTotp {
            "PIN AND OTP"
        } else {
            "PIN"
        };
        obj.insert(
            "auth".into(),
            json!({ "mode": "explicit", "expression": expression, "objects": objects }),
        );
    }
    out
}

pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    if let Some(user) = body.opt_str(&["userID"])? {
        // A user-scoped token lists its own credentials only.
        if user != caller.user_id {
            return Err(ApiError::InvalidParam("userID"));
        }
    }
    let with_info = body.opt_bool("credentialInfo")?.unwrap_or(false);
    let certs = certificates_param(&body)?;
    let cert_info = body.opt_bool("certInfo")?.unwrap_or(false);
    let auth_info = body.opt_bool("authInfo")?.unwrap_or(false);
    let max = match body.opt_int("maxResults")? {
        None => usize::MAX,
        Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
        Some(_) => return Err(ApiError::InvalidParam("maxResults")),
    };
    let start = match body.opt_str(&["pageToken"])? {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| ApiError::InvalidParam("pageToken"))?,
    };
    let all = state.sam.list_credentials(&caller.user_id).await?;
    let now = state.sam.clock().now_s();
    let page: Vec<&CredentialInfo> = all.iter().skip(start).take(max).collect();
    let mut out = json!({
        "credentialIDs": page.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
    });
    if let Some(obj) = out.as_object_mut() {
        if with_info {
            let infos: Vec<Value> = page
                .iter()
                .map(|c| {
                    let mut v = describe(c, certs, cert_info, auth_info, now);
                    if let Some(o) = v.as_object_mut() {
                        o.insert("credentialID".into(), c.id.clone().into());
                    }
                    v
                })
                .collect();
            obj.insert("credentialInfos".into(), infos.into());
        }
        if start.saturating_add(page.len()) < all.len() {
            obj.insert(
                "nextPageToken".into(),
                (start + page.len()).to_string().into(),
            );
        }
    }
    Ok(HttpResponse::Ok().json(out))
}

pub async fn info(
    caller: Caller,
    state: web::Data<AppState>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let id = body.req_str(&["credentialID"])?;
    let certs = certificates_param(&body)?;
    let cert_info = body.opt_bool("certInfo")?.unwrap_or(false);
    let auth_info = body.opt_bool("authInfo")?.unwrap_or(true);
    let c = state.sam.credential_info(&caller.user_id, &id).await?;
    let now = state.sam.clock().now_s();
    Ok(HttpResponse::Ok().json(describe(&c, certs, cert_info, auth_info, now)))
}

pub async fn authorize(
    caller: Caller,
    state: web::Data<AppState>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let credential_id = body.req_str(&["credentialID"])?;
    let num_signatures = body.req_int("numSignatures")?;
    let hashes = body.hashes(false)?;
    let hash_algo = body.opt_str(&["hashAlgorithmOID", "hashAlgo"])?;
    let pin = body.auth_factor("PIN")?;
    let otp = body.auth_factor("OTP")?;
    let issued = state
        .sam
        .authorize(AuthorizeRequest {
            user_id: caller.user_id,
            session_id: caller.session_id,
            credential_id,
            num_signatures,
            hashes,
            hash_algo,
            pin,
            otp,
        })
        .await?;
    metrics::counter!("qsign_sads_issued_total").increment(1);
    Ok(HttpResponse::Ok().json(json!({
        "SAD": issued.sad.expose_secret(),
        "expiresIn": issued.expires_in,
    })))
}

pub async fn extend_transaction(
    caller: Caller,
    state: web::Data<AppState>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let credential_id = body.req_str(&["credentialID"])?;
    let sad = body.req_secret("SAD")?;
    let issued = state
        .sam
        .extend_transaction(&caller.user_id, &caller.session_id, &credential_id, sad)
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "SAD": issued.sad.expose_secret(),
        "expiresIn": issued.expires_in,
    })))
}
