//! The OAuth2-style front door: `auth/login` (HTTP Basic → bearer token, `rememberMe` → refresh
//! token), `auth/revoke`, and the bearer-token check every other endpoint goes through.
//! Tokens are random, prefixed, and stored only as SHA-256 hashes.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use migrations::DbConnection;
use migrations::models::Token;
use migrations::queries::{self, QueryResult};
use sam::{
    ACCESS_TOKEN_PREFIX, AuditEvent, Outcome, REFRESH_TOKEN_PREFIX, Sam, SamError, new_id,
    new_secret, secret_hash,
};
use secrecy::{ExposeSecret, SecretString};

use crate::body::Body;
use crate::error::ApiError;
use crate::server::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    /// The login session the token belongs to: SADs are bound to it.
    pub session_id: String,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or(ApiError::Internal)?;
            let header = header.ok_or(ApiError::MissingToken)?;
            let token = header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .ok_or(ApiError::MissingToken)?
                .trim();
            if !token.starts_with(ACCESS_TOKEN_PREFIX) {
                return Err(ApiError::InvalidToken);
            }
            let hash = secret_hash(&SecretString::from(token.to_owned()));
            let now_ms = state.sam.clock().now_ms();
            if let Some(caller) = state.tokens.get(&hash, now_ms) {
                return Ok(caller);
            }
            let row = lookup_token(&state.sam, hash.clone()).await?;
            match row {
                Some(t) if t.kind == "access" && !t.revoked && t.expires_at * 1000 > now_ms => {
                    let caller = Caller {
                        user_id: t.user_id,
                        session_id: t.session_id,
                    };
                    state
                        .tokens
                        .put(hash, caller.clone(), t.expires_at * 1000, now_ms);
                    Ok(caller)
                }
                _ => Err(ApiError::InvalidToken),
            }
        })
    }
}

/// Recently checked access tokens, for a short time: a hot signing client does not pay a
/// database read per request. Revocation in this process drops the session's entries at once;
/// another replica's revocation is seen within [`TokenCache::TTL_MS`]. The SADs of a revoked
/// session die in the database immediately either way.
#[derive(Default)]
pub struct TokenCache {
    entries: std::sync::Mutex<std::collections::HashMap<Vec<u8>, (Caller, i64)>>,
}

impl TokenCache {
    pub const TTL_MS: i64 = 2000;
    const MAX_ENTRIES: usize = 100_000;

    fn get(&self, hash: &[u8], now_ms: i64) -> Option<Caller> {
        let entries = self.entries.lock().ok()?;
        match entries.get(hash) {
            Some((caller, until)) if *until > now_ms => Some(caller.clone()),
            _ => None,
        }
    }

    fn put(&self, hash: Vec<u8>, caller: Caller, token_expiry_ms: i64, now_ms: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= Self::MAX_ENTRIES {
                entries.retain(|_, (_, until)| *until > now_ms);
                if entries.len() >= Self::MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(hash, (caller, token_expiry_ms.min(now_ms + Self::TTL_MS)));
        }
    }

    fn forget_session(&self, session_id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (c, _)| c.session_id != session_id);
        }
    }
}

async fn lookup_token(sam: &Sam, hash: Vec<u8>) -> Result<Option<Token>, ApiError> {
    with_conn(sam, move |c| queries::tokens::by_hash(c, &hash)).await
}

/// Runs a query of the front end's own tables on a pooled connection, off the async threads.
async fn with_conn<T, F>(sam: &Sam, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
{
    let pool = sam.pool().clone();
    web::block(move || {
        let mut conn = pool.get().map_err(|e| SamError::Database(e.to_string()))?;
        f(&mut conn).map_err(SamError::from)
    })
    .await
    .map_err(|_| ApiError::Internal)?
    .map_err(ApiError::from)
}

fn basic_credentials(req: &HttpRequest) -> Option<(String, SecretString)> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = zeroize::Zeroizing::new(STANDARD.decode(encoded.trim()).ok()?);
    let text = std::str::from_utf8(&decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), SecretString::from(password.to_owned())))
}

/// `auth/login`: HTTP Basic, or a `refresh_token` in the body.
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let sam = &state.sam;
    let remember = body.opt_bool("rememberMe")?.unwrap_or(false);
    let now = sam.clock().now_s();

    if let Some(refresh) = body.opt_secret(&["refresh_token"])? {
        let row = lookup_token(sam, secret_hash(&refresh)).await?;
        let Some(row) = row.filter(|t| t.kind == "refresh" && !t.revoked && t.expires_at > now)
        else {
            sam.record(
                AuditEvent::new("auth.refresh", "anonymous", Outcome::Refused)
                    .detail("reason", "invalid_refresh_token"),
            )
            .await?;
            return Err(ApiError::InvalidToken);
        };
        let access = issue(&state, &row.user_id, &row.session_id, "access", now).await?;
        sam.record(
            AuditEvent::new("auth.refresh", format!("user:{}", row.user_id), Outcome::Ok)
                .detail("session", row.session_id.clone()),
        )
        .await?;
        return Ok(HttpResponse::Ok().json(serde_json::json!({
            "access_token": access.expose_secret(),
            "token_type": "Bearer",
            "expires_in": state.access_token_lifetime_s,
        })));
    }

    let Some((name, password)) = basic_credentials(&req) else {
        return Err(ApiError::MissingParam {
            name: "Authorization",
            kind: "HTTP Basic",
        });
    };
    let user = sam.check_password(&name, password).await?;
    let Some(user) = user else {
        sam.record(
            AuditEvent::new("auth.login", "anonymous", Outcome::Refused)
                .detail("user", name)
                .detail("reason", "bad_credentials"),
        )
        .await?;
        return Err(ApiError::BadLogin);
    };
    let session = new_id("sess-", 12);
    let access = issue(&state, &user.id, &session, "access", now).await?;
    let refresh = if remember {
        Some(issue(&state, &user.id, &session, "refresh", now).await?)
    } else {
        None
    };
    sam.record(
        AuditEvent::new("auth.login", format!("user:{}", user.id), Outcome::Ok)
            .detail("user", user.name.clone())
            .detail("session", session.clone())
            .detail("remember_me", remember),
    )
    .await?;
    let mut out = serde_json::json!({
        "access_token": access.expose_secret(),
        "token_type": "Bearer",
        "expires_in": state.access_token_lifetime_s,
    });
    if let (Some(r), Some(obj)) = (refresh, out.as_object_mut()) {
        obj.insert("refresh_token".into(), r.expose_secret().into());
    }
    Ok(HttpResponse::Ok().json(out))
}

async fn issue(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    kind: &'static str,
    now: i64,
) -> Result<SecretString, ApiError> {
    let (prefix, lifetime) = match kind {
        "refresh" => (REFRESH_TOKEN_PREFIX, state.refresh_token_lifetime_s),
        _ => (ACCESS_TOKEN_PREFIX, state.access_token_lifetime_s),
    };
    let secret = new_secret(prefix);
    let row = Token {
        hash: secret_hash(&secret),
        kind: kind.to_owned(),
        user_id: user_id.to_owned(),
        session_id: session_id.to_owned(),
        expires_at: now + lifetime,
        revoked: false,
        created_at: now,
    };
    with_conn(&state.sam, move |c| queries::tokens::insert(c, &row)).await?;
    Ok(secret)
}

/// `auth/revoke`: revokes the given token (default: the caller's own) and with it the whole
/// login session: its other tokens and its outstanding SADs.
pub async fn revoke(
    caller: Caller,
    state: web::Data<AppState>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let sam = &state.sam;
    let session = match body.opt_secret(&["token"])? {
        None => caller.session_id.clone(),
        Some(token) => {
            let row = lookup_token(sam, secret_hash(&token)).await?;
            match row {
                Some(t) if t.user_id == caller.user_id => t.session_id,
                _ => return Err(ApiError::InvalidParam("token")),
            }
        }
    };
    let s = session.clone();
    with_conn(sam, move |c| queries::tokens::revoke_session(c, &s)).await?;
    state.tokens.forget_session(&session);
    sam.revoke_session_sads(&session, &format!("user:{}", caller.user_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
